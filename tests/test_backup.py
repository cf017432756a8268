"""`crossmedia backup`, `backup verify`, `backup restore` (#16) with restic and a local repository.

Media: corpus files (images/orient-6.jpg, video/h264-aac.mp4, audio/tone-tagged.ogg; see the
corpus SOURCES.md) plus a sidecar written here.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="needs restic (Debian package restic)")


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def secret(tmp_path, monkeypatch):
    path = tmp_path / "restic-password"
    path.write_text("correct horse battery staple\n")
    path.chmod(0o600)
    for var in ("RESTIC_PASSWORD", "RESTIC_PASSWORD_COMMAND", "RESTIC_REPOSITORY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RESTIC_PASSWORD_FILE", str(path))
    monkeypatch.setenv("RESTIC_CACHE_DIR", str(tmp_path / "restic-cache"))
    return path


@pytest.fixture
def filled(ws, corpus):
    ws.drop("images/orient-6.jpg", "inbox/web")
    ws.drop("video/h264-aac.mp4", "inbox/social")
    ws.drop("audio/tone-tagged.ogg", "inbox/podcast")
    ws.write("inbox/web/orient-6.jpg.toml", 'alt = "A field"\n')
    ws.run()
    config = ws.root / "crossmedia.toml"
    config.write_text(config.read_text() + '\n[backup]\nrepo = "../restic-repo"\n')
    return ws


def originals(ws) -> dict[str, str]:
    return {p.relative_to(ws.root).as_posix(): sha(p) for p in sorted((ws.root / "inbox").rglob("*")) if p.is_file()}


def test_password_only_from_the_environment(filled, monkeypatch):
    for var in ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND"):
        monkeypatch.delenv(var, raising=False)
    result = filled.cli("backup", "-w", str(filled.root), expect=2)
    assert result.output.startswith("error: no password for the backup repository: set RESTIC_PASSWORD_FILE")
    assert len(result.output.strip().splitlines()) == 1
    assert not (filled.root.parent / "restic-repo").exists()
    config = filled.root / "crossmedia.toml"
    config.write_text(config.read_text().replace('"../restic-repo"', '"rest:https://me:hunter2@host/repo"'))
    result = filled.cli("backup", "-w", str(filled.root), expect=2)
    assert "[backup] repo" in result.output and "must not hold a password" in result.output


def test_backup_verify_restore_then_a_damaged_pack(filled, secret, tmp_path):
    ws = filled
    want = originals(ws)
    assert len(want) == 4  # three originals and a sidecar
    result = ws.cli("backup", "-w", str(ws.root), expect=0)
    # One summary line; restic's own output is in the log only.
    (line,) = result.output.strip().splitlines()
    assert line.startswith("backup: snapshot ") and " of 4 originals (" in line
    assert "restic backup --json" in (ws.root / ".crossmedia" / "crossmedia.log").read_text()
    repo = tmp_path / "restic-repo"
    snapshots = json.loads(
        subprocess.run(["restic", "-r", str(repo), "snapshots", "--json"], capture_output=True, check=True).stdout
    )
    assert len(snapshots) == 1 and "crossmedia" in snapshots[0]["tags"] and "workspace=test" in snapshots[0]["tags"]
    manifest = (ws.root / ".crossmedia" / "originals.sha256").read_text().splitlines()
    assert sorted(manifest) == sorted(f"{h}  {rel}" for rel, h in want.items())
    assert ws.report()["backup"] is None  # the run before the backup knew of none
    ws.run()
    assert ws.report()["backup"]["snapshot"] == snapshots[0]["short_id"]  # the run's report names it

    assert "is sound" in ws.cli("backup", "verify", "-w", str(ws.root), expect=0).output

    result = ws.cli("backup", "restore", "-w", str(ws.root), "--to", str(tmp_path / "back"), expect=0)
    assert "restored 4 originals" in result.output and "all match" in result.output
    assert {rel: sha(tmp_path / "back" / rel) for rel in want} == want  # byte-identical, measured here
    assert (tmp_path / "back" / "crossmedia.toml").read_bytes() == (ws.root / "crossmedia.toml").read_bytes()

    result = ws.cli(
        "backup", "restore", "-w", str(ws.root), "--input", "inbox/web/*", "--to", str(tmp_path / "some"), expect=0
    )
    assert "restored 2 originals" in result.output
    assert not (tmp_path / "some" / "inbox" / "social").exists()
    ws.cli("backup", "restore", "-w", str(ws.root), "--to", str(tmp_path / "some"), expect=2)  # not empty
    ws.cli("backup", "restore", "-w", str(ws.root), "--to", str(ws.root / "out" / "r"), expect=2)  # in the workspace

    # Damage one pack file of the repository (a disk error, a bad copy): verify must say so.
    packs = sorted(p for p in (repo / "data").rglob("*") if p.is_file())
    pack = max(packs, key=lambda p: p.stat().st_size)
    pack.chmod(0o600)
    data = bytearray(pack.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    pack.write_bytes(bytes(data))
    result = ws.cli("backup", "verify", "-w", str(ws.root), expect=1)
    assert result.output.startswith(f"error: backup repository {repo} is damaged: ")
    assert len(result.output.strip().splitlines()) == 1
    assert want == originals(ws)  # the originals were only ever read


def test_status_warns_when_originals_are_newer_than_the_backup(filled, secret):
    ws = filled
    ws.cli("backup", "-w", str(ws.root), expect=0)
    status = ws.cli("status", "-w", str(ws.root), expect=0).output
    assert "last backup: " in status and "warning: originals changed" not in status
    time.sleep(0.01)  # a new mtime, not a timing assertion
    ws.drop("images/orient-1.jpg", "inbox/web")
    status = ws.cli("status", "-w", str(ws.root), expect=0).output
    assert "warning: originals changed since the last backup (" in status and "run `crossmedia backup`" in status
    ws.cli("backup", "-w", str(ws.root), expect=0)
    assert "warning: originals changed" not in ws.cli("status", "-w", str(ws.root), expect=0).output
