"""Progress: a bar on a terminal, one plain line per input otherwise (cron mails, logs).

Long inputs (a video encode, an hour of audio) also report how far along they are from inside
the worker (`Job.progress`, see `pipeline.batch.worker.Reporter`): (input, step, fraction) on a
queue the engine drains, shown by `Progress.step` on the bar; under cron, a line every 30 s for
an input still running.
"""

from __future__ import annotations

import sys
import time

import click

from pipeline.job import Result
from pipeline.names import printable


class Progress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.bar = None
        self.said: dict[str, float] = {}  # input -> when its last plain progress line went out

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.render_finish()

    def _bar(self, total: int):
        if self.bar is None:
            self.bar = click.progressbar(
                length=max(total, 1), file=self.stream, label="processing", show_pos=True, item_show_func=lambda s: s
            )
            self.bar.render_progress()
        return self.bar

    def step(self, input: str, what: str, fraction: float, total: int) -> None:
        """An input in flight is `fraction` through `what` (e.g. "encode 1080x1920 mp4")."""
        percent = f"{min(max(fraction, 0.0), 1.0):.0%}"
        if not self.tty:  # cron: a line now and then for an input that takes long
            first = self.said.setdefault(input, time.monotonic())
            if time.monotonic() - first >= PLAIN_EVERY:
                self.said[input] = time.monotonic()
                click.echo(f"... {printable(input)}: {printable(what)} {percent}", file=self.stream)
            return
        bar = self._bar(total)
        bar.current_item = f"{printable(input)[-32:]}: {printable(what)} {percent}"
        bar.render_progress()

    def update(self, result: Result, done: int, total: int) -> None:
        line = printable(describe(result))
        self.said.pop(result.input, None)
        if not self.tty:
            click.echo(f"[{done}/{total}] {line}", file=self.stream)
            return
        bar = self._bar(total)
        if result.status == "failed":  # failures stay on screen above the bar
            self.stream.write("\r\x1b[K" + line + "\n")
        bar.current_item = printable(result.input)[-40:]
        bar.update(1)


def describe(result: Result) -> str:
    if result.status == "failed":
        return f"failed {result.input}: {result.error}"
    if result.status == "skipped":
        return f"skipped {result.input}: {'; '.join(result.warnings)}"
    warn = f", {len(result.warnings)} warning{'s' if len(result.warnings) != 1 else ''}" if result.warnings else ""
    outputs = f"{len(result.outputs)} output{'s' if len(result.outputs) != 1 else ''}"
    return f"processed {result.input} -> {outputs}{warn} ({result.seconds:.1f} s)"


# Under cron a running input says how far it is at most this often (seconds).
PLAIN_EVERY = 30.0
