"""W3: a workspace of already-processed small inputs: how long does a run that has nothing to do
take, and how much memory? (issue #8: 10,000 inputs under 2 s and under 200 MB; issue #12:
100,000 inputs under 2 s, and no longer growing linearly)

    python bench/w3.py [--inputs 10000] [--repeat 3] [--against ../base] [--profile-noop]

Makes tiny JPEGs (48x32, each different, in folders of 1,000; cached in bench/results/w3/),
links them into a workspace whose one profile writes one width in one format (so that the first
run is bearable) and processes them all once with this tree's `crossmedia run` (timed too). That
processed workspace is kept in bench/results/w3/ws-<inputs>/ and reused by later invocations (at
100,000 inputs the first run takes the best part of an hour on two cores); `--fresh` makes it
again.

Each contender (this tree, and with `--against DIR` the checkout in DIR run by its own
`.venv/bin/crossmedia`) runs on its own copy of that workspace (hard links; the state folder
copied), kept in bench/results/w3/ws-<inputs>-<new|old>/: a copy's first run rebuilds the preview
site (at 100,000 inputs, minutes), later ones need not. One untimed warm-up run (without the
read-back check of the pages it wrote: see WARM_UP), then the no-op runs, alternating between
contenders `--repeat` times: wall time from process start to exit, median. Memory is the peak of
the summed PSS of the process tree, sampled every 20 ms in one extra untimed run per contender
(reading PSS slows what it samples; see bench/w1.py's `measure`). `--profile-noop` writes a
cProfile of one no-op run of this tree to bench/results/w3/noop.prof and prints its top entries.
The last line is the summary:

    W3 inputs=<n> first_run=<s> noop_run=<s> noop_peak=<MiB> [old_noop=<s> old_peak=<MiB> ratio=<new/old>]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from w1 import measure  # noqa: E402

CACHE = HERE / "results" / "w3"
PROFILE = '[image]\nwidths = [32]\nformats = ["webp"]\nmetadata = []\n'


def inputs(n: int) -> Path:
    """n different 48x32 JPEGs (a few hundred bytes each), made once."""
    import numpy as np
    from PIL import Image

    src = CACHE / f"inputs-{n}"
    done = src / "complete"
    if done.exists():
        return src
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    rng = np.random.default_rng(3)
    print(f"generating {n} tiny JPEGs in {src} ...", file=sys.stderr)
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=70)
        sub = src / f"{i // 1000:03d}"  # a delivery in folders of 1,000, as agencies send them
        sub.mkdir(exist_ok=True)
        (sub / f"img-{i:06d}.jpg").write_bytes(buf.getvalue())
    done.write_text(str(n))
    return src


def processed_workspace(n: int, fresh: bool) -> tuple[Path, dict]:
    """bench/results/w3/ws-<n>: n inputs processed by this tree's first run (made once)."""
    ws = CACHE / f"ws-{n}"
    marker = CACHE / f"ws-{n}.json"
    if not fresh and marker.exists() and ws.is_dir():
        return ws, json.loads(marker.read_text())
    src = inputs(n)
    shutil.rmtree(ws, ignore_errors=True)
    marker.unlink(missing_ok=True)
    subprocess.run([str(ROOT / ".venv/bin/crossmedia"), "init", str(ws)], check=True, capture_output=True)
    (ws / "profiles" / "w3.toml").write_text(PROFILE)
    (ws / "crossmedia.toml").write_text('name = "w3"\n[folders]\n"inbox/w3" = "w3"\n')
    inbox = ws / "inbox" / "w3"
    for p in sorted(src.rglob("*.jpg")):
        dest = inbox / p.parent.name / p.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(p, dest)  # same bytes, no copy; never written to
    print(f"first run: processing {n} inputs with {ROOT} ...", file=sys.stderr)
    wall, cpu, _ = measure(
        [str(ROOT / ".venv/bin/crossmedia"), "run", "-w", str(ws), "--jobs", "2"], cwd=ROOT, memory=False
    )
    counts = json.loads((ws / "out" / "report.json").read_text())["counts"]
    if counts["processed"] != n:
        raise SystemExit(f"the first run processed {counts}, not {n} inputs")
    facts = {"inputs": n, "first_run": round(wall, 1), "first_cpu": round(cpu, 1), "by": str(ROOT)}
    marker.write_text(json.dumps(facts))
    print(f"first run: {n} inputs processed in {wall:.1f} s ({cpu:.1f} s CPU)", file=sys.stderr)
    return ws, facts


def copy_workspace(master: Path, dest: Path) -> None:
    """A copy to run on: files hard-linked (outputs, pages and reports are only ever replaced by
    rename, never written in place), the state folder (SQLite, log, lock) copied."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(
        master, dest, copy_function=os.link, ignore=lambda d, names: [".crossmedia"] if d == str(master) else []
    )
    shutil.copytree(master / ".crossmedia", dest / ".crossmedia")


# The warm-up brings a copy to its steady state, and at 100,000 inputs rebuilds its preview site
# (the copy's path is part of the site's fingerprint). Reading the written pages back (the check)
# would then take most of an hour: bs4's html.parser is quadratic in the void elements of a page,
# and the index of 100,000 assets is 54 MB of <img>. The warm-up skips that check (it only adds
# notes); the timed runs are the plain command, and build nothing.
WARM_UP = """
import importlib, runpy, sys
for name in ("pipeline.site.check", "pipeline.check"):  # this layout's, or the one before
    try:
        importlib.import_module(name).check_notes = lambda *args, **kwargs: []
    except ImportError:
        pass
script = sys.argv[1]
sys.argv = ["crossmedia", *sys.argv[2:]]
runpy.run_path(script, run_name="__main__")
"""


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and the children it waited for) of one run, with
    nothing sampling beside it (w1's `measure` reads every process's /proc/<pid>/stat ten times a
    second, which on two cores slows the second-long runs timed here)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def noop_counts(ws: Path) -> dict:
    return json.loads((ws / "out" / "report.json").read_text())["counts"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--against", type=Path, help="another checkout (with its own .venv) to run side by side")
    ap.add_argument("--fresh", action="store_true", help="process the inputs again instead of reusing the workspace")
    ap.add_argument("--profile-noop", action="store_true")
    args = ap.parse_args()
    master, facts = processed_workspace(args.inputs, args.fresh)
    contenders = {"new": ROOT}
    if args.against:
        contenders["old"] = args.against.resolve()
    spaces = {}
    for label, tree in contenders.items():
        ws = CACHE / f"ws-{args.inputs}-{label}"
        if args.fresh or not (ws / "out" / "report.json").exists():
            t = time.perf_counter()
            copy_workspace(master, ws)
            print(f"{label}: workspace copied in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        cmd = [str(tree / ".venv/bin/crossmedia"), "run", "-w", str(ws), "--jobs", "2"]
        # A copy's first run rebuilds the preview site (its path is part of the site's
        # fingerprint), and finds its outputs' folders new: both are once per copy, kept.
        warm = [str(tree / ".venv/bin/python"), "-c", WARM_UP, *cmd]
        wall, _, _ = measure(warm, cwd=tree, memory=False)
        print(f"{label}: warm-up run {wall:.2f} s, {noop_counts(ws)}", file=sys.stderr)
        spaces[label] = (ws, cmd, tree)
    walls: dict[str, list[float]] = {label: [] for label in contenders}
    for i in range(args.repeat):
        for label, (ws, cmd, tree) in spaces.items():
            wall, cpu = timed(cmd, tree)
            walls[label].append(wall)
            counts = noop_counts(ws)
            if counts["processed"] or counts["failed"]:
                raise SystemExit(f"{label}: the no-op run did something: {counts}")
            print(f"{label} no-op run {i + 1}/{args.repeat}: {wall:.2f} s wall, {cpu:.2f} s cpu", file=sys.stderr)
    peaks = {}
    for label, (_, cmd, tree) in spaces.items():
        _, _, peaks[label] = measure(cmd, cwd=tree)
        print(f"{label}: peak {peaks[label] / 2**20:.0f} MiB (untimed run)", file=sys.stderr)
    if args.profile_noop:
        prof = CACHE / "noop.prof"
        _, cmd, _ = spaces["new"]
        subprocess.run(
            [str(ROOT / ".venv/bin/python"), "-m", "cProfile", "-o", str(prof), *cmd],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        import pstats

        pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(30)
    med = {label: statistics.median(w) for label, w in walls.items()}
    summary = (
        f"W3 inputs={args.inputs} first_run={facts['first_run']:.1f} noop_run={med['new']:.2f} "
        f"noop_peak={peaks['new'] / 2**20:.0f}"
    )
    for label, tree in contenders.items():
        print(
            f"{label} ({tree}): no-op runs {', '.join(f'{w:.2f}' for w in walls[label])} s, median {med[label]:.2f} s, "
            f"peak memory (PSS) {peaks[label] / 2**20:.0f} MiB"
        )
    if "old" in med:
        summary += f" old_noop={med['old']:.2f} old_peak={peaks['old'] / 2**20:.0f} ratio={med['new'] / med['old']:.2f}"
    print(f"{args.inputs} inputs already processed (one 32 px WebP each); first run {facts['first_run']:.1f} s")
    print(summary + " (target noop < 2 s, < 200 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
