"""After a run that changed something: build what is made from the processed assets.

The last step of the one road (intake -> job -> stages -> outputs -> store -> pages): the
preview site, template pages and banners are built here, from the store, in this order.
Each builder returns notes for the report (problems that are not an input's fault).
"""

from __future__ import annotations

from pipeline.banner_build import build_banners
from pipeline.workspace import Workspace


def publish(ws: Workspace, report: dict) -> list[str]:
    notes: list[str] = []
    notes.extend(build_banners(ws, report))  # out/banners/ (#7)
    return notes
