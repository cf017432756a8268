"""What the preview site shows of the review (issue #14): state, decisions, pins, the previous version.

The pages on disk show each input's review state and history read only, and carry the review
form hidden (`data-review-only hidden`): `crossmedia serve --review` un-hides it on the way out
and fills in the CSRF token (pipeline.site.serve), so the files stay static and say, opened from
file://, how to review.

The previous version: the site keeps a small picture of each version it showed
(`.crossmedia/versions/<sha256[:16]>.<ext>`, the card's thumbnail, poster or waveform); once the
input changed, the asset page shows the kept picture of the version decided on last beside the
current one.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from markupsafe import Markup

from pipeline.batch.store import Row
from pipeline.config.workspace import Workspace
from pipeline.review.decisions import PENDING, Review

# "needs attention first" (index order): failed, changes requested or rejected, warnings, pending, approved
ATTENTION = {"failed": 0, "rejected": 1, "changes": 1, "warnings": 2, "pending": 3, "approved": 4}
STATE_LABEL = {
    "pending": "pending review",
    "approved": "approved",
    "changes": "changes requested",
    "rejected": "rejected",
}


@dataclass(frozen=True)
class Pin:
    number: int
    style: Markup | None  # left/top on the picture, or left on the timeline; made here
    label: str  # "at 40 %, 25 %" or "at 0:12"


@dataclass(frozen=True)
class DecisionView:
    by: str
    decision: str
    label: str
    comment: str
    at: str
    version: str  # short hash
    pin: Pin | None


@dataclass(frozen=True)
class Previous:
    src: str
    width: int
    height: int
    version: str


@dataclass(frozen=True)
class ReviewView:
    """The review section of an asset page."""

    input: str
    state: str
    label: str
    approvals: int
    required: int
    version: str  # short hash of the current version
    current: list[DecisionView]
    history: list[DecisionView]
    image_pins: list[Pin]  # drawn over the source picture
    time_pins: list[Pin]  # drawn on the player's timeline
    pin_kind: str  # "point" (images), "time" (audio/video), "" (nothing to pin on)
    deliverable: bool  # approved: its outputs may be delivered
    previous: Previous | None
    back: str  # the page's own path on the server, where a decision returns to
    command: str  # how to review from a shell


def attention(status: str, warnings: int, state: str) -> int:
    if status == "failed":
        return ATTENTION["failed"]
    if state in ("changes", "rejected"):
        return ATTENTION[state]
    if warnings:
        return ATTENTION["warnings"]
    return ATTENTION[state]


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def _pin(number: int, pin: dict | None, duration: float | None) -> Pin | None:
    if not pin:
        return None
    if "x" in pin:
        x, y = float(pin["x"]), float(pin["y"])
        return Pin(number, Markup(f"left:{x * 100:.2f}%;top:{y * 100:.2f}%"), f"at {x * 100:.0f} %, {y * 100:.0f} %")
    t = float(pin["t"])
    style = Markup(f"left:{min(100.0, t / duration * 100):.2f}%") if duration else None
    return Pin(number, style, f"at {_clock(t)}")


def _views(decisions: list[dict], duration: float | None, start: int = 1) -> list[DecisionView]:
    out = []
    for n, d in enumerate(decisions, start):
        out.append(
            DecisionView(
                by=d["by"],
                decision=d["decision"],
                label=STATE_LABEL[d["decision"]],
                comment=d["comment"],
                at=d["at"],
                version=d["version"][:12],
                pin=_pin(n, d.get("pin"), duration),
            )
        )
    return out


class Versions:
    """The kept picture of each version (see the module docstring), and the order in which each
    input's versions were seen (`.crossmedia/versions/index.json`: input -> [sha256, ...])."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.folder = ws.state / "versions"
        try:
            self.seen: dict[str, list[str]] = json.loads((self.folder / "index.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.seen = {}
        self.used: set[Path] = set()  # files under out/site/ this build wrote (kept by the sweep)

    def keep(self, row: Row, out_path: str | None, width: int, height: int) -> None:
        """Remember the picture shown for the row's current version (an out/-relative path)."""
        if not out_path or not row.sha256 or row.status != "processed":
            return
        seen = self.seen.setdefault(row.input, [])
        if not seen or seen[-1] != row.sha256:
            seen.append(row.sha256)
            del seen[:-10]  # the last ten versions are plenty to compare with
        src = self.ws.out / out_path
        dest = self.folder / f"{row.sha256[:16]}{PurePosixPath(out_path).suffix.lower()}"
        if dest.exists() or not src.is_file():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dest)
        dest.with_suffix(".json").write_text(json.dumps({"width": width, "height": height}), encoding="utf-8")

    def previous(self, row: Row) -> tuple[str, int, int, str] | None:
        """(out/-relative path, width, height, version) of the picture of the input's version
        before the current one, copied into out/site/media/; None when there is none."""
        seen = [v for v in self.seen.get(row.input, []) if v != row.sha256]
        if not seen:
            return None
        version = seen[-1]
        for kept in sorted(self.folder.glob(f"{version[:16]}.*")):
            if kept.suffix in (".json", ".tmp"):
                continue
            try:
                size = json.loads(kept.with_suffix(".json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            dest = self.ws.out / "site" / "media" / f"version-{kept.name}"
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(kept, dest)
            self.used.add(dest)
            return dest.relative_to(self.ws.out).as_posix(), int(size["width"]), int(size["height"]), version
        return None

    def save(self) -> None:
        if self.seen or (self.folder / "index.json").exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            self.ws.save_state("versions/index.json", self.seen)


def review_view(
    ws: Workspace,
    row: Row,
    review: Review | None,
    page: str,
    previous: tuple[str, int, int, str] | None,
    duration: float | None,
) -> ReviewView:
    """`previous`: (src relative to the page, width, height, version) of the last version decided
    on before this one, when its picture was kept."""
    review = review or PENDING
    current_version = row.sha256
    decisions = list(review.decisions)
    current = [d for d in decisions if d["version"] == current_version]
    history = [d for d in decisions if d["version"] != current_version]
    current_views = _views(current, duration)
    state = review.state if review.decisions else "pending"
    pin_kind = "point" if row.media == "image" else "time" if row.media in ("audio", "video") else ""
    required = ws.config.review.approvals
    return ReviewView(
        input=row.input,
        state=state,
        label=STATE_LABEL[state],
        approvals=review.approvals if review.decisions else 0,
        required=required,
        version=current_version[:12],
        current=current_views,
        history=_views(history, duration),
        image_pins=[v.pin for v in current_views if v.pin and "top:" in str(v.pin.style or "")],
        time_pins=[
            v.pin for v in current_views if v.pin and v.pin.style is not None and "top:" not in str(v.pin.style)
        ],
        pin_kind=pin_kind,
        deliverable=state == "approved",
        previous=Previous(*previous) if previous else None,
        back="/" + page,
        command=f"crossmedia review approve {row.input} --as NAME",
    )
