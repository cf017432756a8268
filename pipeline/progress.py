"""Progress: a bar on a terminal, one plain line per input otherwise (cron mails, logs)."""

from __future__ import annotations

import sys

import click

from pipeline.job import Result
from pipeline.names import printable


class Progress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.render_finish()

    def update(self, result: Result, done: int, total: int) -> None:
        line = printable(describe(result))
        if not self.tty:
            click.echo(f"[{done}/{total}] {line}", file=self.stream)
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, file=self.stream, label="processing",
                                         show_pos=True, item_show_func=lambda s: s)
            self.bar.render_progress()
        if result.status == "failed":  # failures stay on screen above the bar
            self.stream.write("\r\x1b[K" + line + "\n")
        self.bar.current_item = printable(result.input)[-40:]
        self.bar.update(1)


def describe(result: Result) -> str:
    if result.status == "failed":
        return f"failed {result.input}: {result.error}"
    if result.status == "skipped":
        return f"skipped {result.input}: {'; '.join(result.warnings)}"
    warn = f", {len(result.warnings)} warning{'s' if len(result.warnings) != 1 else ''}" if result.warnings else ""
    return f"processed {result.input} -> {len(result.outputs)} output{'s' if len(result.outputs) != 1 else ''}{warn} ({result.seconds:.1f} s)"
