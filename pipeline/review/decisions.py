"""Review decisions (issue #14): who approved, asked for changes to or rejected which version of
which input, and the rules that make an input's review state from them.

Decisions live in their own table of `.crossmedia/state.db` (`review_decisions`), beside the
engine's rows: appended, never updated or deleted, so the history stays. Each is about one
version of one input, the sha256 of the bytes the store's row was made from. The engine writes
the same file during runs and watches; this module opens its own connection with a busy
timeout and writes each decision in one short `BEGIN IMMEDIATE` transaction (SQLite in WAL
mode), so a decision made while a run is busy waits its turn instead of being lost.

State rules, for the input's current version only (decisions about older versions are history):
- each reviewer's latest decision counts (a reviewer who asked for changes may approve later);
- any `rejected` outranks everything, then any `changes`;
- otherwise `approved` once [review] approvals reviewers approve, else `pending`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.batch.store import Store
from pipeline.config.workspace import Workspace
from pipeline.errors import CrossmediaError

STATES = ("pending", "approved", "changes", "rejected")
DECISIONS = ("approved", "changes", "rejected")
MAX_COMMENT = 10_000  # characters; a review comment is a note, not a document
MAX_NAME = 80

_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_decisions (
    id INTEGER PRIMARY KEY,
    input TEXT NOT NULL,             -- workspace-relative path, as in the report
    version TEXT NOT NULL,           -- sha256 of the input's bytes the decision is about
    by TEXT NOT NULL,                -- reviewer's name
    decision TEXT NOT NULL CHECK (decision IN ('approved', 'changes', 'rejected')),
    comment TEXT NOT NULL DEFAULT '',
    pin TEXT,                        -- JSON {"x": 0..1, "y": 0..1} or {"t": seconds}, or NULL
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS review_decisions_input ON review_decisions (input, id);
CREATE TABLE IF NOT EXISTS review_reviewers (
    name TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,  -- only the hash is kept: the link holds the token
    created TEXT NOT NULL
);
"""


class ReviewError(CrossmediaError):
    """A decision that cannot be recorded: unknown input, bad decision, missing comment..."""


@dataclass(frozen=True)
class Review:
    """An input's review: its state for the current version and every decision ever made about it
    (oldest first; each `{by, decision, comment, at, version}`, plus `pin` when there is one)."""

    state: str = "pending"
    approvals: int = 0
    decisions: list[dict] = field(default_factory=list)
    version: str = ""  # the input's current sha256 (the version the state is about)

    def as_dict(self) -> dict:
        return {"state": self.state, "approvals": self.approvals, "decisions": [dict(d) for d in self.decisions]}

    @property
    def current(self) -> list[dict]:
        """Decisions about the current version."""
        return [d for d in self.decisions if d["version"] == self.version]

    @property
    def history(self) -> list[dict]:
        """Decisions about earlier versions."""
        return [d for d in self.decisions if d["version"] != self.version]


PENDING = Review()


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def db_path(ws: Workspace) -> Path:
    return ws.state / "state.db"


def connect(path: Path) -> sqlite3.Connection:
    """Our own connection to the shared state.db: WAL, a long busy timeout, the review tables."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 60000")
    db.execute("PRAGMA journal_mode=WAL")
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'review_reviewers'").fetchone() is None:
        db.executescript(_SCHEMA)
    return db


def state_of(decisions: Iterable[dict], version: str, required: int) -> tuple[str, int]:
    """(state, approvals) of `version` from decisions about it and other versions (oldest first)."""
    latest: dict[str, str] = {}
    for d in decisions:
        if d["version"] == version:
            latest[d["by"]] = d["decision"]
    verdicts = set(latest.values())
    approvals = sum(1 for v in latest.values() if v == "approved")
    if "rejected" in verdicts:
        return "rejected", approvals
    if "changes" in verdicts:
        return "changes", approvals
    return ("approved" if approvals >= required else "pending"), approvals


def _decision(row: tuple) -> dict:
    _input, version, by, decision, comment, pin, at = row
    d = {"by": by, "decision": decision, "comment": comment, "at": at, "version": version}
    if pin:
        d["pin"] = json.loads(pin)
    return d


def reviews(db: sqlite3.Connection, versions: dict[str, str], required: int) -> dict[str, Review]:
    """The Review of every input in `versions` (input -> current sha256) that has decisions."""
    by_input: dict[str, list[dict]] = {}
    for row in db.execute("SELECT input, version, by, decision, comment, pin, at FROM review_decisions ORDER BY id"):
        by_input.setdefault(row[0], []).append(_decision(row))
    out = {}
    for rel, decisions in by_input.items():
        version = versions.get(rel)
        if version is None:  # the input is gone; its decisions stay in the table
            continue
        state, approvals = state_of(decisions, version, required)
        out[rel] = Review(state, approvals, decisions, version)
    return out


def versions_of(ws: Workspace) -> dict[str, str]:
    """input -> sha256 of every input in the store (read only)."""
    store = Store(db_path(ws))
    try:
        return dict(store.db.execute("SELECT input, sha256 FROM items"))
    finally:
        store.close()


def _decided_versions(ws: Workspace) -> dict[str, str]:
    """input -> sha256 of the inputs someone decided on: the others are pending whatever their
    version, and a run must not load 100,000 hashes to say so (W3, #12)."""
    store = Store(db_path(ws))
    try:
        query = "SELECT input, sha256 FROM items WHERE input IN (SELECT DISTINCT input FROM review_decisions)"
        return dict(store.db.execute(query))
    finally:
        store.close()


class Reviews(dict):
    """`review_of`'s answer: a dict input -> Review that also says which decisions it was made
    from (`generation`, read before them: a decision made meanwhile makes it older, never newer),
    for what is built from it and kept (the production report's summary, #12)."""

    def __init__(self, generation: str, found: dict[str, Review] | None = None):
        super().__init__(found or {})
        self.generation = generation


def review_of(ws: Workspace) -> Reviews:
    """Every input's review, keyed by its workspace-relative path (as in report.json). Inputs
    nobody decided on may be absent: use `.get(input, PENDING)`."""
    made_from = generation(db_path(ws))
    if made_from == "0":  # no decision yet: every input is pending
        return Reviews(made_from)
    versions = _decided_versions(ws)
    db = connect(db_path(ws))
    try:
        return Reviews(made_from, reviews(db, versions, ws.config.review.approvals))
    finally:
        db.close()


def generation(path: Path) -> str:
    """Changes whenever a decision is added to the state.db at `path` (the site's fingerprint and
    `serve`'s look for changes include it); read only, "0" when there is none."""
    if not path.exists():
        return "0"
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            found = db.execute("SELECT count(*), max(id) FROM review_decisions").fetchone()
        finally:
            db.close()
    except sqlite3.Error:  # no table yet: no decisions
        return "0"
    return f"{found[0]}-{found[1] or 0}" if found[0] else "0"  # no table, no rows: the same


# Recording ------------------------------------------------------------------------------------
def check_pin(pin: dict | None) -> dict | None:
    """A pin is a point {x, y} (0..1 on the picture) or a time {t} (seconds on the player)."""
    if pin is None:
        return None
    try:
        if set(pin) == {"x", "y"}:
            x, y = float(pin["x"]), float(pin["y"])
            if 0 <= x <= 1 and 0 <= y <= 1:
                return {"x": round(x, 4), "y": round(y, 4)}
        elif set(pin) == {"t"}:
            t = float(pin["t"])
            if 0 <= t <= 86_400:
                return {"t": round(t, 2)}
    except (TypeError, ValueError):
        pass
    raise ReviewError("a pin is a point (x and y between 0 and 1) or a time in seconds (t)")


def check_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ReviewError("say who is reviewing: --as NAME (or the name box on the page)")
    if len(name) > MAX_NAME:
        raise ReviewError(f"a reviewer's name is at most {MAX_NAME} characters")
    return name


def decide(
    ws: Workspace,
    inputs: list[str],
    decision: str,
    by: str,
    comment: str = "",
    pin: dict | None = None,
    versions: dict[str, str] | None = None,
) -> list[dict]:
    """Append one decision per input, all or none (one transaction). Checks everything first:
    a decision for an unknown input, without a name, or `changes` without a comment writes
    nothing. Returns the decisions written."""
    if decision not in DECISIONS:
        raise ReviewError(f"unknown decision {decision!r}: use one of {', '.join(DECISIONS)}")
    by = check_name(by)
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise ReviewError(f"comment too long ({len(comment)} characters, at most {MAX_COMMENT})")
    if decision == "changes" and not comment:
        raise ReviewError("say what to change: requesting changes needs a comment (-m TEXT)")
    pin = check_pin(pin)
    if not inputs:
        raise ReviewError("name at least one input (its workspace-relative path, as in out/report.json)")
    versions = versions_of(ws) if versions is None else versions
    unknown = [i for i in inputs if i not in versions]
    if unknown:
        raise ReviewError(
            f"not an input of this workspace: {', '.join(unknown)} "
            "(use the workspace-relative path, as in out/report.json or `crossmedia review list`)"
        )
    at = now()
    rows = [
        (i, versions[i], by, decision, comment, json.dumps(pin) if pin else None, at) for i in dict.fromkeys(inputs)
    ]
    db = connect(db_path(ws))
    try:
        db.execute("BEGIN IMMEDIATE")  # waits (busy timeout) for a run's write, never fails it
        try:
            db.executemany(
                "INSERT INTO review_decisions (input, version, by, decision, comment, pin, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        db.close()
    return [_decision(r) for r in rows]


def annotate(items: list[dict], found: dict[str, Review]) -> None:
    """Add `review` ({state, approvals, decisions}) to report items of inputs (not pages or
    banners: they have no version to decide on)."""
    pending = PENDING.as_dict()  # one dict shared by the items nobody decided on (W3: 100,000, #12)
    media = {"image", "audio", "video", "unknown"}
    get = found.get
    for item in items:
        if item.get("media") in media:
            review = get(item["input"])
            item["review"] = pending if review is None else review.as_dict()


# Listing --------------------------------------------------------------------------------------
def review_list(ws: Workspace, state: str | None = None) -> list[dict]:
    """`crossmedia review list`: {input, state, approvals, decisions} of every input in the store."""
    if state is not None and state not in STATES:
        raise ReviewError(f"unknown state {state!r}: use one of {', '.join(STATES)}")
    versions = versions_of(ws)
    db = connect(db_path(ws))
    try:
        found = reviews(db, versions, ws.config.review.approvals)
    finally:
        db.close()
    items = [{"input": rel, **found.get(rel, PENDING).as_dict()} for rel in sorted(versions)]
    return [i for i in items if state is None or i["state"] == state]


def format_list(items: list[dict]) -> str:
    if not items:
        return "no inputs"
    width = max(len(i["state"]) for i in items)
    lines = []
    for i in items:
        last = i["decisions"][-1] if i["decisions"] else None
        said = (
            f"  ({last['by']}: {last['decision']}{' - ' + last['comment'] if last['comment'] else ''})" if last else ""
        )
        lines.append(f"{i['state']:<{width}}  {i['approvals']}  {i['input']}{said}")
    return "\n".join(lines)
