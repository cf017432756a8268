"""What a run reports: out/report.json, the summary the commands print, the exit code."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from pipeline.batch.store import Row
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

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        return ExitCode.INPUTS_FAILED if self.counts["failed"] else ExitCode.OK

    def as_dict(self) -> dict:
        # Shallow: asdict() deep-copied every item (W3: a third of a no-op run, #8).
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["exit_code"] = int(self.exit_code)
        return d


def item(result: Result | Row, status: str | None = None, with_facts: bool = False) -> dict:
    item = {
        "input": result.input,
        "profile": result.profile,
        "media": result.media,
        "status": status or result.status,
        "outputs": list(result.outputs),
        "warnings": list(result.warnings),
        "error": result.error,
    }
    if with_facts:
        item["facts"] = result.facts
    return item
