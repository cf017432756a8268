"""`crossmedia proof`: write out/proofs/ from the store (issue #15).

A contact sheet per profile (`out/proofs/<profile>.pdf`: a cover, then `[proofs] per_page`
inputs a page) or, with `--input`, a full page per matching input
(`out/proofs/<profile>/<input's output folder>.pdf`). A proof is made again only when what it
shows changed: its cards, the pictures' files, the templates, [site] and [proofs], the ICC and
this builder (a fingerprint per PDF in .crossmedia/proofs.json), like the site.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from markupsafe import Markup

from pipeline import templates
from pipeline.batch.store import Row, Store
from pipeline.config.icc import find_icc
from pipeline.config.workspace import Workspace
from pipeline.errors import CrossmediaError
from pipeline.proofs import pdf
from pipeline.proofs.cards import SHEET_PX, SINGLE_PX, Card, card, is_print, matches
from pipeline.review.decisions import review_of

STATE = "proofs.json"
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Built:
    """One proof: where, how many pages, bytes, what kind, made now or unchanged."""

    path: str  # workspace-relative
    profile: str
    input: str  # "" for a contact sheet
    kind: str
    pages: int
    bytes: int
    seconds: float
    made: bool


def build_proofs(
    ws: Workspace, profile: str | None = None, pattern: str | None = None, pdf_x: bool = False, force: bool = False
) -> list[Built]:
    rows = _rows(ws)
    if not rows:
        raise CrossmediaError(f"nothing to proof in {ws.root}: no input was processed yet; run `crossmedia run` first")
    names = sorted({r.profile for r in rows.values()})
    if profile is not None:
        if profile not in ws.profiles:
            raise CrossmediaError(f"no profile {profile!r}; this workspace has {', '.join(sorted(ws.profiles))}")
        if pdf_x and not is_print(ws, profile):
            raise CrossmediaError(
                f'--pdf-x: profile {profile!r} is not a print profile (colour = "cmyk"); '
                "PDF/X-4 proofs are made for CMYK profiles only"
            )
        names = [profile]
    elif pdf_x:
        names = [n for n in names if is_print(ws, n)]
        if not names:
            raise CrossmediaError('--pdf-x: no print profile (colour = "cmyk") has inputs in this workspace')
    reviews = {k: v.state for k, v in review_of(ws).items()}
    built: list[Built] = []
    state = ws.load_state(STATE)
    for name in names:
        chosen = [r for _, r in sorted(rows.items()) if r.profile == name]
        if pattern is not None:
            chosen = [r for r in chosen if matches(r.input, pattern)]
            for row in chosen:
                built.append(_proof(ws, name, [row], reviews, state, force, single=True))
        elif chosen:
            built.append(_proof(ws, name, chosen, reviews, state, force, single=False))
    if pattern is not None and not built:
        where = f"profile {profile!r}" if profile else "any profile"
        raise CrossmediaError(f"--input {pattern!r} matches no input of {where}; `crossmedia status` lists them")
    ws.save_state(STATE, state)
    return built


def _rows(ws: Workspace) -> dict[str, Row]:
    store = Store(ws.state / "state.db")
    try:
        return store.items()
    finally:
        store.close()


def _icc(ws: Workspace, profile: str) -> Path:
    name = ws.profiles[profile].options("image").output_icc
    found = find_icc(name, ws.root)
    if found is None:
        raise CrossmediaError(
            f"profile {profile!r}: output_icc {name!r} not found (the workspace's profiles/ or the system ICC "
            "folders); install it or set output_icc to the file's path"
        )
    return found


def _proof(
    ws: Workspace, profile: str, rows: list[Row], reviews: dict[str, str], state: dict, force: bool, single: bool
) -> Built:
    started = time.monotonic()
    icc = _icc(ws, profile) if is_print(ws, profile) else None
    cmyk = icc is not None
    want = SINGLE_PX if single else SHEET_PX // 2
    cards = [card(ws, r, reviews.get(r.input, "pending"), cmyk, want) for r in rows]
    if single:
        rel = Path(ws.output_folder(rows[0].input, profile)).relative_to(ws.out).as_posix()
        target = ws.out / "proofs" / f"{rel}.pdf"
    else:
        target = ws.out / "proofs" / f"{profile}.pdf"
    per_page = ws.config.proofs.per_page
    style = pdf.style_for(ws, icc, per_page, single)
    env = templates.environment(ws.root, folder="proofs")
    css_files = [templates.BUILTIN_TEMPLATES / "proofs", ws.root / "site_templates" / "proofs"]
    key = _fingerprint(cards, style, ws, icc, css_files)
    rel_target = target.relative_to(ws.root).as_posix()
    kind = f"PDF/X-4, {ws.profiles[profile].options('image').output_icc}" if cmyk else "sRGB PDF"
    old = state.get(rel_target, {})
    if not force and old.get("fingerprint") == key and target.is_file():
        return Built(
            rel_target,
            profile,
            rows[0].input if single else "",
            kind,
            old.get("pages", 0),
            target.stat().st_size,
            time.monotonic() - started,
            made=False,
        )

    lossless: dict[Path, Path] = {}
    cards = [_with_src(ws, c, cmyk, single, lossless) for c in cards]
    cols, _rows_per_page = pdf.GRID[per_page]
    sheets = [cards[i : i + per_page] for i in range(0, len(cards), per_page)]
    page = pdf.ProofPage(
        title=(f"Proof: {cards[0].name}" if single else f"Contact sheet: {profile}")
        + f" ({ws.config.name or ws.root.name})",
        workspace=ws.config.name or ws.root.name,
        profile=profile,
        description=ws.profiles[profile].description,
        date=time.strftime("%Y-%m-%d %H:%M"),
        kind=kind,
        counts=_counts(cards),
        # rows padded with None to full width: the template draws empty cells, never counts
        sheets=[[(s[i : i + cols] + [None] * cols)[:cols] for i in range(0, len(s), cols)] for s in sheets],
        total=len(cards),
        single=cards[0] if single else None,
        css=Markup(env.get_template("proof.css").render(style=style)),
    )
    html = env.get_template("single.html" if single else "sheet.html").render(page=page)
    target.parent.mkdir(parents=True, exist_ok=True)
    pages = pdf.render(html, ws.root, target, pdf.tmp_dir(ws), icc, lossless)
    state[rel_target] = {"fingerprint": key, "pages": pages}
    return Built(
        rel_target,
        profile,
        rows[0].input if single else "",
        kind,
        pages,
        target.stat().st_size,
        time.monotonic() - started,
        made=True,
    )


def _with_src(ws: Workspace, c: Card, cmyk: bool, single: bool, lossless: dict[Path, Path]) -> Card:
    """The URL WeasyPrint reads the card's picture from: the rendition itself, or for CMYK a
    CMYK JPEG of it (see pipeline.proofs.pdf)."""
    if c.picture is None:
        return c
    source = ws.root / c.picture.path
    if cmyk:
        max_px = None if single else SHEET_PX
        if pdf.needs_copy(source, max_px):
            copy = pdf.cmyk_jpeg(ws, source, max_px)
            if single and source.suffix.lower() in (".tif", ".tiff"):
                lossless[copy] = source
            source = copy
    return replace(c, src=source.resolve().as_uri())


def _counts(cards: list[Card]) -> list[pdf.Count]:
    counts = [
        pdf.Count("inputs", len(cards)),
        pdf.Count("processed", sum(c.status == "processed" for c in cards)),
        pdf.Count("failed", sum(c.status == "failed" for c in cards)),
    ]
    for state in ("approved", "changes", "rejected", "pending"):
        counts.append(
            pdf.Count(state if state != "changes" else "changes requested", sum(c.review == state for c in cards))
        )
    return counts


def _fingerprint(cards: list[Card], style: pdf.Style, ws: Workspace, icc: Path | None, folders: list[Path]) -> str:
    """Changes when anything the proof shows changes (not the date it was made on)."""
    h = hashlib.sha256(pdf.VERSION.encode())
    h.update(json.dumps([asdict(c) for c in cards], sort_keys=True, default=str).encode())
    h.update(json.dumps(asdict(style), sort_keys=True).encode())
    h.update(json.dumps([ws.config.name, ws.config.proofs.per_page]).encode())
    files = [*(ws.root / c.picture.path for c in cards if c.picture), *sorted(HERE.glob("*.py"))]
    files += [p for f in folders if f.is_dir() for p in sorted(f.rglob("*")) if p.is_file()]
    if icc:
        files.append(icc)
    for p in files:
        try:
            st = p.stat()
        except OSError:
            continue
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def page_count(total: int, per_page: int) -> int:
    """Pages of a contact sheet: the cover, then `per_page` inputs a page (docs/proofs.md)."""
    return 1 + math.ceil(total / per_page)
