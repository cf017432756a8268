"""The docs (docs/banners.md) document every banner key, size, platform and rule, generated from the code (#7)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipeline.banners import docs as banner_docs
from pipeline.banners.spec import RULES, BannerFile, Frame, Style

BANNERS_DOC = Path(__file__).resolve().parent.parent / "docs" / "banners.md"


def test_banner_tables_in_readme_are_current():
    text = BANNERS_DOC.read_text(encoding="utf-8")
    for name, make in banner_docs.sections().items():
        assert f"<!-- generated: {name} -->\n{make()}<!-- end generated -->" in text, (
            f"run `python -m pipeline.commands.docgen` ({name})"
        )


def test_every_banner_key_and_rule_is_documented():
    text = BANNERS_DOC.read_text(encoding="utf-8")
    for cls, prefix in ((BannerFile, ""), (Style, "style."), (Frame, "")):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help") and f"| `{prefix}{f.name}` |" in text, f.name
    for rule in RULES:
        assert f"| `{rule}` |" in text


def test_the_sizes_table_says_whose_each_budget_is():
    """#12: the IAB's 2017 New Ad Portfolio table has no 300x600, 336x280 or 320x100 figure."""
    rows = [line.split(" | ") for line in banner_docs.sections()["banner-sizes"]().splitlines()[2:]]
    source = {row[0].strip("| `"): row[3].rstrip(" |") for row in rows}
    ours = {size for size, text in source.items() if text.startswith("ours: ")}
    assert ours == {"300x600", "336x280", "320x100"}, source
    assert all(text == "IAB New Ad Portfolio (2017)" for size, text in source.items() if size not in ours)
    assert all(len(source[size]) > len("ours: ") + 20 for size in ours)  # with the reason for the figure
