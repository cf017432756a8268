"""The production report's data, from the store, the review decisions and out/report.json.

"Arrived" is the input file's modification time as the run found it (the store keeps no other
arrival time; a copy that keeps the original mtime, `cp -p` or rsync -t, arrives "earlier");
"done" is when its row was last written (`updated`). Waiting = done - arrived.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from pipeline.batch.store import read_stamp
from pipeline.config.workspace import Workspace
from pipeline.review.decisions import review_of

SLOWEST = 10
RUNS = 10
EXAMPLES = 3
# The summary of every row, kept for the publish step between runs (.crossmedia/<SUMMARY>): a
# run that changed nothing reads it instead of every row (W3: 1.4 s at 100,000 inputs, #12).
SUMMARY = "report-summary.json"
SUMMARY_VERSION = "1"  # bump when what the summary holds, or how it is made, changes


@dataclass(frozen=True)
class Item:
    """One input, as the report sees it."""

    input: str
    folder: str  # the delivery folder: the input's parent folder
    profile: str
    media: str
    status: str  # processed | failed | skipped
    review: str  # pending | approved | changes | rejected
    arrived: str  # ISO time, local
    done: str
    wait_seconds: float
    wait: str  # wait_seconds in words
    error: str
    warnings: int


@dataclass(frozen=True)
class Group:
    """One day and delivery folder: what came in and where it stands."""

    day: str
    folder: str
    arrived: int
    processed: int
    failed: int
    skipped: int
    approved: int
    changes: int  # changes requested or rejected: back to the designer
    median_wait: str
    longest_wait: str
    done: bool  # nothing failed, nothing back with the designer


@dataclass(frozen=True)
class Reason:
    """Failures grouped by what went wrong."""

    reason: str
    count: int
    examples: list[str]


@dataclass(frozen=True)
class Run:
    started: str
    finished: str
    command: str
    processed: int
    failed: int
    skipped: int


@dataclass
class Report:
    """Context of site_templates/report.html (the charts are added by pipeline.reports.output)."""

    workspace: str
    made: str
    since: str
    last_run: dict  # out/report.json: started, finished, counts, exit_code
    today: Group | None
    groups: list[Group] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    slowest: list[Item] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    review_counts: dict[str, int] = field(default_factory=dict)
    per_day: list[tuple[str, int, int]] = field(default_factory=list)  # (day, arrived, done) for the chart


def _read(
    ws: Workspace, kept: Callable[[str], dict | None] | None = None
) -> tuple[list[tuple], list[tuple], dict | None]:
    """(rows, runs, the kept summary), in one read-only transaction. Only the
    columns the report needs: the publish step builds the report after every run, and decoding
    every row's facts (Store.items) is most of the cost at 100,000 inputs. `kept(stamp)`: a
    summary made from the store at that stamp, if there is one; then no row is read."""
    path = ws.state / "state.db"
    if not path.is_file():
        return [], [], None
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN")  # the stamp, the rows and the runs as of one moment
        runs = db.execute(
            "SELECT started, finished, command, counts FROM runs ORDER BY id DESC LIMIT ?", (RUNS,)
        ).fetchall()
        stamp = read_stamp(db) if kept else ""
        summary = kept(stamp) if stamp else None
        items = (
            []
            if summary is not None
            else db.execute(
                "SELECT input, profile, media, status, mtime_ns, updated, error, warnings FROM items ORDER BY input"
            ).fetchall()
        )
        db.execute("COMMIT")
    finally:
        db.close()
    return items, runs, summary


def reason_of(error: str, name: str) -> str:
    """A failure's reason without what differs from file to file (its name, numbers)."""
    text = error.replace(name, "<file>") if name else error
    text = re.sub(r"\d+(\.\d+)?", "#", text)
    return text.split(": ", 1)[0] if len(text) > 120 else text


def duration(seconds: float) -> str:
    if seconds < 0:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def load_report_json(ws: Workspace) -> dict:
    try:
        return json.loads(ws.report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def build_report(
    ws: Workspace,
    last_run: dict | None = None,
    since: str | None = None,
    now: datetime | None = None,
    reviews: dict | None = None,
    keep: bool = False,
) -> Report:
    """`last_run`: the run's report as a dict (the publish step passes the run's own, before
    out/report.json is written); None reads out/report.json. `since`: YYYY-MM-DD, inputs that
    arrived that day or later. `keep` (the publish step, for report.html): the summary is kept
    in .crossmedia/ and reused while the store, the review decisions, the day and the time zone
    are the same; the Report then has no `items` (the page does not list them)."""
    now = now or datetime.now().astimezone()
    last = last_run if last_run is not None else load_report_json(ws)
    if keep and reviews is None:
        reviews = review_of(ws)
    made_from = getattr(reviews, "generation", None) if keep else None  # which decisions (Reviews)
    key = ""

    def kept(stamp: str) -> dict | None:
        nonlocal key
        key = _summary_key(ws, stamp, made_from, since, now)
        saved = ws.load_state(SUMMARY)
        if saved.get("key") != key:
            return None
        try:
            return _summary_from(saved)
        except (KeyError, TypeError, ValueError):  # not what this code keeps: made again
            return None

    rows, runs, saved = _read(ws, kept if made_from is not None else None)
    if saved is not None:
        return Report(
            workspace=ws.config.name or ws.root.name,
            made=now.strftime("%Y-%m-%d %H:%M"),
            since=since or "",
            last_run=_last_run(last),
            runs=[_run(r) for r in runs],
            **saved,
        )
    if reviews is None:  # the publish step passes the one it read; commands read their own
        reviews = review_of(ws) if rows else {}
    items: list[Item] = []
    dones: dict[str, tuple[datetime, str]] = {}  # rows written in one second share their `updated`
    for rel, profile, media, status, mtime_ns, updated, error, warnings in rows:
        arrived = datetime.fromtimestamp(mtime_ns / 1e9).astimezone()
        if since and arrived.date().isoformat() < since:
            continue
        known = dones.get(updated)
        if known is None:
            try:
                parsed = datetime.fromisoformat(updated)  # as the store writes it: 2026-12-05T02:08:29+0000
                known = dones[updated] = (parsed, parsed.astimezone().strftime("%Y-%m-%d %H:%M"))
            except ValueError:
                known = (arrived, arrived.strftime("%Y-%m-%d %H:%M"))
        done, done_text = known
        review = reviews.get(rel)
        items.append(
            Item(
                input=rel,
                folder=rel.rpartition("/")[0] or ".",  # PurePosixPath(rel).parent, at a tenth of the cost
                profile=profile,
                media=media,
                status=status,
                review=review.state if review else "pending",
                arrived=arrived.strftime("%Y-%m-%d %H:%M"),
                done=done_text,
                wait_seconds=max(0.0, (done - arrived).total_seconds()),
                wait=duration(max(0.0, (done - arrived).total_seconds())),
                error=error or "",
                warnings=len(json.loads(warnings)) if warnings and warnings != "[]" else 0,
            )
        )
    by_group: dict[tuple[str, str], list[Item]] = defaultdict(list)
    for it in items:
        by_group[(it.arrived[:10], it.folder)].append(it)
    groups = [_group(day, folder, its) for (day, folder), its in sorted(by_group.items(), reverse=True)]
    today_key = now.date().isoformat()
    todays = [it for it in items if it.arrived.startswith(today_key)]
    reasons: dict[str, list[str]] = defaultdict(list)
    for it in items:
        if it.status == "failed":
            reasons[reason_of(it.error, PurePosixPath(it.input).name)].append(it.input)
    days = Counter(it.arrived[:10] for it in items)
    done_days = Counter(it.done[:10] for it in items if it.status != "failed")
    all_days = sorted(set(days) | set(done_days))[-14:]
    report = Report(
        workspace=ws.config.name or ws.root.name,
        made=now.strftime("%Y-%m-%d %H:%M"),
        since=since or "",
        last_run=_last_run(last),
        today=_group(today_key, "all folders", todays) if todays else None,
        groups=groups,
        reasons=sorted(
            (Reason(r, len(ins), ins[:EXAMPLES]) for r, ins in reasons.items()), key=lambda r: (-r.count, r.reason)
        ),
        slowest=sorted((it for it in items if it.status != "failed"), key=lambda it: -it.wait_seconds)[:SLOWEST],
        runs=[_run(r) for r in runs],
        items=items,
        review_counts=dict(Counter(it.review for it in items)),
        per_day=[(d, days.get(d, 0), done_days.get(d, 0)) for d in all_days],
    )
    if key:  # made from the store and decisions the key names: kept for the next run
        ws.save_state(SUMMARY, {"key": key, **_summary_of(report)})
    if keep:
        report.items = []  # as when it comes from the kept summary
    return report


def _last_run(last: dict) -> dict:
    return {
        "started": last.get("started", ""),
        "finished": last.get("finished", ""),
        "counts": dict(last.get("counts") or {}),
        "exit_code": last.get("exit_code"),
        "notes": len(last.get("notes") or []),
    }


def _summary_key(ws: Workspace, stamp: str, reviews: str, since: str | None, now: datetime) -> str:
    """What the summary of every row depends on besides the rows: the store's stamp (generation
    and touches), the review decisions and the approvals they need, `since`, the day (today's
    group) and the time zone (arrival days and times are local), and this module (an upgrade)."""
    here = os.stat(__file__)
    return "\0".join(
        [
            SUMMARY_VERSION,
            stamp,
            reviews,
            str(ws.config.review.approvals),
            since or "",
            now.date().isoformat(),
            os.environ.get("TZ", ""),
            f"{time.tzname}{time.timezone}{time.altzone}",
            f"{here.st_size}:{here.st_mtime_ns}",
        ]
    )


def _summary_of(report: Report) -> dict:
    """The fields of a Report made from every row, as JSON (pairs where order matters)."""
    return {
        "today": asdict(report.today) if report.today else None,
        "groups": [asdict(g) for g in report.groups],
        "reasons": [asdict(r) for r in report.reasons],
        "slowest": [asdict(it) for it in report.slowest],
        "review_counts": list(report.review_counts.items()),
        "per_day": [list(d) for d in report.per_day],
    }


def _summary_from(saved: dict) -> dict:
    return {
        "today": Group(**saved["today"]) if saved["today"] else None,
        "groups": [Group(**g) for g in saved["groups"]],
        "reasons": [Reason(**r) for r in saved["reasons"]],
        "slowest": [Item(**it) for it in saved["slowest"]],
        "review_counts": dict(saved["review_counts"]),
        "per_day": [tuple(d) for d in saved["per_day"]],
    }


def _group(day: str, folder: str, its: list[Item]) -> Group:
    status = Counter(it.status for it in its)
    review = Counter(it.review for it in its)
    waits = [it.wait_seconds for it in its if it.status != "failed"]
    return Group(
        day=day,
        folder=folder,
        arrived=len(its),
        processed=status["processed"],
        failed=status["failed"],
        skipped=status["skipped"],
        approved=review["approved"],
        changes=review["changes"] + review["rejected"],
        median_wait=duration(statistics.median(waits)) if waits else "-",
        longest_wait=duration(max(waits)) if waits else "-",
        done=not status["failed"] and not (review["changes"] + review["rejected"]),
    )


def _run(row: tuple) -> Run:
    started, finished, command, counts = row
    c = json.loads(counts) if counts else {}
    return Run(started, finished or "", command, c.get("processed", 0), c.get("failed", 0), c.get("skipped", 0))


def report_path(ws: Workspace) -> Path:
    return ws.out / "site" / "report.html"
