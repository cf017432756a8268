"""Review and approval (issue #14): decisions and state rules, the `review` commands, report.json
and status, the static site, `serve --review` (CSRF, tokens, limits) and a real Chromium run.

Media: images/tiny-128.jpg and images/gray.jpg from the shared corpus (SOURCES.md: made for the
project, CC0), copied into the temp workspace.
"""

from __future__ import annotations

import http.client
import json
import re
import sqlite3
import threading
import urllib.parse

import pytest
from bs4 import BeautifulSoup

from pipeline.review.decisions import PENDING, state_of

INPUT = "inbox/web/tiny-128.jpg"
HOSTILE = '<script>alert(1)</script> "onload=alert(2) x'


# State rules ---------------------------------------------------------------------------------
def _d(by: str, decision: str, version: str = "v1") -> dict:
    return {"by": by, "decision": decision, "comment": "", "at": "", "version": version}


@pytest.mark.parametrize(
    ("decisions", "required", "expected"),
    [
        ([], 1, ("pending", 0)),
        ([_d("ann", "approved")], 1, ("approved", 1)),
        ([_d("ann", "approved")], 2, ("pending", 1)),
        ([_d("ann", "approved"), _d("ann", "approved")], 2, ("pending", 1)),  # one reviewer counts once
        ([_d("ann", "approved"), _d("bob", "approved")], 2, ("approved", 2)),
        ([_d("ann", "approved"), _d("bob", "changes")], 1, ("changes", 1)),  # changes outrank approvals
        ([_d("ann", "changes"), _d("bob", "rejected")], 1, ("rejected", 0)),  # rejected outranks changes
        ([_d("ann", "changes"), _d("ann", "approved")], 1, ("approved", 1)),  # a reviewer's latest counts
        ([_d("ann", "approved", "v0")], 1, ("pending", 0)),  # decided on an older version only
    ],
)
def test_state_rules(decisions, required, expected):
    assert state_of(decisions, "v1", required) == expected


def test_pending_is_the_default():
    assert PENDING.state == "pending" and PENDING.approvals == 0 and PENDING.decisions == []
    assert PENDING.as_dict() == {"state": "pending", "approvals": 0, "decisions": []}


# CLI, report.json, status --------------------------------------------------------------------
@pytest.fixture
def reviewed(ws, corpus):
    ws.drop("images/tiny-128.jpg")
    ws.run(expect=0)
    return ws


def _list(ws, *extra) -> list[dict]:
    return json.loads(ws.cli("review", "list", "-w", str(ws.root), "--json", *extra, expect=0).output)


def _rows(ws) -> int:
    db = sqlite3.connect(ws.root / ".crossmedia/state.db")
    try:
        return db.execute("SELECT count(*) FROM review_decisions").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def test_cli_decisions_list_and_report(reviewed):
    ws = reviewed
    assert _list(ws) == [{"input": INPUT, "state": "pending", "approvals": 0, "decisions": []}]
    ws.cli("review", "approve", INPUT, "-w", str(ws.root), "--as", "Ann", expect=0)
    (item,) = _list(ws)
    assert item["state"] == "approved" and item["approvals"] == 1
    (d,) = item["decisions"]
    assert d["by"] == "Ann" and d["decision"] == "approved" and len(d["version"]) == 64
    assert _list(ws, "--state", "pending") == []
    ws.cli("review", "reject", INPUT, "-w", str(ws.root), "--as", "Bob", "-m", "wrong product", expect=0)
    assert _list(ws, "--state", "rejected")[0]["decisions"][-1]["comment"] == "wrong product"
    ws.run(expect=0)  # the publish step writes the review into report.json
    review = ws.item(INPUT)["review"]
    assert review["state"] == "rejected" and [x["by"] for x in review["decisions"]] == ["Ann", "Bob"]
    status = json.loads(ws.cli("status", "-w", str(ws.root), "--json", expect=0).output)
    assert status["review"]["counts"] == {"rejected": 1}
    assert status["review"]["items"][INPUT]["state"] == "rejected"
    assert "review: 1 rejected" in ws.cli("status", "-w", str(ws.root), expect=0).output


def test_cli_refuses_and_writes_nothing(reviewed):
    ws = reviewed
    r = ws.cli("review", "changes", INPUT, "-w", str(ws.root), "--as", "Ann", expect=2)
    assert "needs a comment" in r.output
    r = ws.cli("review", "approve", INPUT, "inbox/web/nope.jpg", "-w", str(ws.root), "--as", "Ann", expect=2)
    assert "not an input of this workspace: inbox/web/nope.jpg" in r.output
    assert "Traceback" not in r.output
    r = ws.cli("review", "approve", INPUT, "-w", str(ws.root), "--as", "  ", expect=2)
    assert "say who is reviewing" in r.output
    assert _rows(ws) == 0
    assert _list(ws)[0]["state"] == "pending"


def test_required_approvals_from_config(reviewed):
    ws = reviewed
    config = ws.root / "crossmedia.toml"
    config.write_text(config.read_text() + "\n[review]\napprovals = 2\n")
    ws.cli("review", "approve", INPUT, "-w", str(ws.root), "--as", "Ann", expect=0)
    assert _list(ws)[0]["state"] == "pending"
    ws.cli("review", "approve", INPUT, "-w", str(ws.root), "--as", "Bob", expect=0)
    assert _list(ws)[0]["state"] == "approved"
    config.write_text(config.read_text().replace("approvals = 2", "approvals = 0"))
    r = ws.cli("review", "list", "-w", str(ws.root), expect=2)
    assert "approvals" in r.output


def test_new_version_starts_pending_and_keeps_history(reviewed, corpus):
    ws = reviewed
    ws.cli("review", "approve", INPUT, "-w", str(ws.root), "--as", "Ann", expect=0)
    ws.drop("images/gray.jpg", name="tiny-128.jpg")  # new bytes, same input
    ws.run(expect=0)
    (item,) = _list(ws)
    assert item["state"] == "pending" and item["approvals"] == 0
    assert [d["decision"] for d in item["decisions"]] == ["approved"]  # history kept
    assert ws.item(INPUT)["review"]["state"] == "pending"
    page = _asset_page(ws)
    assert page.select_one("[data-review-state]")["data-review-state"] == "pending"
    history = page.select_one("details.history")
    assert history is not None and "Ann" in history.get_text()
    previous = page.select_one(".previous-version img")  # the picture of the version before
    assert previous is not None
    assert (ws.root / "out/site/asset" / previous["src"]).resolve().is_file()


def test_a_decision_waits_for_a_busy_store(reviewed):
    """A run or watcher writing the store holds its lock for a moment: the decision waits for it
    and is written, never lost."""
    from pipeline.config.workspace import Workspace
    from pipeline.review.decisions import decide, review_of

    ws = Workspace.open(reviewed.root)
    holder = sqlite3.connect(ws.state / "state.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # what the engine holds while it records a row
    started = threading.Event()
    errors: list[BaseException] = []

    def decide_now():
        started.set()
        try:
            decide(ws, [INPUT], "approved", "Ann")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    t = threading.Thread(target=decide_now)
    t.start()
    started.wait()
    t.join(0.5)
    assert t.is_alive()  # blocked by the writer, not failed
    holder.execute("COMMIT")
    holder.close()
    t.join()
    assert not errors
    assert review_of(ws)[INPUT].state == "approved"


# The static site -----------------------------------------------------------------------------
def _asset_page(ws) -> BeautifulSoup:
    (path,) = (ws.root / "out/site/asset").glob("tiny-128.jpg-*.html")
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def test_static_site_shows_state_and_history_read_only(reviewed):
    ws = reviewed
    ws.cli("review", "changes", INPUT, "-w", str(ws.root), "--as", "Ann", "-m", HOSTILE, expect=0)
    ws.run(expect=0)
    page = _asset_page(ws)
    section = page.select_one("#review")
    assert section.select_one("[data-review-state]")["data-review-state"] == "changes"
    assert section.select_one(".comment").get_text() == HOSTILE  # shown as text
    assert not [s for s in page.find_all("script") if "alert" in (s.string or "")]
    assert section.select_one("form")["hidden"] == ""  # on disk: no form to use
    assert section.select_one("form").get("action") is None  # and nothing that breaks from file://
    assert "crossmedia serve --review" in section.select_one("[data-static-only]").get_text()
    assert "Not approved" in section.get_text()
    index = BeautifulSoup((ws.root / "out/site/index.html").read_text(encoding="utf-8"), "html.parser")
    card = index.select_one(f'.card[data-search*="{INPUT}"]')
    assert card["data-review"] == "changes"
    assert [o.get_text() for o in index.select("select[name=review] option")][1:] == [
        "pending",
        "approved",
        "changes",
        "rejected",
    ]


def test_index_sorts_needing_attention_first(ws, corpus):
    ws.drop("images/tiny-128.jpg", name="a.jpg")  # warnings (too small for the profile)
    ws.drop("images/logo.svg", name="b.svg")
    ws.drop("broken/" + next(p.name for p in (corpus / "broken").iterdir()), name="c.jpg")
    ws.run()
    ws.cli("review", "changes", "inbox/web/b.svg", "-w", str(ws.root), "--as", "Ann", "-m", "bigger", expect=0)
    ws.run()
    index = BeautifulSoup((ws.root / "out/site/index.html").read_text(encoding="utf-8"), "html.parser")
    order = [c["data-search"].split()[0] for c in index.select("#assets .card")]
    assert order == ["inbox/web/c.jpg", "inbox/web/b.svg", "inbox/web/a.jpg"]
    first = index.select_one('.card[data-search^="inbox/web/a.jpg"] .card-warning')
    assert first is not None and "small" in first.get_text()


# serve --review over HTTP ----------------------------------------------------------------------
class Served:
    def __init__(self, ws, server, watcher, host):
        self.ws, self.server, self.watcher, self.host = ws, server, watcher, host
        self.port = server.server_address[1]

    def request(self, method, path, body=b"", headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read().decode("utf-8", "replace")
        conn.close()
        return r.status, dict(r.getheaders()), data

    def page(self, headers=None) -> tuple[str, str]:
        (path,) = (self.ws.root / "out/site/asset").glob("tiny-128.jpg-*.html")
        url = "/" + path.relative_to(self.ws.root / "out").as_posix()
        status, _, html = self.request("GET", url, headers=headers)
        assert status == 200, html
        return url, html

    def post(self, fields, headers=None):
        body = urllib.parse.urlencode(fields, doseq=True).encode()
        h = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", "/__crossmedia/review", body, h)


def _serve(ws, host="127.0.0.1"):
    from pipeline.batch.engine import run
    from pipeline.commands.publish import publish
    from pipeline.config.workspace import Workspace
    from pipeline.site.serve import Watcher, make_server

    watcher = Watcher(ws.root, lambda w: run(w, jobs=1, command="serve", after=(publish,)), echo=lambda _: None)
    watcher.tick()
    server = make_server(Workspace.open(ws.root), port=0, host=host, review=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Served(ws, server, watcher, host)


@pytest.fixture
def served(reviewed):
    s = _serve(reviewed)
    try:
        yield s
    finally:
        s.server.shutdown()
        s.server.server_close()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def test_serve_review_records_a_decision_with_a_pin(served):
    url, html = served.page()
    soup = BeautifulSoup(html, "html.parser")
    form = soup.select_one("form.review-form")
    assert not form.has_attr("hidden") and form["action"] == "/__crossmedia/review"
    assert soup.select_one("[data-static-only]").has_attr("hidden")
    fields = {"csrf": _csrf(html), "input": INPUT, "decision": "changes", "comment": HOSTILE, "by": "Ann"}
    status, headers, _ = served.post({**fields, "pin_x": "0.25", "pin_y": "0.75", "back": url})
    assert status == 303 and headers["Location"] == url + "#review"
    (d,) = _list(served.ws)[0]["decisions"]
    assert d["pin"] == {"x": 0.25, "y": 0.75} and d["comment"] == HOSTILE
    assert served.watcher.tick()  # the decision changed the site: rebuilt
    _, html = served.page()
    soup = BeautifulSoup(html, "html.parser")
    assert soup.select_one("[data-review-state]")["data-review-state"] == "changes"
    pin = soup.select_one(".crop-frame .pin")
    assert pin is not None and "left:25.00%;top:75.00%" in pin["style"]
    assert soup.select_one("#review .comment").get_text() == HOSTILE


def test_serve_review_refuses_bad_requests_and_writes_nothing(served):
    url, html = served.page()
    good = {"csrf": _csrf(html), "input": INPUT, "decision": "approved", "by": "Ann", "back": url}
    assert served.post({**good, "csrf": ""})[0] == 403  # no CSRF token
    assert served.post({**good, "csrf": "0" * 64})[0] == 403  # a wrong one
    status, _, body = served.post(good, {"Origin": "http://evil.example"})  # another site's form
    assert status == 403 and "another site" in body
    status, _, body = served.post({**good, "comment": "x" * 1_000_000})
    assert status == 413 and "too large" in body
    status, _, body = served.post({**good, "input": "inbox/web/nope.jpg"})
    assert status == 404 and "not an input" in body
    assert served.post({**good, "decision": "changes"})[0] == 400  # changes without a comment
    assert served.post({**good, "decision": "maybe"})[0] == 400
    assert served.post({**good, "pin_x": "2", "pin_y": "0"})[0] == 400
    status, _, _ = served.request("GET", url, headers={"Host": "evil.example"})
    assert status == 403  # DNS rebinding: on loopback only 127.0.0.1 and localhost
    assert _rows(served.ws) == 0
    status, _, _ = served.post(good, {"Origin": f"http://127.0.0.1:{served.port}"})
    assert status == 303 and _rows(served.ws) == 1  # the same request, well-formed, is taken


def test_shared_serve_needs_a_token(reviewed):
    ws = reviewed
    token = ws.cli("review", "invite", "Carol", "-w", str(ws.root), expect=0).stdout.strip().rsplit("=", 1)[1]
    s = _serve(ws, host="0.0.0.0")  # noqa: S104 - what --host does
    try:
        (path,) = (ws.root / "out/site/asset").glob("tiny-128.jpg-*.html")
        url = "/" + path.relative_to(ws.root / "out").as_posix()
        status, _, body = s.request("GET", url)
        assert status == 403 and "review link" in body
        assert s.request("GET", url + "?token=wrong")[0] == 403
        status, headers, _ = s.request("GET", url + "?token=" + token)
        assert status == 303 and headers["Location"] == url
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
        status, _, html = s.request("GET", url, headers={"Cookie": cookie})
        assert status == 200 and 'name="by" value="Carol" readonly' in html
        fields = {"csrf": _csrf(html), "input": INPUT, "decision": "approved", "by": "Mallory", "back": url}
        assert s.post(fields)[0] == 403  # without the cookie
        assert s.post(fields, {"Cookie": cookie})[0] == 303
        (d,) = _list(ws)[0]["decisions"]
        assert d["by"] == "Carol"  # the name comes from the token, not the form
        ws.cli("review", "invite", "Carol", "-w", str(ws.root), expect=0)  # a new link revokes the old
        assert s.request("GET", url, headers={"Cookie": cookie})[0] == 403
    finally:
        s.server.shutdown()
        s.server.server_close()


def test_serve_command_has_review_options():
    from click.testing import CliRunner

    from pipeline.commands.cli import cli

    text = CliRunner().invoke(cli, ["serve", "--help"]).output
    assert "--review" in text and "--host" in text and "invite" in text


# Real Chromium ---------------------------------------------------------------------------------
@pytest.mark.browser
def test_browser_review_round_trip(served, browser, corpus):
    from selenium.webdriver.common.by import By

    from tests.conftest import screenshot, settle

    ws = served.ws
    url, _ = served.page()
    browser.get(f"http://127.0.0.1:{served.port}{url}")
    settle(browser)
    browser.find_element(By.NAME, "by").send_keys("Ann")
    browser.find_element(By.CSS_SELECTOR, 'button[data-review="approved"]').click()
    settle(browser)
    served.watcher.tick()  # what the serve loop does after a decision
    browser.get(f"http://127.0.0.1:{served.port}{url}")
    settle(browser)
    state = browser.find_element(By.CSS_SELECTOR, "[data-review-state]")
    assert state.get_attribute("data-review-state") == "approved"
    assert _list(ws)[0]["state"] == "approved" and _list(ws)[0]["decisions"][0]["by"] == "Ann"

    # Changes with a comment pinned to a spot on the image; the name was remembered.
    assert browser.find_element(By.NAME, "by").get_attribute("value") == "Ann"
    browser.find_element(By.NAME, "comment").send_keys(HOSTILE)
    browser.find_element(By.CSS_SELECTOR, ".source .crop-frame img").click()  # the middle of the picture
    assert browser.find_element(By.NAME, "pin_x").get_attribute("value")
    browser.find_element(By.CSS_SELECTOR, 'button[data-review="changes"]').click()
    settle(browser)
    served.watcher.tick()
    browser.get(f"http://127.0.0.1:{served.port}{url}")
    settle(browser)
    assert browser.find_element(By.CSS_SELECTOR, "[data-review-state]").get_attribute("data-review-state") == "changes"
    comments = browser.find_elements(By.CSS_SELECTOR, "#review .comment")
    assert comments[-1].text == HOSTILE  # as text: no script ran, no attribute was made
    assert browser.execute_script("return document.querySelectorAll('#review script, [onload]').length") == 0
    pin = _list(ws)[0]["decisions"][-1]["pin"]
    assert abs(pin["x"] - 0.5) < 0.1 and abs(pin["y"] - 0.5) < 0.1
    assert browser.find_elements(By.CSS_SELECTOR, ".crop-frame .pin")
    screenshot(browser, "review-changes-pinned")

    # A new version of the input: pending again, the earlier decisions kept as history.
    ws.drop("images/gray.jpg", name="tiny-128.jpg")
    assert served.watcher.tick()
    url, _ = served.page()
    browser.get(f"http://127.0.0.1:{served.port}{url}")
    settle(browser)
    assert browser.find_element(By.CSS_SELECTOR, "[data-review-state]").get_attribute("data-review-state") == "pending"
    assert "Earlier versions: 2 decisions" in browser.find_element(By.CSS_SELECTOR, "details.history").text
    assert _list(ws)[0]["state"] == "pending"


def test_time_pins_go_on_the_timeline(ws):
    """Audio and video: a comment pinned at a time is drawn on the timeline at its share of the
    kept duration; a point pin (images) goes over the picture instead."""
    from pipeline.batch.store import Row
    from pipeline.config.workspace import Workspace
    from pipeline.review.decisions import Review
    from pipeline.site.review import review_view

    row = Row("inbox/podcast/a.mp3", "podcast", "audio", "processed", 1, 1, "v" * 64, "r")
    decisions = [
        {**_d("ann", "changes", "v" * 64), "comment": "cough", "pin": {"t": 3.0}},
        {**_d("bob", "approved", "u" * 64), "comment": "old"},
    ]
    view = review_view(
        Workspace.open(ws.root), row, Review("changes", 0, decisions, "v" * 64), "site/a.html", None, 12.0
    )
    assert view.pin_kind == "time" and view.image_pins == []
    (pin,) = view.time_pins
    assert str(pin.style) == "left:25.00%" and pin.label == "at 0:03"
    assert [d.by for d in view.current] == ["ann"] and [d.by for d in view.history] == ["bob"]
    assert not view.deliverable and view.label == "changes requested"


def test_asset_page_shows_sidecar_text_and_download_links(ws, corpus):
    ws.drop("images/tiny-128.jpg")
    ws.write("inbox/web/tiny-128.jpg.toml", 'alt = "Grace <b>Hopper</b>"\ntitle = "Portrait"\ncredit = "Navy"\n')
    ws.run()
    page = _asset_page(ws)
    said = dict(
        zip(
            [t.get_text() for t in page.select(".sidecar dt")],
            [d.get_text() for d in page.select(".sidecar dd")],
            strict=True,
        )
    )
    assert said == {"Title": "Portrait", "Alt text": "Grace <b>Hopper</b>", "Credit": "Navy"}
    links = page.select("table.renditions a")
    assert links and all(a.has_attr("download") for a in links)


@pytest.mark.browser
def test_browser_bulk_approve_on_the_index(reviewed, browser, corpus):
    """Select two of three cards on the index, approve them at once: those two, and only they,
    are approved, by the name typed once."""
    from selenium.webdriver.common.by import By

    from tests.conftest import settle

    ws = reviewed
    ws.drop("images/gray.jpg")
    ws.drop("images/logo.svg")
    ws.run()
    s = _serve(ws)
    try:
        base = f"http://127.0.0.1:{s.port}"
        browser.get(base + "/site/index.html")
        settle(browser)
        chosen = ["inbox/web/gray.jpg", INPUT]
        for value in chosen:
            browser.find_element(By.CSS_SELECTOR, f'input[form="bulk"][value="{value}"]').click()
        bulk = browser.find_element(By.ID, "bulk")
        bulk.find_element(By.NAME, "by").send_keys("Dana")
        bulk.find_element(By.CSS_SELECTOR, 'button[data-review="approved"]').click()
        settle(browser)
        assert browser.current_url.startswith(base + "/site/index.html")
        states = {item["input"]: item for item in _list(ws)}
        assert {i for i, item in states.items() if item["state"] == "approved"} == set(chosen)
        assert states["inbox/web/logo.svg"]["state"] == "pending"
        assert all(states[i]["decisions"][0]["by"] == "Dana" for i in chosen)

        s.watcher.tick()  # the serve loop rebuilds the site after a decision
        browser.get(base + "/site/index.html")
        settle(browser)
        shown = {
            c.get_attribute("data-search").split()[0]: c.get_attribute("data-review")
            for c in browser.find_elements(By.CSS_SELECTOR, "#assets .card")
        }
        assert shown == {"inbox/web/gray.jpg": "approved", INPUT: "approved", "inbox/web/logo.svg": "pending"}
    finally:
        s.server.shutdown()
        s.server.server_close()


def test_decisions_outlive_a_damaged_store(reviewed):
    """The store is moved aside and rebuilt when damaged (every input is checked again), but the
    decisions in the same file are people's work that no run can make again: they are carried
    over from the damaged file, with their index."""
    import random

    ws = reviewed
    ws.cli("review", "approve", INPUT, "-w", str(ws.root), "--as", "Ann", "-m", "fine", expect=0)
    db = ws.root / ".crossmedia/state.db"
    c = sqlite3.connect(db, isolation_level=None)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = c.execute("PRAGMA page_size").fetchone()[0]
    (root,) = c.execute("SELECT rootpage FROM sqlite_master WHERE name = 'items'").fetchone()
    c.close()
    with db.open("r+b") as f:  # the engine's rows are garbage; the decisions' pages are not
        f.seek((root - 1) * page)
        f.write(random.Random(5).randbytes(page))

    ws.run(expect=0)
    notes = " ".join(ws.report()["notes"])
    assert "state database state.db was damaged" in notes and "kept 1 row of review_decisions" in notes, notes
    (item,) = _list(ws)
    assert item["state"] == "approved" and item["decisions"][0]["by"] == "Ann"
    assert item["decisions"][0]["comment"] == "fine"
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert c.execute("SELECT 1 FROM sqlite_master WHERE name = 'review_decisions_input'").fetchone()
    assert list(db.parent.glob("state.db.damaged-*")), "the damaged file is kept aside all the same"
