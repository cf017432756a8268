"""Page files (issue #6): `pages/<name>.toml` in the workspace, validated whole at load.

TOML like profiles and sidecars, declared once with `pipeline.config.schema.key` (type, default, help)
so that a bad page says file, key and fix, and the docs' tables are generated from here.
`pipeline.site.pages` builds the HTML from what this module loads.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from pipeline.config.schema import aspects, key, load_table
from pipeline.config.schema import key_table as table
from pipeline.config.workspace import Workspace
from pipeline.errors import CrossmediaError
from pipeline.names import one_line, safe_name

Layout = Literal["auto", "hero", "wide", "column", "split", "gallery"]
_HREF = re.compile(r"^(?:(?:https?://|mailto:|tel:)[^\s<>\"'`]+|#[\w-]*|[A-Za-z0-9._-][A-Za-z0-9._/-]*(?:#[\w-]*)?)$")


class PageError(CrossmediaError):
    """A page that cannot be built; the message names the page file and what is wrong."""


def _href(value: str) -> str | None:
    if not _HREF.match(value) or ".." in value.split("#")[0].split("/"):
        return "must be an https://, http://, mailto: or tel: address, #anchor, or another page's file name"
    return None


def _aspect(value: str) -> str | None:
    return aspects([value]) if value else None


@dataclass(frozen=True)
class PageLink:
    DOC_TYPE = "table {text, href}"  # how the generated tables name it (schema._describe)
    text: str = key("", "Text of the button.", example='"Shop now"')
    href: str = key(
        "",
        'Where it goes: an https:// address, mailto:, #anchor, or another page (e.g. "about.html").',
        check=_href,
        example='"https://example.com/shop"',
    )


@dataclass(frozen=True)
class PageBlock:
    DOC_TYPE = "[[blocks]] table"
    heading: str = key("", "Heading of the block.")
    text: str = key("", "Paragraphs, separated by an empty line. Plain text: markup is shown as typed, never run.")
    asset: str = key(
        "",
        'One input shown in the block: its workspace path ("inbox/web/hero.jpg") or its file name when unique.',
        example='"inbox/web/hero.jpg"',
    )
    assets: list[str] = key([], "Several inputs shown as a gallery.", example='["inbox/web/a.jpg", "inbox/web/b.jpg"]')
    alt: str | None = key(None, "Alt text here; default: the input's sidecar alt.", example='"Two cyclists at dawn"')
    decorative: bool = key(False, 'The image is decoration: alt="" and no warning.')
    caption: str = key("", "Caption under the media; default: the sidecar's title and credit.")
    aspect: str = key(
        "",
        'Which crop to show (e.g. "16:9") when the profile made several; default "original", else the first.',
        check=_aspect,
        example='"16:9"',
    )
    layout: Layout = key(
        "auto", "hero, wide, column, split (media beside text) or gallery; auto lets the template choose."
    )
    link: PageLink | None = key(
        None, "A call-to-action button, {text, href}.", example='{ text = "Shop now", href = "https://example.com/" }'
    )


@dataclass(frozen=True)
class PageFile:
    template: str = key(
        "landing",
        '"landing", "article", or the name (without .html) of a template in the workspace\'s site_templates/.',
        check=lambda v: (
            None if re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,40}", v) else 'must be a template name like "landing"'
        ),
    )
    title: str = key(
        "",
        "Page title (required): browser tab, heading, share cards.",
        check=lambda v: None if v.strip() else "must not be empty",
        example='"Spring at the harbour"',
    )
    description: str = key("", "One or two sentences for search results and share cards.")
    lang: str = key(
        "en",
        'Language of the page (BCP 47, e.g. "en", "de-CH").',
        check=lambda v: (
            None if re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", v) else 'must be a language tag like "en"'
        ),
    )
    byline: str = key("", "Article: who wrote it.")
    date: str = key("", "Article: the date shown, as written.")
    share_image: str = key("", "Input used for the 1200x630 share image; default: the page's first image.")
    blocks: list[PageBlock] = key([], "The page's content, in order: [[blocks]] tables (keys below).")


# Loading -------------------------------------------------------------------------------------
def page_files(ws: Workspace) -> list[Path]:
    folder = ws.root / "pages"
    return (
        sorted(p for p in folder.glob("*.toml") if p.is_file() and not p.name.startswith("."))
        if folder.is_dir()
        else []
    )


def output_name(path: Path) -> str:
    return f"site/pages/{safe_name(path.stem)}.html"


def load_page(path: Path, shown: str) -> tuple[PageFile, list[PageBlock]]:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise PageError(f"{shown} is not valid TOML ({one_line(e)}); fix the syntax at the place named") from None
    problems: list[str] = []
    page = load_table(PageFile, table, shown, "", problems)
    blocks = []
    for i, raw in enumerate(table.get("blocks", []) if isinstance(table.get("blocks"), list) else []):
        block = load_table(PageBlock, raw, shown, f"blocks.{i + 1}", problems)
        if isinstance(raw.get("link"), dict) and block is not None:
            block = _with_link(block, load_table(PageLink, raw["link"], shown, f"blocks.{i + 1}.link", problems))
        blocks.append(block)
    if page is not None and "title" not in table:
        problems.append(f'error: {shown} title\n  the page has no title.\n  Fix: add title = "..." at the top.')
    if problems:
        first = problems[0].splitlines()
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise PageError(f"{first[0].removeprefix('error: ')}: {first[1].strip()} {first[2].strip()}{more}")
    return page, blocks


def _with_link(block: PageBlock, link: PageLink | None) -> PageBlock:
    return replace(block, link=link)


def reference() -> str:
    """The page-file key tables of docs/site.md (`python -m pipeline.commands.docgen`)."""

    def clean(text: str) -> str:
        return text.replace("<class 'pipeline.site.page_files.PageBlock'>", "[[blocks]] table").replace(
            "<class 'pipeline.site.page_files.PageLink'>", "table {text, href}"
        )

    return (
        clean(table(PageFile))
        + "\n`[[blocks]]`:\n\n"
        + clean(table(PageBlock))
        + "\n`link`:\n\n"
        + table(PageLink, "link.")
    )
