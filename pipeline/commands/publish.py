"""After a run: build what is made from the processed assets.

The last step of the one road (intake -> job -> stages -> outputs -> store -> pages): banners,
then the preview site and template pages (the site's index links the banners), then a check of
every generated page. Each builder adds to the run's report: notes for problems that are no
input's fault, items for the page and banner files it built or refused.
"""

from __future__ import annotations

from pipeline.backup.restic import last_backup
from pipeline.banners.spec import STATE, banner_files
from pipeline.batch.report import RunReport
from pipeline.config.workspace import Workspace
from pipeline.reports.output import write_report
from pipeline.review.decisions import annotate, review_of
from pipeline.site.build import build_site
from pipeline.site.check import check_notes


def publish(ws: Workspace, report: RunReport, inputs_changed: bool) -> None:
    """`inputs_changed`: some input was processed or removed in this run (or there is no report
    yet), so everything built from the store is stale. Banners check their own files and assets."""
    # Read once for the whole step: report.json, the site and the production report all show it.
    reviews = review_of(ws)
    annotate(report.items, reviews)  # each input's review state, in out/report.json (#14)
    report.extras["backup"] = last_backup(ws)  # the last backup of the originals, or None (#16)
    if banner_files(ws) or (ws.state / STATE).exists():
        # Imported only here: the banner builder (Selenium, the asset packer) is a fifth of a
        # run's start-up, and most workspaces have no banners.
        from pipeline.banners.build import build_banners

        build_banners(ws, report)  # out/banners/ (#7)
    written = build_site(ws, report, inputs_changed, reviews)  # out/site/: preview site and pages (#6)
    # After the site (whose sweep keeps only what it wrote) and before the check (the index links
    # it): the production report of this run, every run, since its "last run" changes each time (#15)
    write_report(ws, report.as_dict(), reviews)
    if written is not None:  # read back what the site build wrote, and the banners' pages (#6)
        report.notes.extend(check_notes(ws, only=written | set((ws.out / "banners").rglob("*.html"))))
