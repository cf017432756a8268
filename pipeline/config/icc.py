"""Where ICC profiles are found: a path, the workspace's profiles/, or the system ICC folders."""

from __future__ import annotations

from pathlib import Path

ICC_DIRS = [Path("/usr/share/color/icc"), Path("/usr/local/share/color/icc"), Path.home() / ".local/share/icc"]


def find_icc(name: str, workspace: Path | None = None) -> Path | None:
    """`default_cmyk.icc` -> /usr/share/color/icc/ghostscript/default_cmyk.icc (first match)."""
    if not name:
        return None
    direct = Path(name).expanduser()
    if direct.is_absolute():
        return direct if direct.is_file() else None
    local = [workspace / "profiles", workspace] if workspace else []
    for d in local:
        if (d / name).is_file():
            return d / name
    for d in ICC_DIRS:
        if d.is_dir():
            found = next(iter(sorted(d.rglob(name))), None)
            if found:
                return found
    return None
