"""A workspace on disk: config, profiles, watched folders, where outputs and state go.

crossmedia.toml       folders -> profiles, limits
inbox/<profile>/      watched folders (default)
profiles/             the workspace's own or overriding profiles
pages/  banners/      page and banner files
out/<profile>/...     renditions; out/report.json, out/site/, out/banners/
quarantine/           failed inputs: a copy plus <name>.error.txt
.crossmedia/          state.db (SQLite, WAL), lock, crossmedia.log
"""

from __future__ import annotations

import errno
import functools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from pipeline.atomic import write_bytes_atomic
from pipeline.config.profile import Profile, load_profiles
from pipeline.config.settings import (
    CONFIG_NAME,
    DEFAULT_CONFIG,
    WorkspaceConfig,
    check_folder_profiles,
    load_config,
)
from pipeline.errors import ConfigError, MachineFault
from pipeline.names import is_ignored, safe_name


class Candidate(NamedTuple):
    """A file found in a watched folder, before anything is read from it. (A tuple: a run makes
    one per input, 100,000 in a big workspace, #12.)"""

    rel: str  # workspace-relative POSIX path, exactly as on disk
    profile: str
    size: int
    mtime_ns: int
    sidecar: str | None  # workspace-relative path of `<input>.toml`, if present
    problem: str | None = None  # refused before reading (symlink out of the workspace...)


@dataclass(frozen=True)
class Workspace:
    root: Path
    config: WorkspaceConfig
    profiles: dict[str, Profile]

    @classmethod
    def open(cls, root: Path | str) -> Workspace:
        root = find_root(Path(root).resolve())
        config = load_config(root)
        profiles = load_profiles(root)
        check_folder_profiles(config, profiles, root / CONFIG_NAME)
        return cls(root=root, config=config, profiles=profiles)

    # Paths -------------------------------------------------------------------------------
    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def state(self) -> Path:
        return self.root / ".crossmedia"

    def load_state(self, name: str) -> dict:
        """A build's memory of what it made (.crossmedia/<name>): {} when none or unreadable,
        which makes the build start from scratch rather than fail."""
        try:
            return json.loads((self.state / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def save_state(self, name: str, state: dict) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(self.state / name, self.state_tmp, json.dumps(state, indent=1, sort_keys=True).encode())

    @property
    def tmp(self) -> Path:
        """Temp files are written here, then renamed into out/ (same file system as out/)."""
        return self.out / ".tmp"

    @property
    def state_tmp(self) -> Path:
        """Temp files for quarantine/ and .crossmedia/: on the workspace's own file system, which
        out/ need not share (a mounted publish share); cleared at the start of every run."""
        return self.state / "tmp"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def report_path(self) -> Path:
        return self.out / "report.json"

    def folders(self) -> dict[str, str]:
        """Watched folder (workspace-relative) -> profile name."""
        if self.config.folders:
            return dict(self.config.folders)
        return {f"inbox/{name}": name for name in sorted(self.profiles)}

    def output_dir(self, rel: str, profile: str) -> Path:
        """out/<profile>/<sub folders>/<safe input name>/ for an input; one folder per input, so
        inputs that share a stem (still.avif, still.webp) never overwrite each other."""
        return Path(self.output_folder(rel, profile))

    def output_folder(self, rel: str, profile: str) -> str:
        """`output_dir` as a string: a run asks for every input's, to see that no two inputs
        share one; the part above the input's own folder is worked out once per folder (#12)."""
        parent, _, name = rel.rpartition("/")
        key = (parent, profile)
        above = self._out_parents.get(key)
        if above is None:
            folder = self.folder_of(rel)
            inner = PurePosixPath(parent).relative_to(folder).parts if folder else ()
            above = self._out_parents[key] = str(self.out.joinpath(safe_name(profile), *map(safe_name, inner)))
        return f"{above}/{safe_name(name)}"

    def folder_of(self, rel: str) -> str | None:
        path = PurePosixPath(rel)
        for folder in self._longest_first:
            if path.is_relative_to(folder):
                return folder
        return None

    @functools.cached_property
    def _out_parents(self) -> dict[tuple[str, str], str]:  # (input's folder, profile) -> output_folder's parent
        return {}

    @functools.cached_property
    def _longest_first(self) -> list[str]:  # folder_of runs once per input (W3, #8)
        return sorted(self.folders(), key=len, reverse=True)

    def rel(self, path: Path) -> str:
        return (
            path.resolve().relative_to(self.root).as_posix() if path.is_absolute() else PurePosixPath(path).as_posix()
        )

    def check_writable(self) -> None:
        """MachineFault (exit 2, one line) when out/, quarantine/ or .crossmedia/ cannot be written:
        a fault of this machine, found before any input is read, so none is failed for it (#17:
        good photos were quarantined as "internal error" and stayed failed once it was fixed)."""
        for folder in (self.out, self.quarantine, self.state):
            probe = folder / f".write-test-{os.getpid()}"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as e:
                if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise
                how = "is mounted read-only" if e.errno == errno.EROFS else "is not writable by this user"
                raise MachineFault(
                    f"{self.rel(folder)}/ {how} ({e.strerror}); nothing was processed. Fix: give the user "
                    f"that runs crossmedia write access (e.g. chmod -R u+w {self.rel(folder)}), then run again"
                ) from None

    def looks_changed(self) -> bool:
        """A cheap guess, before any scan: was anything added to, removed from or renamed in a
        watched folder or its direct sub-folders, or the config or a profile changed, since the
        last run wrote its report (or is there none)? A file rewritten in place, or one deeper
        down, is not seen: only for what may be started ahead of need (the fork server, #12)."""
        try:
            since = self.report_path.stat().st_mtime_ns
        except OSError:
            return True
        folders = [self.root / CONFIG_NAME, self.root / "profiles"]
        for folder in self.folders():
            base = self.root / folder
            folders.append(base)
            try:
                with os.scandir(base) as found:
                    folders += [Path(e.path) for e in found if e.is_dir(follow_symlinks=False)]
            except OSError:
                pass
        for path in folders:
            try:
                if path.stat().st_mtime_ns >= since:
                    return True
            except OSError:
                continue
        return False

    # Scanning ----------------------------------------------------------------------------
    def scan(self) -> Iterator[Candidate]:
        """Every input in every watched folder, in a stable order; one stat per file (and no
        Path per file: a no-op run over 100,000 inputs is mostly this scan, #12)."""
        for folder, profile in sorted(self.folders().items()):
            base = self.root / folder
            if base.is_dir():
                yield from self._walk(str(base), folder, profile)

    def _walk(self, directory: str, rel_dir: str, profile: str) -> Iterator[Candidate]:
        # Listed through a descriptor, so that each file's stat walks one name rather than the
        # whole path (an input is ten names deep in a real workspace: W3, #12).
        fd = -1
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            with os.scandir(fd) as found:
                entries = sorted(found, key=_NAME)
        except OSError as e:
            if fd >= 0:
                os.close(fd)
            # Reported as a failed "input" named by the folder, not skipped in silence (#17); it
            # goes when the folder can be read again (and its files are then processed).
            yield Candidate(
                rel_dir,
                profile,
                0,
                0,
                None,
                problem=f"folder cannot be read ({e.strerror}), so its files are not processed; give the user "
                f"that runs crossmedia access to it (e.g. chmod -R u+rX {rel_dir})",
            )
            return
        try:
            yield from self._entries(entries, directory, rel_dir, profile)
        finally:
            os.close(fd)

    def _entries(self, entries: list[os.DirEntry], directory: str, rel_dir: str, profile: str) -> Iterator[Candidate]:
        names = {e.name for e in entries}
        for entry in entries:
            name = entry.name
            if is_ignored(name):
                continue
            rel = f"{rel_dir}/{name}"
            if not rel.isascii():  # most names are, and ASCII encodes: no bytes made per input
                try:
                    rel.encode("utf-8")
                except UnicodeEncodeError:  # bytes that are no UTF-8: cannot go in a report or a page
                    shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                    yield Candidate(shown, profile, 0, 0, None, problem="file name is not valid UTF-8; rename the file")
                    continue
            sidecar = f"{rel}.toml" if f"{name}.toml" in names else None
            if sidecar and not self.inside(self.root / sidecar):
                yield Candidate(
                    rel,
                    profile,
                    0,
                    0,
                    None,
                    problem=f"sidecar {name}.toml is a symbolic link that points outside the workspace; "
                    f"copy the file in instead",
                )
                continue
            if entry.is_symlink():
                yield self._symlink(f"{directory}/{name}", rel, profile, sidecar)
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(f"{directory}/{name}", rel, profile)
                continue
            if not entry.is_file(follow_symlinks=False):
                continue  # sockets, fifos: nothing a delivery contains
            st = entry.stat(follow_symlinks=False)
            yield _new(Candidate, (rel, profile, st.st_size, st.st_mtime_ns, sidecar, None))  # Candidate(...), quicker

    def inside(self, path: Path) -> bool:
        """Does `path`, symbolic links followed, stay in the workspace (and out of .crossmedia/)?
        Checked at scan time and again by the worker right before it reads (the link may change)."""
        target = path.resolve()
        return target.is_relative_to(self.root) and not target.is_relative_to(self.state)

    def _symlink(self, path: str, rel: str, profile: str, sidecar: str | None) -> Candidate:
        target = Path(path).resolve()
        if not self.inside(target):
            return Candidate(
                rel,
                profile,
                0,
                0,
                sidecar,
                problem="symbolic link points outside the workspace; copy the file in instead",
            )
        if not target.is_file():
            return Candidate(rel, profile, 0, 0, sidecar, problem="symbolic link to something that is not a file")
        st = target.stat()
        return Candidate(rel, profile, st.st_size, st.st_mtime_ns, sidecar)


_NAME = attrgetter("name")
_new = tuple.__new__  # a NamedTuple's own __new__ is Python code: 0.05 s per 100,000 inputs


def find_root(start: Path) -> Path:
    """The workspace `start` is in: itself, or the nearest folder above it with a crossmedia.toml,
    as git finds its repository (#17: run from inbox/web/, the CLI suggested `crossmedia init`
    there). `start` itself when none is found, so the error names the folder the user gave."""
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return start


def init_workspace(root: Path, name: str | None = None) -> Path:
    """Create a workspace with a folder per built-in profile; never overwrite an existing config."""
    root = Path(root)
    config = root / CONFIG_NAME
    if config.exists():
        raise ConfigError([f"error: {config} already exists.\n  Fix: edit it, or choose another folder."])
    profiles = load_profiles(None)
    root.mkdir(parents=True, exist_ok=True)
    for sub in ["pages", "banners", "out", "quarantine", "profiles", ".crossmedia"]:
        (root / sub).mkdir(exist_ok=True)
    for profile in sorted(profiles):
        (root / "inbox" / profile).mkdir(parents=True, exist_ok=True)
    folders = "\n".join(f'"inbox/{p}" = "{p}"' for p in sorted(profiles))
    config.write_text(
        DEFAULT_CONFIG.format(name=(name or root.resolve().name).replace('"', ""), folders=folders), encoding="utf-8"
    )
    return root
