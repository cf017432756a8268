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
