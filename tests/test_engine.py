"""The engine's contract with cron: exit codes, report, quarantine, incremental re-runs, the lock,
and a run killed half-way."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import CORPUS, corpus_entries, crossmedia, published

BROKEN = corpus_entries(expect="error")
HAZARDS = [e for e in corpus_entries(expect="ok") if e.get("facts", {}).get("hazard")]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_broken_file_fails_alone_with_one_line_and_a_quarantine_record(ws):
    assert len(BROKEN) >= 8
    for e in BROKEN:
        ws.drop(e["path"])
    ws.drop("images/orient-1.jpg")
    ws.drop("images/tiny-128.jpg")
    before = {p.name: sha(p) for p in (ws.root / "inbox/web").iterdir()}
    result = ws.run(expect=1)
    report = ws.report()
    for e in BROKEN:
        name = Path(e["path"]).name
        item = ws.item(f"inbox/web/{name}")
        assert item["status"] == "failed", item
        assert item["error"] and "\n" not in item["error"] and len(item["error"]) < 300, item
        assert "Traceback" not in item["error"] and "internal error" not in item["error"], item
        assert item["outputs"] == []
        from pipeline.batch.quarantine import quarantine_name

        q = ws.root / "quarantine" / quarantine_name(f"inbox/web/{name}")
        assert q.is_file() and sha(q) == before[name], name
        assert item["error"] in (q.parent / f"{q.name}.error.txt").read_text()
        assert f"failed inbox/web/{name}" in result.output
    for good in ("orient-1.jpg", "tiny-128.jpg"):
        assert ws.item(f"inbox/web/{good}")["status"] == "processed"
    assert report["counts"] == {"processed": 2, "failed": len(BROKEN), "skipped": 0}
    # originals untouched
    assert {p.name: sha(p) for p in (ws.root / "inbox/web").iterdir()} == before


def test_error_messages_say_what_is_wrong(ws):
    for rel in [
        "broken/empty.png",
        "broken/truncated.jpg",
        "broken/bomb-65536x65536.png",
        "broken/gif-huge-screen.gif",
        "broken/document.pdf",
        "broken/text-named.mp3",
    ]:
        ws.drop(rel)
    ws.run(expect=1)
    assert "empty" in ws.item("inbox/web/empty.png")["error"]
    assert "truncated" in ws.item("inbox/web/truncated.jpg")["error"]
    assert "decompression bomb" in ws.item("inbox/web/bomb-65536x65536.png")["error"]
    assert "decompression bomb" in ws.item("inbox/web/gif-huge-screen.gif")["error"]
    assert "PDF" in ws.item("inbox/web/document.pdf")["error"]
    assert "text file" in ws.item("inbox/web/text-named.mp3")["error"]


@pytest.mark.parametrize("entry", HAZARDS, ids=[e["path"] for e in HAZARDS])
def test_hazardous_files_are_handled_safely(ws, entry):
    src = ws.drop(entry["path"])
    ws.run()
    item = ws.item(f"inbox/web/{src.name}")
    if item["status"] == "failed":  # refused clearly is fine; a crash is not
        assert "internal error" not in item["error"]
        return
    assert item["status"] in ("processed", "skipped")
    for rel in item["outputs"]:
        assert rel.startswith("out/") and (ws.root / rel).resolve().is_relative_to(ws.root / "out")
        name = Path(rel).name
        assert all(c.isalnum() or c in "._-" for c in name), name


def test_wrong_extension_is_sniffed_from_content(ws):
    ws.drop("broken/png-named.jpg")
    ws.run(expect=0)
    item = ws.item("inbox/web/png-named.jpg")
    assert item["status"] == "processed" and item["facts"]["format"] == "png"


def test_hostile_name_gets_a_safe_output_name(ws):
    ws.drop("broken/<img src=x onerror=alert(1)>.jpg")
    ws.run(expect=0)
    item = ws.item("inbox/web/<img src=x onerror=alert(1)>.jpg")
    for rel in item["outputs"]:
        assert "<" not in rel and ">" not in rel and " " not in rel and "=" not in rel, rel


# Incremental and idempotent ------------------------------------------------------------------
def test_rerun_processes_nothing_and_changes_redo_only_what_they_affect(ws):
    ws.drop("images/orient-1.jpg")
    ws.drop("images/tiny-128.jpg")
    ws.run(expect=0)
    first = {o: (ws.root / o).stat().st_mtime_ns for i in ws.report()["items"] for o in i["outputs"]}

    ws.run(expect=0)
    assert ws.report()["counts"] == {"processed": 0, "failed": 0, "skipped": 2}
    assert {o: (ws.root / o).stat().st_mtime_ns for o in first} == first

    # touched, same bytes: confirmed by hash, not redone
    os.utime(ws.root / "inbox/web/tiny-128.jpg", ns=(time.time_ns(), time.time_ns()))
    ws.run(expect=0)
    assert ws.report()["counts"]["processed"] == 0

    # a sidecar redoes its input only
    ws.write("inbox/web/tiny-128.jpg.toml", 'alt = "Grace Hopper"\n')
    ws.run(expect=0)
    assert [i["input"] for i in ws.report()["items"] if i["status"] == "processed"] == ["inbox/web/tiny-128.jpg"]

    # a deleted output is made again
    victim = ws.root / ws.item("inbox/web/orient-1.jpg")["outputs"][0]
    victim.unlink()
    ws.run(expect=0)
    assert victim.is_file()

    # a changed [image] section redoes the profile's images; the other profiles are untouched
    ws.drop("images/orient-2.jpg", "inbox/social")
    ws.run(expect=0)
    ws.profile("web", 'extends = "web"\n[image]\nwidths = [800, 400]\n')
    ws.run(expect=0)
    processed = sorted(i["input"] for i in ws.report()["items"] if i["status"] == "processed")
    assert processed == ["inbox/web/orient-1.jpg", "inbox/web/tiny-128.jpg"]
    outs = published(ws.item("inbox/web/orient-1.jpg"))
    assert {Path(o).stem.rsplit("-", 1)[1] for o in outs} == {"800", "400"}
    # outputs of the old recipe are gone
    assert not [p for p in (ws.root / "out/web/orient-1.jpg").iterdir() if "-1920." in p.name]


def test_an_output_deleted_from_a_remembered_folder_is_made_again(ws, monkeypatch):
    """#12: a run that finds all of an input's outputs remembers their folder's stamp, and later
    runs stat that folder instead of every output; a deleted output changes the folder."""
    from pipeline.batch import engine

    monkeypatch.setattr(engine, "_STILL_NS", 0)  # remember a folder at once, not once it is 3 s old
    db = ws.root / ".crossmedia/state.db"

    def remembered() -> list[str]:
        with sqlite3.connect(db) as c:
            return [r[0] for r in c.execute("SELECT input FROM outputs_seen")]

    ws.drop("images/orient-1.jpg")
    ws.drop("images/tiny-128.jpg")
    ws.run(expect=0)
    ws.run(expect=0)  # finds every output: remembers both folders
    assert sorted(remembered()) == ["inbox/web/orient-1.jpg", "inbox/web/tiny-128.jpg"]
    ws.run(expect=0)  # trusts them
    assert ws.report()["counts"] == {"processed": 0, "failed": 0, "skipped": 2}
    victim = ws.root / ws.item("inbox/web/orient-1.jpg")["outputs"][-1]
    victim.unlink()
    ws.run(expect=0)
    assert [i["input"] for i in ws.report()["items"] if i["status"] == "processed"] == ["inbox/web/orient-1.jpg"]
    assert victim.is_file()
    assert remembered() == ["inbox/web/tiny-128.jpg"]  # new outputs: the old stamp is forgotten
    ws.run(expect=0)
    assert ws.report()["counts"]["processed"] == 0 and len(remembered()) == 2


def test_replaced_file_is_redone_and_removed_file_cleans_its_outputs(ws):
    dest = ws.drop("images/orient-1.jpg", name="photo.jpg")
    ws.run(expect=0)
    old = set(ws.item("inbox/web/photo.jpg")["outputs"])
    ws.drop("images/tiny-128.jpg", name="photo.jpg")
    ws.run(expect=0)
    assert ws.report()["counts"]["processed"] == 1
    assert set(ws.item("inbox/web/photo.jpg")["outputs"]) != old
    dest.unlink()
    ws.run(expect=0)
    assert ws.report()["removed"] == ["inbox/web/photo.jpg"]
    assert not (ws.root / "out/web/photo.jpg").exists()


def test_a_failed_input_is_not_retried_until_it_changes(ws):
    ws.drop("broken/truncated.jpg", name="photo.jpg")
    ws.run(expect=1)
    ws.run(expect=3)  # still failed, honestly, but not new: exit 3 (#17), the run's 1 was the news
    assert ws.report()["counts"] == {"processed": 0, "failed": 1, "skipped": 0}
    ws.drop("images/tiny-128.jpg", name="photo.jpg")  # the fixed delivery
    ws.run(expect=0)
    assert ws.item("inbox/web/photo.jpg")["status"] == "processed"
    assert not list((ws.root / "quarantine").iterdir())


def test_profile_without_the_media_kind_skips_with_a_warning(ws):
    ws.drop("audio/speech.opus", "inbox/print")  # print has no [audio] section
    ws.run(expect=0)
    item = ws.item("inbox/print/speech.opus")
    assert item["status"] == "skipped" and item["media"] == "audio"
    assert "no [audio] section" in item["warnings"][0]


# Report contract ---------------------------------------------------------------------------
def test_report_follows_the_contract(ws):
    ws.drop("images/orient-1.jpg")
    ws.drop("broken/empty.png")
    result = ws.run("--json", expect=1)
    report = json.loads(result.stdout)
    assert report == ws.report()
    assert set(report) >= {"started", "finished", "counts", "items"}
    assert set(report["counts"]) == {"processed", "failed", "skipped"}
    for item in report["items"]:
        assert set(item) >= {"input", "profile", "media", "status", "outputs", "warnings", "error"}
        assert item["media"] in ("image", "audio", "video", "unknown")
        assert item["status"] in ("processed", "failed", "skipped")
        assert all(not Path(o).is_absolute() and (ws.root / o).is_file() for o in item["outputs"])
        assert isinstance(item["warnings"], list)


# Lock ------------------------------------------------------------------------------------
def test_a_second_run_exits_75_while_the_workspace_is_locked(ws):
    from pipeline.batch.lock import workspace_lock

    ws.drop("images/tiny-128.jpg")
    with workspace_lock(ws.root / ".crossmedia", "watch"):
        done = crossmedia("run", "-w", str(ws.root))
        assert done.returncode == 75, done.stderr
        assert "workspace is busy" in done.stderr and "crossmedia watch" in done.stderr
        status = ws.cli("status", "-w", str(ws.root), "--json", expect=0)
        assert json.loads(status.stdout)["lock"]["command"] == "watch"
    assert crossmedia("run", "-w", str(ws.root)).returncode == 0
    assert json.loads(ws.cli("status", "-w", str(ws.root), "--json").stdout)["lock"] is None


# Killed mid-run --------------------------------------------------------------------------
def _decodes(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            im.load()
        return True
    except Exception:
        return False


def test_a_run_killed_midway_resumes_and_leaves_nothing_partial(ws, tmp_path):
    names = []
    for i in range(8):
        for src in ("images/orient-1.jpg", "images/alpha.png", "images/still.heic"):
            name = f"{i}-{Path(src).name}"
            ws.drop(src, name=name)
            names.append(name)
    before = {n: sha(ws.root / "inbox/web" / n) for n in names}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.commands.cli", "run", "-w", str(ws.root), "--jobs", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    db = ws.root / ".crossmedia/state.db"
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and done < 4:  # kill once a few inputs are recorded
        time.sleep(0.1)
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as c:
                    done = c.execute("SELECT count(*) FROM items").fetchone()[0]
            except sqlite3.Error:
                pass
    assert proc.poll() is None, "the run finished before it could be killed; make the batch larger"
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers, mid-flight
    proc.wait()
    killed_at = done
    assert 0 < killed_at < len(names)

    again = crossmedia("run", "-w", str(ws.root))
    assert again.returncode == 0, again.stderr
    report = ws.report()
    assert sorted(i["input"] for i in report["items"]) == sorted(f"inbox/web/{n}" for n in names)
    assert all(i["status"] in ("processed", "skipped") for i in report["items"])
    with sqlite3.connect(db) as c:
        rows = dict(c.execute("SELECT input, times_processed FROM items"))
    assert set(rows) == {f"inbox/web/{n}" for n in names}
    assert all(n >= 1 for n in rows.values())
    assert not list((ws.root / "out/.tmp").glob("*")), "temp files left behind"
    outputs = [
        p
        for p in (ws.root / "out").rglob("*")
        if p.is_file() and p.name != "report.json" and ".tmp" not in p.parts and "site" not in p.parts
    ]
    assert outputs and all(p.stat().st_size > 0 and _decodes(p) for p in outputs if p.suffix != ".svg")
    expected = {o for i in report["items"] for o in i["outputs"]}
    assert {str(p.relative_to(ws.root)) for p in outputs if p.parts[len(ws.root.parts) + 1] == "web"} == expected
    assert {n: sha(ws.root / "inbox/web" / n) for n in names} == before
    # and a third run has nothing left to do
    assert crossmedia("run", "-w", str(ws.root)).returncode == 0
    assert ws.report()["counts"]["processed"] == 0


def test_sigterm_stops_after_the_inputs_in_flight_with_exit_130(ws):
    for i in range(12):
        ws.drop("images/orient-1.jpg", name=f"{i}.jpg")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.commands.cli", "run", "-w", str(ws.root), "--jobs", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    db = ws.root / ".crossmedia/state.db"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            with sqlite3.connect(db, timeout=1) as c:
                if c.execute("SELECT count(*) FROM items").fetchone()[0] >= 1:
                    break
        except sqlite3.Error:
            pass
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    report = ws.report()
    assert report["interrupted"] is True and 1 <= report["counts"]["processed"] < 12
    assert not list((ws.root / "out/.tmp").glob("*"))
    assert crossmedia("run", "-w", str(ws.root)).returncode == 0
    assert ws.report()["counts"]["processed"] == 12 - report["counts"]["processed"]


def test_corpus_copies_are_what_the_manifest_says():
    """The fixtures are the published bytes (guards against a corrupted checkout of shared/)."""
    for e in corpus_entries(kind="image")[:5]:
        assert sha(CORPUS / e["path"]) == e["sha256"], e["path"]


def test_a_lone_input_shares_its_formats_between_idle_workers_and_is_recorded_once(ws):
    ws.drop("images/orient-1.jpg")
    ws.run("--jobs", "2", expect=0)
    item = ws.item("inbox/web/orient-1.jpg")
    suffixes = sorted(Path(o).suffix for o in published(item))
    assert suffixes == sorted([".avif", ".webp", ".jpg"] * 4)  # 1800 (source), 1280, 640, 320
    # and the pictures for people once, made by one share only
    people = sorted(Path(o).name for o in item["outputs"] if o not in published(item))
    assert people == ["orient-1.preview.jpg", "orient-1.share.jpg"]
    assert len(item["facts"]["renditions"]) == 14 and len(set(item["outputs"])) == 14
    assert len(item["warnings"]) == len(set(item["warnings"]))
    with sqlite3.connect(ws.root / ".crossmedia/state.db") as c:
        assert c.execute("SELECT times_processed FROM items").fetchall() == [(1,)]


def test_a_run_guesses_whether_to_start_its_workers_ahead_and_leaves_the_collector_as_found(ws):
    """#12: `run` boots the workers' fork server ahead only when something looks new since the
    last report (a run with nothing to do needs none; a wrong guess only starts it later), and
    the engine's bulk work freezes what it made for the collector until the run ends."""
    import gc

    from pipeline.config.workspace import Workspace

    def looks_changed() -> bool:
        return Workspace.open(ws.root).looks_changed()

    ws.drop("images/orient-1.jpg")
    assert looks_changed()  # no report yet
    ws.run(expect=0)
    assert not looks_changed()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    ws.drop("images/tiny-128.jpg", "inbox/social")  # a new file in a watched folder
    assert looks_changed()
    ws.run(expect=0)
    assert not looks_changed()
    (ws.root / "inbox/web/2026-12").mkdir()  # a new sub-folder (a delivery)
    assert looks_changed()
    ws.run(expect=0)
    assert not looks_changed()
    later = time.time_ns() + 1_000_000_000
    os.utime(ws.root / "crossmedia.toml", ns=(later, later))  # the config changed
    assert looks_changed()
    # A file rewritten in place is not seen ahead, but the run still finds it.
    os.utime(ws.root / "crossmedia.toml", ns=(0, 0))
    (ws.root / "inbox/web/orient-1.jpg").write_bytes((CORPUS / "images/tiny-128.jpg").read_bytes())
    os.utime(ws.root / "inbox/web", ns=(0, 0))
    assert not looks_changed()
    ws.run(expect=0)
    assert ws.report()["counts"]["processed"] == 1
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_lone_photo_is_shared_between_idle_workers_and_the_lightest_share_makes_the_previews(ws):
    """One photo, two idle workers: its formats are split by their encoding cost, and the
    pictures for people go with the share that does not carry AVIF (the slowest encoder), so
    neither share waits on the other more than it must. The merged result has every output."""
    from pipeline.batch.engine import _split
    from pipeline.config.workspace import Workspace as Opened
    from pipeline.job import Task

    ws.drop("images/tiny-128.jpg")
    opened = Opened.open(ws.root)
    assert set(opened.profiles["web"].options("image").formats) >= {"avif", "webp", "jpeg"}
    shares = _split(opened, [Task(str(ws.root), "inbox/web/tiny-128.jpg", "web")], workers=2)
    assert len(shares) == 2 and sorted(f for s in shares for f in s.formats) == sorted(
        opened.profiles["web"].options("image").formats
    )
    (maker,) = [s for s in shares if s.previews]
    assert "avif" not in maker.formats
    ws.run(expect=0)
    outs = ws.item("inbox/web/tiny-128.jpg")["outputs"]
    assert any(o.endswith(".avif") for o in outs) and any(".preview." in o for o in outs)
