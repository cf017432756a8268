"""Who may review through `crossmedia serve --review` (issue #14), and what a review request says.

- On 127.0.0.1 (the default) whoever can open the page is trusted, as with the rest of `serve`;
  the reviewer types their name once.
- Shared on a LAN (`--host`), every request needs a reviewer's token: `crossmedia review invite
  NAME` makes one and prints a link with it; opening the link stores it in a cookie
  (HttpOnly, SameSite=Strict) and the name comes from the token, not from the form. Only a
  hash of each token is kept (`review_reviewers` in state.db); inviting a name again replaces
  its token, which revokes the old link.
- Every POST carries a CSRF token (an HMAC of the server's secret and the reviewer) that only
  pages sent by this server hold, and its Origin, when the browser sends one, must be the
  server's own: a page elsewhere can neither read the token nor pass the Origin check.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs

from pipeline.config.workspace import Workspace
from pipeline.review.decisions import DECISIONS, ReviewError, check_name, connect, db_path, now

MAX_BODY = 64 * 1024  # bytes of a review POST: a comment is at most decisions.MAX_COMMENT characters
COOKIE = "crossmedia_review"
LOCAL = "\0local"  # who a loopback reviewer is, for the CSRF token (no token: anyone on this machine)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(ws: Workspace, name: str) -> str:
    """A new token for `name` (replacing any earlier one); only its hash is stored."""
    name = check_name(name)
    token = secrets.token_urlsafe(24)
    db = connect(db_path(ws))
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM review_reviewers WHERE name = ?", (name,))
        db.execute(
            "INSERT INTO review_reviewers (name, token_sha256, created) VALUES (?, ?, ?)", (name, _hash(token), now())
        )
        db.execute("COMMIT")
    finally:
        db.close()
    return token


def reviewer(ws: Workspace, token: str | None) -> str | None:
    """The name a token was given to, or None."""
    if not token:
        return None
    db = connect(db_path(ws))
    try:
        found = db.execute("SELECT name FROM review_reviewers WHERE token_sha256 = ?", (_hash(token),)).fetchone()
    finally:
        db.close()
    return found[0] if found else None


def csrf_token(secret: bytes, who: str) -> str:
    return hmac.new(secret, who.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, who: str, token: str) -> bool:
    return hmac.compare_digest(csrf_token(secret, who), token or "")


def origin_ok(origin: str | None, host: str) -> bool:
    """A POST's Origin header, when the browser sends one, names this server."""
    return origin is None or origin.lower() in (f"http://{host.lower()}",)


@dataclass(frozen=True)
class Request:
    """A review form, parsed and checked (the decision itself is checked by `decide`)."""

    inputs: list[str]
    decision: str
    comment: str
    by: str
    pin: dict | None
    csrf: str
    back: str


def parse(body: bytes) -> Request:
    """application/x-www-form-urlencoded: csrf, input (one or more), decision, comment, by,
    pin_x + pin_y or pin_t, back (the page to return to)."""
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=1000)
    except (UnicodeDecodeError, ValueError):
        raise ReviewError("the review form could not be read (not UTF-8 form data)") from None

    def one(name: str) -> str:
        values = form.get(name) or [""]
        return values[-1]

    decision = one("decision")
    if decision not in DECISIONS:
        raise ReviewError(f"unknown decision {decision!r}: use one of {', '.join(DECISIONS)}")
    pin = None
    if one("pin_x") or one("pin_y"):
        pin = {"x": one("pin_x"), "y": one("pin_y")}
    elif one("pin_t"):
        pin = {"t": one("pin_t")}
    back = one("back")
    if not back.startswith("/site/") or "//" in back or "\\" in back:
        back = "/site/index.html"
    return Request(
        inputs=[i for i in form.get("input", []) if i],
        decision=decision,
        comment=one("comment"),
        by=one("by"),
        pin=pin,
        csrf=one("csrf"),
        back=back,
    )
