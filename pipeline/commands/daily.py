"""What `run` says at the end of a day's batch (#17): warnings listed per input, and for cron
(`run --quiet`) only what is new since the last run, nothing at all when nothing happened.

"New" is decided by the engine, which holds each input's state before the run: a failure is new
when the input was not failed before or fails for another reason now (`item["new"]`), a warning
is new when the input's earlier state did not have it (`item["new_warnings"]`).
"""

from __future__ import annotations

from pipeline.names import printable

# Items the publish step adds (pages, banners) are not inputs: "[1/11]" then "13 processed" (#17).
NOT_INPUTS = ("page", "banner")


def input_counts(report: dict) -> dict[str, int]:
    """processed/failed/skipped of the watched folders' inputs, without pages and banners."""
    counts = {"processed": 0, "failed": 0, "skipped": 0}
    for item in report["items"]:
        if item["media"] not in NOT_INPUTS:
            counts[item["status"]] = counts.get(item["status"], 0) + 1
    return counts


def built(report: dict) -> str:
    """ ", 1 page and 1 banner built" for what the publish step made in this run ("" for none)."""
    made = [i["media"] for i in report["items"] if i["media"] in NOT_INPUTS and i["status"] == "processed"]
    parts = [f"{made.count(m)} {m}{'s' if made.count(m) != 1 else ''}" for m in NOT_INPUTS if made.count(m)]
    return f"; {' and '.join(parts)} built" if parts else ""


def warning_lines(items: list[dict], only_processed: bool = True) -> list[str]:
    """Warnings grouped per input: the input on one line, each warning under it."""
    lines: list[str] = []
    for item in items:
        if not item.get("warnings") or (only_processed and item["status"] != "processed"):
            continue
        lines.append(f"  {printable(item['input'])}:")
        lines += [f"    - {printable(w)}" for w in item["warnings"]]
    return lines


def digest(report: dict, root: str) -> list[str]:
    """The lines of `run --quiet`: what is new since the last run, [] when nothing happened."""
    items = [i for i in report["items"] if i["media"] not in NOT_INPUTS]
    new_failed = [i for i in items if i["status"] == "failed" and i.get("new")]
    old_failed = [i for i in items if i["status"] == "failed" and not i.get("new")]
    processed = [i for i in items if i["status"] == "processed"]
    lines = [f"new failure: {printable(i['input'])}: {printable(i['error'])}" for i in new_failed]
    lines += [
        f"new warning: {printable(i['input'])}: {printable(w)}" for i in processed for w in i.get("new_warnings", [])
    ]
    lines += [f"processed: {printable(i['input'])}{' (failed before)' if i.get('fixed') else ''}" for i in processed]
    lines += [f"removed: {printable(r)}" for r in report.get("removed", [])]
    if not lines:
        return [f"note: {n}" for n in report.get("notes", [])]
    tail = f"{len(processed)} processed, {len(new_failed)} new failure{'s' if len(new_failed) != 1 else ''}"
    if old_failed:
        tail += f", {len(old_failed)} still failed from earlier runs (crossmedia status -w {root})"
    return [*lines, *(f"note: {n}" for n in report.get("notes", [])), tail]
