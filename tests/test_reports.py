"""The production report (issue #15): out/site/report.html after every run, `crossmedia report`
as HTML, CSV and JSON; counts equal out/report.json's; hostile names are text.

Media from ../shared/corpus (SOURCES.md): images/orient-1.jpg, images/tiny-128.jpg, and
broken/empty.png (fails) under a hostile name.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from bs4 import BeautifulSoup

HOSTILE = "<img src=x onerror=alert(1)>.jpg"


def _workspace(ws, corpus: Path):
    ws.drop(corpus / "images/orient-1.jpg", "inbox/web")
    ws.drop(corpus / "images/tiny-128.jpg", "inbox/social")
    ws.drop(corpus / "broken/empty.png", "inbox/web", name=HOSTILE)
    return ws.run(expect=1)


def test_report_page_counts_equal_report_json_and_names_are_text(ws, corpus: Path) -> None:
    result = _workspace(ws, corpus)
    assert "out/site/report.html" in result.output  # the summary cron mails names it
    report = ws.report()
    page = ws.root / "out/site/report.html"
    html = page.read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html.parser")
    shown = {li["class"][0].removeprefix("count-"): int(li.strong.text) for li in soup.select("#last-run li")}
    assert shown == report["counts"] and shown["failed"] == 1
    # per day and folder: every stored input counted once
    groups = soup.select("#groups tbody tr")
    assert sum(int(tr.find_all("td")[2].text) for tr in groups) == 3
    assert {tr.find_all("td")[1].text for tr in groups} == {"inbox/web", "inbox/social"}
    # the failure, grouped by reason, with the hostile name as text only
    assert len(soup.select("#reasons tbody tr")) == 1
    assert f"inbox/web/{HOSTILE}" in soup.select_one("#reasons").get_text()
    assert soup.find("img") is None and "onerror=alert(1)>" not in html.replace("&gt;", "")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    charts = soup.select("svg.chart")
    assert len(charts) == 2 and "http" not in "".join(map(str, charts))  # arrivals, failures; no requests
    assert not soup.select("script") and "not done" in soup.select_one("#today").get_text()
    # the index links it, and the check finds nothing wrong with either
    index = BeautifulSoup((ws.root / "out/site/index.html").read_text(encoding="utf-8"), "html.parser")
    assert index.select_one('a[href="report.html"]') is not None
    assert not [n for n in report["notes"] if "report.html" in n]


def test_report_command_csv_and_json_agree_with_the_store(ws, corpus: Path) -> None:
    _workspace(ws, corpus)
    rows = list(csv.DictReader(io.StringIO(ws.cli("report", "-w", str(ws.root), "--format", "csv", expect=0).output)))
    assert sorted(r["input"] for r in rows) == sorted(
        i["input"] for i in ws.report()["items"] if i["profile"] not in ("page", "banner")
    )
    failed = [r for r in rows if r["status"] == "failed"]
    assert [r["input"] for r in failed] == [f"inbox/web/{HOSTILE}"] and failed[0]["error"]
    assert all(r["review"] == "pending" for r in rows)
    data = json.loads(ws.cli("report", "-w", str(ws.root), "--format", "json", expect=0).output)
    assert data["last_run"]["counts"] == ws.report()["counts"]
    assert sum(g["failed"] for g in data["groups"]) == 1 and data["reasons"][0]["count"] == 1
    later = json.loads(ws.cli("report", "-w", str(ws.root), "--format", "json", "--since", "2999-01-01").output)
    assert later["items"] == [] and later["groups"] == []
    page = ws.cli("report", "-w", str(ws.root), expect=0).output
    assert page.startswith("<!DOCTYPE html>") and "&lt;img src=x onerror=alert(1)&gt;" in page
    bad = ws.cli("report", "-w", str(ws.root), "--since", "yesterday")
    assert bad.exit_code == 2 and "yesterday" in bad.output


def _page(ws) -> BeautifulSoup:
    return BeautifulSoup((ws.root / "out/site/report.html").read_text(encoding="utf-8"), "html.parser")


def _review_counts(ws) -> dict[str, int]:
    return {li.contents[-1].strip(): int(li.strong.text) for li in _page(ws).select("#review li")}


def test_the_kept_summary_is_made_again_when_a_decision_a_touch_or_an_input_changes(ws, corpus: Path) -> None:
    """The publish step keeps the report's summary of every row between runs (#12: a run that
    changed nothing reads no row); a review decision, a touched input (its arrival) and a changed
    input each show on report.html after the next run that changes nothing else."""
    import os
    import shutil

    _workspace(ws, corpus)
    kept = ws.root / ".crossmedia/report-summary.json"
    assert kept.is_file()
    ws.run(expect=3)  # nothing new: made from the kept summary, same page but for its times
    assert _review_counts(ws) == {"pending": 3}
    assert json.loads(kept.read_text())["key"]

    web = "inbox/web/orient-1.jpg"
    ws.cli("review", "approve", web, "-w", str(ws.root), "--as", "Ann", expect=0)
    ws.run(expect=3)
    assert _review_counts(ws) == {"approved": 1, "pending": 2}
    assert ws.item(web)["review"]["state"] == "approved"  # report.json too
    assert ws.item("inbox/social/tiny-128.jpg")["review"] == {"state": "pending", "approvals": 0, "decisions": []}

    # Same bytes, another mtime (a copy that kept the content): not processed again, but it
    # arrived on another day as far as the report knows.
    photo = ws.root / web
    os.utime(photo, ns=(1_262_347_200_000_000_000, 1_262_347_200_000_000_000))  # 2010-01-01
    assert ws.run(expect=3).exit_code == 3 and ws.report()["counts"]["processed"] == 0
    days = {tr.find_all("td")[0].text for tr in _page(ws).select("#groups tbody tr")}
    assert any(d.startswith("2010-01-0") or d.startswith("2009-12-31") for d in days), days

    # A changed input is processed: its approval was for the old bytes.
    shutil.copyfile(corpus / "images/tiny-128.jpg", photo)
    ws.run(expect=3)
    assert ws.report()["counts"]["processed"] == 1
    assert _review_counts(ws) == {"pending": 3}
    # A run that changed nothing shows the kept summary, not the rows (altered here to tell them
    # apart), and one that cannot be read is made again.
    kept.write_text(json.dumps({**json.loads(kept.read_text()), "groups": []}))
    ws.run(expect=3)
    assert len(_page(ws).select("#groups tbody tr")) == 0
    kept.write_text("{")
    ws.run(expect=3)
    assert sum(int(tr.find_all("td")[2].text) for tr in _page(ws).select("#groups tbody tr")) == 3
