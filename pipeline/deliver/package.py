"""`crossmedia deliver`: a package per channel of what is new, then on to where it goes (#16).

out/deliveries/<channel>/<date>-<n>/ holds the files named for the channel, manifest.json (file,
input, sha256, size, dimensions or duration, review state) and a zip of both. It is built in a
folder under out/.tmp and renamed into place when complete, so a package is whole or absent.
What each channel was given is remembered in .crossmedia/deliveries.json (input -> the bytes'
sha256 and the preset's recipe): delivering again with nothing new delivers nothing. The
originals are only read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.batch.lock import workspace_lock
from pipeline.batch.store import Row, Store
from pipeline.config.settings import CONFIG_NAME, DeliverTarget
from pipeline.config.workspace import Workspace
from pipeline.deliver.channels import Channel, check_names, limits_text, load_channels
from pipeline.deliver.make import Made, Refused, copy_into, make
from pipeline.errors import CrossmediaError
from pipeline.names import one_line, safe_stem
from pipeline.review.decisions import PENDING, review_of

log = logging.getLogger("crossmedia")

STATE = "deliveries.json"
COMMAND_TIMEOUT = 3600  # seconds a target command may take (an upload of a big package)


@dataclass
class Delivery:
    """What one channel got in this call."""

    channel: str
    package: str | None = None  # workspace-relative folder, None when nothing was new
    files: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)  # {input, rule}
    target: dict | None = None  # {to | command, exit_code, error}

    def as_dict(self) -> dict:
        return {
            "channel": self.channel,
            "package": self.package,
            "files": self.files,
            "failed": self.failed,
            "target": self.target,
        }


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _since(text: str | None) -> str | None:
    if text is None:
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise CrossmediaError(f"--since {text!r} is not a date like 2026-11-23")
    return text


def _package_name(folder: Path) -> str:
    """<date>-<n>: the next free number of today's packages in the channel's folder."""
    day = time.strftime("%Y-%m-%d")
    taken = [int(m[1]) for p in folder.glob(f"{day}-*") if (m := re.fullmatch(rf"{day}-(\d+)", p.name))]
    return f"{day}-{max(taken, default=0) + 1}"


def _file_name(channel: str, row: Row, made: Made, used: set[str]) -> str:
    """<channel>_<input stem>_<w>x<h>.<ext>, unique in the package."""
    ext = made.path.suffix.lower()
    m = made.measured
    base = f"{channel}_{safe_stem(Path(row.input).name)}_{m['width']}x{m['height']}"
    name, n = f"{base}{ext}", 1
    while name in used:
        n += 1
        name = f"{base}-{n}{ext}"
    used.add(name)
    return name


def deliver(
    ws: Workspace,
    names: list[str],
    *,
    approved_only: bool = False,
    since: str | None = None,
    echo=lambda line: None,
) -> list[Delivery]:
    """Deliver what is new to each named channel; return what each got."""
    channels = load_channels(ws.root)
    check_names(channels, names, list(ws.config.deliver), ws.root / CONFIG_NAME)
    day = _since(since)
    with workspace_lock(ws.state, "deliver"):
        store = Store(ws.state / "state.db")
        try:
            rows = store.items()
        finally:
            store.close()
        reviews = review_of(ws)
        candidates = [
            r
            for r in sorted(rows.values(), key=lambda r: r.input)
            if r.status == "processed" and r.media in ("image", "video") and (day is None or r.updated[:10] >= day)
        ]
        if approved_only:
            approved = [r for r in candidates if reviews.get(r.input, PENDING).state == "approved"]
            if not approved:
                echo(
                    f"no input is approved ({len(candidates)} processed, none with an approved review): "
                    "nothing delivered; approve inputs in the review first, or deliver without --approved-only"
                )
                return [Delivery(name) for name in names]
            candidates = approved
        state = ws.load_state(STATE)
        results = []
        for name in names:
            results.append(_deliver_channel(ws, channels[name], candidates, reviews, state, echo))
        return results


def _deliver_channel(
    ws: Workspace, channel: Channel, candidates: list[Row], reviews: dict, state: dict, echo
) -> Delivery:
    target = ws.config.deliver.get(channel.name) or DeliverTarget()
    recipe = f"{channel.recipe()}-{int(target.cut_long)}"
    given = state.setdefault(channel.name, {}).setdefault("delivered", {})
    todo = [
        r
        for r in candidates
        if ((r.media == "image" and channel.image) or (r.media == "video" and channel.video))
        and given.get(r.input) != {"sha256": r.sha256, "recipe": recipe}
    ]
    result = Delivery(channel.name)
    if not todo:
        echo(f"{channel.name}: nothing new to deliver")
        return result
    folder = ws.out / "deliveries" / channel.name
    build_root = ws.tmp / f"deliver-{uuid.uuid4().hex}"
    try:
        package = _package_name(folder)
        build = build_root / package
        build.mkdir(parents=True)
        used: set[str] = set()
        delivered = {}
        for i, row in enumerate(todo):
            try:
                made = make(ws, channel, row, build_root / f"work-{i}", target.cut_long)
            except Refused as e:
                result.failed.append({"input": row.input, "rule": str(e)})
                continue
            except CrossmediaError as e:  # the source cannot be read or rendered any more
                result.failed.append({"input": row.input, "rule": one_line(e)})
                continue
            for m in made:
                file = _file_name(channel.name, row, m, used)
                copy_into(m, build / file)
                entry = {
                    "file": file,
                    "input": row.input,
                    "input_sha256": row.sha256,
                    "sha256": sha256_of(build / file),
                    **{k: v for k, v in m.measured.items() if v is not None},
                    "from": m.origin,
                    "review": reviews.get(row.input, PENDING).state,
                }
                result.files.append(entry)
            delivered[row.input] = {"sha256": row.sha256, "recipe": recipe}
        for f in result.failed:
            echo(f"{channel.name}: failed: {f['input']}: {f['rule']}")
        if not result.files:
            echo(f"{channel.name}: nothing delivered ({len(result.failed)} input(s) failed)")
            return result
        manifest = {
            "channel": channel.name,
            "description": channel.description,
            "package": package,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "workspace": ws.config.name or ws.root.name,
            "files": result.files,
            "failed": result.failed,
        }
        (build / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        zip_name = f"{channel.name}-{package}.zip"
        with zipfile.ZipFile(build_root / zip_name, "w", zipfile.ZIP_DEFLATED) as z:
            for entry in [*result.files, {"file": "manifest.json"}]:
                # Pictures and video are compressed already: stored as they are, only the manifest is deflated.
                kind = zipfile.ZIP_DEFLATED if entry["file"].endswith(".json") else zipfile.ZIP_STORED
                z.write(build / entry["file"], f"{package}/{entry['file']}", compress_type=kind)
        os.replace(build_root / zip_name, build / zip_name)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / package
        os.rename(build, final)  # the package appears whole (same file system: out/.tmp is in out/)
    finally:
        shutil.rmtree(build_root, ignore_errors=True)
    result.package = ws.rel(final)
    given.update(delivered)
    packages = state[channel.name].setdefault("packages", [])
    record = {
        "package": package,
        "files": len(result.files),
        "failed": len(result.failed),
        "created": manifest["created"],
    }
    packages.append(record)
    ws.save_state(STATE, state)
    size = (final / zip_name).stat().st_size
    echo(
        f"{channel.name}: {len(result.files)} file(s) from {len(delivered)} input(s) -> {result.package}/ "
        f"({zip_name}, {size / 1_000_000:.1f} MB)"
    )
    if target.to or target.command:
        result.target = _send(ws, channel.name, target, final, zip_name)
        record["target"] = result.target
        ws.save_state(STATE, state)
        echo(f"{channel.name}: {_target_line(result.target)}")
    return result


def _send(ws: Workspace, channel: str, target: DeliverTarget, package: Path, zip_name: str) -> dict:
    """Copy the package to `to` (whole: a temp name, then a rename), then run `command`."""
    out: dict = {}
    if target.to:
        dest_dir = Path(target.to) if Path(target.to).is_absolute() else ws.root / target.to
        dest = dest_dir / f"{channel}-{package.name}"
        tmp = dest_dir / f".{dest.name}.part"
        out["to"] = str(dest)
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(package, tmp)
            os.rename(tmp, dest)
            out["exit_code"] = 0
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            out.update(exit_code=1, error=f"cannot copy to {dest_dir}: {e.strerror or e}")
            return out
    if target.command:
        fill = {"package": str(package), "zip": str(package / zip_name), "manifest": str(package / "manifest.json")}
        fill["channel"] = channel
        cmd = []
        for part in target.command:
            for k, v in fill.items():
                part = part.replace("{" + k + "}", v)
            cmd.append(part)
        out["command"] = cmd
        try:
            done = subprocess.run(
                cmd, cwd=ws.root, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
            )
        except FileNotFoundError:
            out.update(exit_code=127, error=f"{cmd[0]}: command not found")
            return out
        except subprocess.TimeoutExpired:
            out.update(exit_code=124, error=f"{cmd[0]} took longer than {COMMAND_TIMEOUT} s; stopped")
            return out
        log.info("deliver %s: %s exited %s\n%s%s", channel, cmd, done.returncode, done.stdout, done.stderr)
        out["exit_code"] = done.returncode
        if done.returncode:
            out["error"] = one_line(done.stderr or done.stdout, 200) or f"exit code {done.returncode}"
    return out


def _target_line(target: dict) -> str:
    where = target.get("to") or " ".join(target.get("command", []))
    if target.get("exit_code"):
        return f"sending failed (exit {target['exit_code']}): {target.get('error', '')}; the package stays in out/"
    return f"sent: {where}"


def list_channels(ws_root: Path | None) -> list[dict]:
    return [
        {"name": c.name, "description": c.description, "limits": limits_text(c), "preset": str(c.path)}
        for c in load_channels(ws_root).values()
    ]
