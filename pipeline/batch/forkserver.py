"""The fork server the worker processes are forked from, and starting it early.

Workers fork from a server that has imported the stages (Pillow, ffmpeg-python) once.
That server takes a few tenths of a second to boot; `crossmedia run` starts it first thing, so
it boots while the run imports the engine and loads the workspace, instead of after (W2: the
pipeline's own share of a short video batch).
"""

from __future__ import annotations

import multiprocessing
import sys
import threading

# The fork server starts as `python -c ...`, which puts the current folder first on its import
# path: in a workspace, its profiles/ folder would shadow the built-in profiles package. This
# module is preloaded first, and drops that entry before anything else is imported.
# Not numpy: the preload is on the critical path of every run (the first worker waits for it),
# and numpy alone added 0.12 s to it; saliency is Pillow-only, and the rare `entropy` gravity
# imports numpy in the worker that needs it (W1, #12).
PRELOAD = ["pipeline.batch.forkserver", "pipeline.batch.worker", "stages"]
sys.path[:] = [p for p in sys.path if p not in ("", ".")]


def forkserver():
    """The multiprocessing context every worker pool uses."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start_early() -> None:
    """Boot the fork server in the background; the first pool waits for it if it is not ready."""
    from multiprocessing import forkserver as server

    forkserver()
    threading.Thread(target=server.ensure_running, daemon=True, name="forkserver-start").start()
