"""What a run reports: out/report.json, the summary the commands print, the exit code."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from pipeline.atomic import write_atomic
from pipeline.batch.store import Row, State
from pipeline.errors import ExitCode
from pipeline.job import Result


@dataclass
class RunReport:
    started: str
    finished: str = ""
    counts: dict = field(default_factory=lambda: {"processed": 0, "failed": 0, "skipped": 0})
    items: list[dict] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False
    # What the after-run steps add to out/report.json, at its top level (the last backup, #16):
    # the engine carries it without knowing what it is.
    extras: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if not self.counts["failed"]:
            return ExitCode.OK
        # #17: a fault of this machine is exit 2; cron's exit tells new failures (1) from old ones
        # still there (3). Pages and banners are checked on every run that builds them: new.
        failed = [i for i in self.items if i["status"] == "failed"]
        if any(i.get("fault") for i in failed):
            return ExitCode.USAGE
        if any(i.get("new", i["media"] in ("page", "banner")) for i in failed):
            return ExitCode.INPUTS_FAILED
        return ExitCode.FAILED_BEFORE

    def as_dict(self) -> dict:
        # Shallow: asdict() deep-copied every item (W3: a third of a no-op run, #8).
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extras"}
        d.update(self.extras)
        d["exit_code"] = int(self.exit_code)
        return d


# Up to this many items, report.json is indented for people to read. Past it, one line: indent=
# makes json use its pure-Python encoder (2.4 s for 100,000 items), and the items are encoded a
# slice at a time, so that the whole document is never held twice in memory as text and bytes.
INDENT_UP_TO = 2000
_SLICE = 5000


def write_report(report: RunReport, final: Path, tmp_dir: Path) -> None:
    """out/report.json, whole or not at all (#12: a no-op run over 100,000 inputs lists them all)."""
    doc = report.as_dict()
    if len(report.items) <= INDENT_UP_TO:
        text = json.dumps(doc, indent=1, ensure_ascii=False)
        write_atomic(final, tmp_dir, lambda tmp: tmp.write_bytes(text.encode()))
        return
    # The document with its items left out, split where they go: the keys before "items" are
    # fixed or plain values, so the first '"items": []' is that key (one inside a string would be
    # escaped).
    head, mark, tail = json.dumps({**doc, "items": []}, ensure_ascii=False).partition('"items": []')
    assert mark, "report.json has no items key"

    def write(tmp: Path) -> None:
        items = report.items
        with tmp.open("wb") as f:
            f.write(f'{head}"items": ['.encode())
            for start in range(0, len(items), _SLICE):
                # No cycle to look for in items (a tenth of the encoding at 100,000, #12)
                part = json.dumps(items[start : start + _SLICE], ensure_ascii=False, check_circular=False)
                f.write(b", " if start else b"")
                f.write(part[1:-1].encode())
            f.write(f"]{tail}".encode())

    write_atomic(final, tmp_dir, write)


def item(
    result: Result | Row, status: str | None = None, with_facts: bool = False, before: State | None | bool = False
) -> dict:
    """`before`: the input's stored state before this run (None: a new input), for what is new
    since the last run (#17: `new` failures, `fixed` inputs, `new_warnings`); False: not known."""
    item = {
        "input": result.input,
        "profile": result.profile,
        "media": result.media,
        "status": status or result.status,
        "outputs": list(result.outputs),
        "warnings": list(result.warnings),
        "error": result.error,
    }
    worker = getattr(result, "worker", "")  # a Result's: stored rows do not keep it
    if worker:
        item["worker"] = worker  # "host:pid" it ran in (#13)
    if with_facts:
        item["facts"] = result.facts
    if getattr(result, "details", ""):
        item["details"] = result.details  # a tool's own words behind the plain error (#17)
    if getattr(result, "fault", False):
        item["fault"] = True  # this machine's fault, retried by the next run (#17)
    if before is not False:
        _since(item, before)
    return item


def _since(item: dict, before: State | None) -> None:
    if item["status"] == "failed":
        item["new"] = before is None or before.status != "failed" or before.error != item["error"]
        return
    if before is not None and before.status == "failed":
        item["fixed"] = True
    new = [w for w in item["warnings"] if before is None or w not in before.warnings]
    if new:
        item["new_warnings"] = new
