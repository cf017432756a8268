"""Originals kept safe: `crossmedia backup`, `backup verify`, `backup restore` over restic (#16).

restic does the work (deduplicated, encrypted, local folder, SFTP or S3 through its own
backends); this module decides what goes in, keeps its output out of the user's way (one summary
line; everything restic says goes to .crossmedia/crossmedia.log) and proves a restore: each
backup carries .crossmedia/originals.sha256 (sha256sum format) of every original, from the
store where the file has not changed since it was processed, so a restore is checked byte for
byte. The repository password is read only the way restic reads it, from RESTIC_PASSWORD_FILE,
RESTIC_PASSWORD or RESTIC_PASSWORD_COMMAND: never from crossmedia.toml or the command line.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from pipeline.atomic import write_bytes_atomic
from pipeline.batch.store import Store
from pipeline.config.workspace import Workspace
from pipeline.errors import CrossmediaError, ExitCode, MissingTool
from pipeline.names import one_line

log = logging.getLogger("crossmedia")

MANIFEST = ".crossmedia/originals.sha256"
STATE = "backup.json"
PASSWORD_VARS = ("RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD", "RESTIC_PASSWORD_COMMAND")
# restic's own backends are named by a prefix; anything else is a folder.
_REMOTE = re.compile(r"^(sftp|s3|rest|b2|azure|gs|swift|rclone):")


class BackupError(CrossmediaError):
    """The backup, check or restore did not do its job: exit 1, one line, details in the log."""

    exit_code = ExitCode.INPUTS_FAILED


def repository(ws: Workspace, override: str | None) -> str:
    repo = override or ws.config.backup.repo
    if not repo:
        raise CrossmediaError(
            'no backup repository: set [backup] repo = "/mnt/backup/campaign" in crossmedia.toml, or pass --repo'
        )
    if _REMOTE.match(repo):
        return repo
    return os.path.normpath(Path(repo) if Path(repo).is_absolute() else ws.root / repo)


def _check_password() -> None:
    if not any(os.environ.get(v) for v in PASSWORD_VARS):
        raise CrossmediaError(
            "no password for the backup repository: set RESTIC_PASSWORD_FILE to a file only you can read "
            "(or RESTIC_PASSWORD); crossmedia never takes it from crossmedia.toml or the command line"
        )
    path = os.environ.get("RESTIC_PASSWORD_FILE")
    if path and not os.environ.get("RESTIC_PASSWORD") and not Path(path).is_file():
        raise CrossmediaError(f"RESTIC_PASSWORD_FILE names {path}, which is not a file")


def _restic(args: list[str], repo: str, *, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("restic")
    if exe is None:
        raise MissingTool("restic is not installed; run `crossmedia doctor` for the fix")
    env = {**os.environ, "RESTIC_REPOSITORY": repo}
    env.pop("RESTIC_REPOSITORY_FILE", None)
    done = subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    # restic's own words stay in the log: the user gets one line from us.
    log.info("restic %s -> exit %s\n%s%s", " ".join(args), done.returncode, done.stdout[-20000:], done.stderr[-20000:])
    return done


def _reason(done: subprocess.CompletedProcess) -> str:
    """The line of restic's output that says what went wrong."""
    lines = [ln.strip() for ln in (done.stderr + "\n" + done.stdout).splitlines() if ln.strip()]
    wanted = re.compile(r"(error|fatal|does not match|damaged|invalid|wrong password|unable|failed)", re.I)
    found = [ln for ln in lines if wanted.search(ln) and not ln.startswith("{")]
    line = (found or lines or [f"exit code {done.returncode}"])[0]
    return one_line(re.sub(r"\b([0-9a-f]{12})[0-9a-f]{52}\b", r"\1...", line), 200)  # pack ids, shortened


def _ensure_repository(repo: str) -> bool:
    """Create the repository when there is none yet; True when it was created."""
    if not _REMOTE.match(repo):
        path = Path(repo)
        if (path / "config").is_file():
            return False
        if path.exists() and any(path.iterdir()):
            raise BackupError(f"{repo} is neither empty nor a restic repository; choose another folder")
    else:
        probe = _restic(["cat", "config"], repo)
        if probe.returncode == 0:
            return False
        if not re.search(r"does not exist|Is there a repository", probe.stderr):
            raise BackupError(f"cannot open the backup repository {repo}: {_reason(probe)}")
    done = _restic(["init"], repo)
    if done.returncode != 0:
        raise BackupError(f"cannot create the backup repository {repo}: {_reason(done)}")
    return True


def originals_manifest(ws: Workspace) -> tuple[bytes, int, float]:
    """sha256sum lines of every original and sidecar in the watched folders; (text, count,
    newest mtime). The store's hash is used where size and mtime still match its row."""
    store = Store(ws.state / "state.db")
    try:
        rows = store.states()
        known = dict(store.db.execute("SELECT input, sha256 FROM items"))
    finally:
        store.close()
    lines, newest = [], 0.0
    for cand in ws.scan():
        if cand.problem:
            continue
        for rel in (cand.rel, cand.sidecar):
            if rel is None:
                continue
            path = ws.root / rel
            st = path.stat()
            newest = max(newest, st.st_mtime)
            row = rows.get(rel)
            if row is not None and (row.size, row.mtime_ns) == (st.st_size, st.st_mtime_ns) and known.get(rel):
                digest = known[rel]
            else:
                digest = _sha256(path)
            lines.append(f"{digest}  {rel}\n")
    return "".join(sorted(set(lines))).encode(), len(set(lines)), newest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _sources(ws: Workspace) -> list[str]:
    """What a backup holds: the watched folders (originals, sidecars), profiles and channel
    presets, page and banner sources, crossmedia.toml and the sha256 manifest."""
    wanted = [*sorted(ws.folders()), "profiles", "pages", "banners", "crossmedia.toml", MANIFEST]
    return [w for w in dict.fromkeys(wanted) if (ws.root / w).exists()]


def backup(ws: Workspace, repo_override: str | None = None) -> dict:
    _check_password()
    repo = repository(ws, repo_override)
    started = time.time()
    text, count, newest = originals_manifest(ws)
    write_bytes_atomic(ws.root / MANIFEST, ws.state_tmp, text)
    created = _ensure_repository(repo)
    tags = ["crossmedia", f"workspace={_tag(ws.config.name or ws.root.name)}"]
    deliveries = ws.load_state("deliveries.json")
    for channel, data in sorted(deliveries.items()):
        if data.get("packages"):
            tags.append(f"delivery={channel}/{data['packages'][-1]['package']}")
    args = ["backup", "--json"] + [a for t in tags for a in ("--tag", t)] + _sources(ws)
    done = _restic(args, repo, cwd=ws.root)
    summary = next(
        (json.loads(ln) for ln in reversed(done.stdout.splitlines()) if '"message_type":"summary"' in ln), None
    )
    # Exit code 3: a snapshot was made, but some files could not be read (named in the log).
    if summary is None or done.returncode not in (0, 3):
        raise BackupError(f"backup to {repo} failed: {_reason(done)}; details in .crossmedia/crossmedia.log")
    last = {
        "snapshot": summary["snapshot_id"][:8],
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "started": started,
        "repo": repo,
        "originals": count,
        "newest_original": newest,
        "files": summary["total_files_processed"],
        "bytes": summary["total_bytes_processed"],
        "added": summary["data_added"],
        "seconds": round(time.time() - started, 1),
        "tags": tags,
        "unreadable": done.returncode == 3,
        "created_repository": created,
    }
    ws.save_state(STATE, {"last": last})
    return last


def _tag(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:60] or "workspace"


def _size(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def summary_line(last: dict) -> str:
    return (
        f"backup: snapshot {last['snapshot']} of {last['originals']} originals ({last['files']} files, "
        f"{_size(last['bytes'])}, {_size(last['added'])} new) in {last['seconds']:g} s -> {last['repo']}"
        + ("; some files could not be read (see .crossmedia/crossmedia.log)" if last["unreadable"] else "")
    )


def verify(ws: Workspace, repo_override: str | None = None) -> str:
    """restic check --read-data: every pack read back and its contents checked."""
    _check_password()
    repo = repository(ws, repo_override)
    started = time.time()
    done = _restic(["check", "--read-data"], repo)
    if done.returncode != 0:
        raise BackupError(
            f"backup repository {repo} is damaged: {_reason(done)}; details in .crossmedia/crossmedia.log"
        )
    return f"backup verify: {repo} is sound, every pack read and checked in {time.time() - started:.1f} s"


def restore(
    ws: Workspace, to: Path, repo_override: str | None = None, pattern: str | None = None, snapshot: str = "latest"
) -> str:
    """Restore the snapshot's originals (those matching `pattern`) under `to`, then prove them
    against the snapshot's sha256 manifest. Never into the workspace: originals are not rewritten."""
    _check_password()
    repo = repository(ws, repo_override)
    to = to.resolve()
    if to == ws.root or ws.root.is_relative_to(to) or to.is_relative_to(ws.root):
        raise CrossmediaError(f"--to {to} is in the workspace; restore to a folder outside it, then copy what you need")
    if to.exists() and any(to.iterdir()):
        raise CrossmediaError(f"--to {to} is not empty; restore into a new or empty folder")
    started = time.time()
    args = ["restore", snapshot, "--target", str(to)]
    if pattern:
        args += ["--include", pattern, "--include", MANIFEST]
    done = _restic(args, repo)
    if done.returncode != 0:
        raise BackupError(f"restore from {repo} failed: {_reason(done)}; details in .crossmedia/crossmedia.log")
    listed = to / MANIFEST
    if not listed.is_file():
        raise BackupError(f"the snapshot has no {MANIFEST}: the restore cannot be proved byte-identical")
    wanted = []
    for line in listed.read_text(encoding="utf-8").splitlines():
        digest, _, rel = line.partition("  ")
        if pattern is None or fnmatch.fnmatch(rel, pattern):
            wanted.append((digest, rel))
    bad = [rel for digest, rel in wanted if not (to / rel).is_file() or _sha256(to / rel) != digest]
    if bad:
        raise BackupError(
            f"{len(bad)} of {len(wanted)} restored originals do not match the backup's sha256 manifest "
            f"(first: {bad[0]})"
        )
    return (
        f"restored {len(wanted)} originals to {to} in {time.time() - started:.1f} s; "
        f"all match the backup's sha256 manifest"
    )


def last_backup(ws: Workspace) -> dict | None:
    return ws.load_state(STATE).get("last")


def backup_warning(ws: Workspace, newest_original: float) -> str | None:
    """What `status` and the run's report say when originals are not all in the last backup."""
    last = last_backup(ws)
    if last is None:
        return "no backup yet: run `crossmedia backup`" if ws.config.backup.repo else None
    if newest_original > last["started"]:
        return (
            f"originals changed since the last backup ({last['time']}, snapshot {last['snapshot']}): "
            "run `crossmedia backup`"
        )
    return None
