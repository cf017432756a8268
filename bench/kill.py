"""Kill test (issue #8): SIGKILL the real `crossmedia run` and `crossmedia watch` at random moments,
restart, many times over; then prove that nothing was lost, doubled, half-written or touched.

    python bench/kill.py [--inputs 300] [--kills 50] [--seed 8] [--jobs 2] [--keep]

The batch mixes corpus images (../shared/corpus), generated JPEGs and PNGs and a few broken files.
Half of it is in the inbox at the start; the rest is moved in a chunk at a time while the
campaign goes on, so that watchers see files arrive. Each round starts `run` (two rounds in
three) or `watch`, waits a seeded random time and SIGKILLs the whole process group (the main
process, the fork server and the workers, as a power cut would), or in one round in four the main
process alone (as the OOM killer would: its workers finish their inputs orphaned while the next
round already runs). After each kill
every file under out/ that changed is checked whole (non-empty, decodes); the originals are
checked byte for byte. At the end one `run` finishes the work and another must find nothing to do,
and then:

- every input is in the report and in the store exactly once, with the status it should have
  (broken files failed, the rest processed), and `times_processed` is 1 for each processed input;
- the outputs on disk under out/<profile>/ are exactly those the report lists, each decodes;
- out/.tmp holds nothing, .crossmedia/ holds no stray temp files, the store passes
  `PRAGMA integrity_check`;
- every original is byte-identical (SHA-256) to what was dropped.

The last line is the summary:

    KILL inputs=<n> kills=<n> (run <n>, watch <n>) finished_before_kill=<n> checked_files=<n> problems=<n>

tests/test_faults.py runs `campaign()` in a reduced form (a few kills on ~40 inputs).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("CROSSMEDIA_CORPUS", ROOT.parent / "shared" / "corpus"))
PROFILE = '[image]\nwidths = [256, 128]\nformats = ["webp", "jpeg"]\nmetadata = []\n'
GOOD_CORPUS = [
    "images/orient-1.jpg",
    "images/orient-6.jpg",
    "images/alpha.png",
    "images/palette.png",
    "images/still.webp",
    "images/gray.jpg",
    "images/anim.gif",
    "images/tiny-128.jpg",
    "images/still.heic",
    "images/logo.svg",
    "images/cmyk-icc.jpg",
    "images/p3.png",
]
BROKEN_CORPUS = ["broken/truncated.jpg", "broken/truncated.png", "broken/empty.png", "broken/document.pdf"]
IMAGE_SUFFIXES = {".webp", ".jpg", ".png", ".gif", ".avif"}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_inputs(folder: Path, n: int, seed: int) -> dict[str, str]:
    """n inputs in `folder`: name -> the status each must end with."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}
    for i in range(n):
        roll = rnd.random()
        if roll < 0.06:
            src = BROKEN_CORPUS[i % len(BROKEN_CORPUS)]
            name = f"{i:04d}-broken-{Path(src).name}"
            shutil.copyfile(CORPUS / src, folder / name)
            expected[name] = "failed"
        elif roll < 0.30:
            src = GOOD_CORPUS[i % len(GOOD_CORPUS)]
            name = f"{i:04d}-{Path(src).name}"
            shutil.copyfile(CORPUS / src, folder / name)
            expected[name] = "processed"
        else:
            w, h = int(rng.integers(200, 900)), int(rng.integers(150, 700))
            field_ = rng.random((6, 8, 3)) * 255
            im = Image.fromarray(field_.astype("uint8")).resize((w, h), Image.Resampling.BICUBIC)
            noise = rng.normal(0, 8, (h, w, 3))
            im = Image.fromarray(np.clip(np.asarray(im) + noise, 0, 255).astype("uint8"))
            fmt = "PNG" if roll > 0.85 else "JPEG"
            name = f"{i:04d}-gen.{'png' if fmt == 'PNG' else 'jpg'}"
            buf = io.BytesIO()
            im.save(buf, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
            (folder / name).write_bytes(buf.getvalue())
            expected[name] = "processed"
    return expected


def whole(path: Path) -> str | None:
    """None when the file is complete and readable, else what is wrong with it."""
    try:
        size = path.stat().st_size
    except OSError as e:
        return f"cannot stat: {e}"
    if size == 0:
        return "zero bytes"
    try:
        if path.suffix in IMAGE_SUFFIXES:
            from PIL import Image

            with Image.open(path) as im:
                im.load()
        elif path.suffix == ".svg":
            ElementTree.parse(path)
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix in (".html", ".css", ".js"):
            path.read_text(encoding="utf-8")
    except Exception as e:  # any failure to read it back is what we are looking for
        return f"does not read back: {type(e).__name__}: {e}"
    return None


@dataclass
class Figures:
    inputs: int = 0
    kills: int = 0
    run_kills: int = 0
    watch_kills: int = 0
    finished_before_kill: int = 0
    parent_only: int = 0  # kills of the main process alone (its workers orphaned)
    checked_files: int = 0
    rows_at_kill: list[int] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"KILL inputs={self.inputs} kills={self.kills} (run {self.run_kills}, watch {self.watch_kills}; "
            f"{self.parent_only} of the main process alone) "
            f"finished_before_kill={self.finished_before_kill} checked_files={self.checked_files} "
            f"problems={len(self.problems)}"
        )


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.commands.cli", *args]


def _rows(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return c.execute("SELECT count(*) FROM items").fetchone()[0]
    except sqlite3.Error:
        return 0


class Checker:
    """After each kill: every file under out/ changed since the last look must be whole."""

    def __init__(self, ws: Path, originals: dict[str, str], inbox: Path, figures: Figures):
        self.ws, self.originals, self.inbox, self.figures = ws, originals, inbox, figures
        self.seen: dict[Path, int] = {}

    def look(self, when: str) -> None:
        out = self.ws / "out"
        for path in out.rglob("*") if out.exists() else ():
            if not path.is_file() or (out / ".tmp") in path.parents:
                continue
            stamp = path.stat().st_mtime_ns
            if self.seen.get(path) == stamp:
                continue
            self.seen[path] = stamp
            self.figures.checked_files += 1
            what = whole(path)
            if what:
                self.figures.problems.append(f"{when}: {path.relative_to(self.ws)}: {what}")
        for name, digest in self.originals.items():
            p = self.inbox / name
            if p.exists() and _sha(p) != digest:
                self.figures.problems.append(f"{when}: original {name} changed")


def _wait_gone(pgid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def campaign(
    base: Path,
    inputs: int = 40,
    kills: int = 6,
    seed: int = 8,
    jobs: int = 2,
    orphan_share: float = 0.25,
    say=lambda s: None,
) -> Figures:
    """Build a workspace under `base`, kill runs and watchers `kills` times, check everything."""
    started = time.monotonic()
    rnd = random.Random(seed)
    figures = Figures(inputs=inputs)
    ws = base / "ws"
    subprocess.run(_cli("init", str(ws)), check=True, capture_output=True, cwd=ROOT)
    (ws / "profiles" / "kill.toml").write_text(PROFILE)
    (ws / "crossmedia.toml").write_text('name = "kill"\n[folders]\n"inbox/kill" = "kill"\n[watch]\nsettle = 0.3\n')
    inbox = ws / "inbox" / "kill"
    staging = base / "staging"
    expected = make_inputs(staging, inputs, seed)
    originals = {name: _sha(staging / name) for name in expected}
    names = sorted(expected)
    rnd.shuffle(names)
    first, later = names[: len(names) // 2], names[len(names) // 2 :]
    inbox.mkdir(parents=True, exist_ok=True)
    for name in first:
        os.rename(staging / name, inbox / name)
    chunk = max(1, len(later) // max(1, kills))
    checker = Checker(ws, originals, inbox, figures)
    orphans_rnd = random.Random(seed + 1)  # its own stream: the rounds of a seed stay what they were
    groups: list[int] = []
    db = ws / ".crossmedia" / "state.db"
    logs = base / "logs"
    logs.mkdir(exist_ok=True)

    def move_chunk() -> None:
        for _ in range(min(chunk, len(later))):
            name = later.pop()
            os.rename(staging / name, inbox / name)  # same file system: appears whole

    for k in range(kills):
        watch = rnd.random() < 1 / 3
        cmd = (
            _cli("watch", "-w", str(ws), "--jobs", str(jobs))
            if watch
            else _cli("run", "-w", str(ws), "--jobs", str(jobs))
        )
        delay = rnd.uniform(0.3, 5.0 if watch else 2.2)
        with (logs / f"{k:03d}-{'watch' if watch else 'run'}.log").open("w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
            t0 = time.monotonic()
            moved = False
            while time.monotonic() - t0 < delay and proc.poll() is None:
                if watch and not moved and time.monotonic() - t0 > delay / 2:
                    move_chunk()  # files arriving while the watcher runs
                    moved = True
                time.sleep(0.01)
            orphan = orphans_rnd.random() < orphan_share
            if proc.poll() is None:
                if orphan:  # the main process only, as the OOM killer would: its workers finish alone
                    os.kill(proc.pid, signal.SIGKILL)
                    figures.parent_only += 1
                    groups.append(proc.pid)
                else:
                    os.killpg(proc.pid, signal.SIGKILL)
                figures.kills += 1
                figures.watch_kills += watch
                figures.run_kills += not watch
            else:
                figures.finished_before_kill += 1
                if proc.returncode not in (0, 1, 3):  # 3: only earlier failures still there (#17)
                    figures.problems.append(f"round {k}: {'watch' if watch else 'run'} exited {proc.returncode}")
            proc.wait()
        if not orphan:  # the killed group may leave workers behind for a moment
            _wait_gone(proc.pid, 10)
        # (orphaned workers go on while the next round starts, which takes the free lock)
        figures.rows_at_kill.append(_rows(db))
        checker.look(f"after round {k}")
        if not watch or not moved:
            move_chunk()
        say(
            f"round {k + 1:3d}/{kills}: {'watch' if watch else 'run  '} {'main process ' if orphan else ''}killed "
            f"after {delay:4.2f} s, "
            f"{figures.rows_at_kill[-1]}/{inputs} recorded"
        )
    while later:
        move_chunk()
    for pgid in groups:
        _wait_gone(pgid, 120)

    final = subprocess.run(_cli("run", "-w", str(ws), "--jobs", str(jobs)), capture_output=True, text=True, cwd=ROOT)
    if final.returncode not in ((1, 3) if "failed" in expected.values() else (0,)):
        figures.problems.append(f"final run exited {final.returncode}: {final.stderr[-500:]}")
    again = subprocess.run(_cli("run", "-w", str(ws), "--json"), capture_output=True, text=True, cwd=ROOT)
    report = json.loads(again.stdout)
    if report["counts"]["processed"] != 0:
        figures.problems.append(f"a run after the final one processed {report['counts']['processed']} inputs again")
    checker.look("at the end")
    verify(ws, expected, originals, report, figures)
    figures.seconds = time.monotonic() - started
    return figures


def verify(ws: Path, expected: dict[str, str], originals: dict[str, str], report: dict, figures: Figures) -> None:
    problems = figures.problems
    items = {}
    for item in report["items"]:
        if item["input"] in items:
            problems.append(f"{item['input']} is twice in the report")
        items[item["input"]] = item
    want = {f"inbox/kill/{n}": s for n, s in expected.items()}
    if set(items) != set(want):
        problems.append(
            f"report inputs differ: missing {sorted(set(want) - set(items))[:5]}, "
            f"extra {sorted(set(items) - set(want))[:5]}"
        )
    with sqlite3.connect(ws / ".crossmedia" / "state.db") as c:
        check = c.execute("PRAGMA integrity_check").fetchone()[0]
        rows = {r[0]: r[1:] for r in c.execute("SELECT input, status, times_processed, outputs FROM items")}
    if check != "ok":
        problems.append(f"store integrity_check: {check}")
    if set(rows) != set(want):
        problems.append(f"store rows differ from the inputs: {len(rows)} rows for {len(want)} inputs")
    for rel, status in want.items():
        item, row = items.get(rel), rows.get(rel)
        if item is None or row is None:
            continue
        final = "processed" if item["status"] == "skipped" else item["status"]
        if final != status or row[0] != status:
            problems.append(f"{rel}: report {item['status']}, store {row[0]}, expected {status} ({item['error']})")
        if status == "processed" and row[1] != 1:
            problems.append(f"{rel}: recorded as processed {row[1]} times")
        if sorted(json.loads(row[2])) != sorted(item["outputs"]):
            problems.append(f"{rel}: store and report list different outputs")
    listed = {o for i in items.values() for o in i["outputs"]}
    on_disk = (
        {p.relative_to(ws).as_posix() for p in (ws / "out" / "kill").rglob("*") if p.is_file()}
        if (ws / "out" / "kill").exists()
        else set()
    )
    if on_disk != listed:
        problems.append(
            f"outputs on disk differ from the report: {len(on_disk - listed)} unlisted "
            f"(e.g. {sorted(on_disk - listed)[:3]}), {len(listed - on_disk)} missing"
        )
    for rel in sorted(listed & on_disk):
        what = whole(ws / rel)
        if what:
            problems.append(f"{rel}: {what}")
    tmp = ws / "out" / ".tmp"
    if tmp.exists() and any(tmp.iterdir()):
        problems.append(f"out/.tmp holds {len(list(tmp.iterdir()))} files")
    known = {
        "state.db",
        "state.db-wal",
        "state.db-shm",
        "lock",
        "crossmedia.log",
        "watch.json",
        "site.json",
        "tmp",
        "templates",
        "versions",  # pictures of earlier versions, for the review pages (#14)
        "report-summary.json",  # the production report's summary of every row, between runs (#12)
    }
    stray = [p.name for p in (ws / ".crossmedia").iterdir() if p.name not in known]
    stray += [f"tmp/{p.name}" for p in (ws / ".crossmedia" / "tmp").glob("*")]
    if stray:
        problems.append(f".crossmedia/ holds stray files: {stray[:5]}")
    inbox = ws / "inbox" / "kill"
    for name, digest in originals.items():
        if not (inbox / name).is_file() or _sha(inbox / name) != digest:
            problems.append(f"original {name} missing or changed")
    from pipeline.batch.quarantine import quarantine_name

    for rel, status in want.items():
        q = ws / "quarantine" / quarantine_name(rel)
        if (status == "failed") != q.exists():
            problems.append(f"{rel}: quarantine copy {'missing' if status == 'failed' else 'left behind'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=300)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the workspace (its path is printed)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    base = Path(tempfile.mkdtemp(prefix="kill-"))
    try:
        figures = campaign(
            base, args.inputs, args.kills, args.seed, args.jobs, say=lambda s: print(s, file=sys.stderr, flush=True)
        )
        for p in figures.problems:
            print(f"PROBLEM {p}")
        recorded = figures.rows_at_kill
        print(
            f"{figures.inputs} inputs, {figures.kills} SIGKILLs ({figures.run_kills} run, {figures.watch_kills} "
            "watch), "
            f"{figures.finished_before_kill} rounds finished before their kill; rows recorded at the kills: "
            f"{recorded[:1]} ... {recorded[-1:]}; {figures.checked_files} output files checked whole; "
            f"{figures.seconds:.0f} s"
        )
        print(figures.summary())
        return 1 if figures.problems else 0
    finally:
        if args.keep:
            print(f"workspace kept: {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
