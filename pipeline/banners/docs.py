"""README tables for banners, generated from the code (pipeline.commands.docgen): keys, sizes, platforms, rules."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.banners.spec import BUDGETS, IAB_NAMES, PLATFORMS, RULES, BannerFile, Frame, Style
from pipeline.config.schema import key_table as table


def _keys() -> str:
    text = table(BannerFile) + "\n`[style]`:\n\n" + table(Style, "style.") + "\n`[[frames]]` (each):\n\n" + table(Frame)
    return text.replace(f"{Style!s}", "table").replace(f"a list of {Frame!s}s", "a list of tables")


def _sizes() -> str:
    rows = ["| size | names | budget (KB, initial load) | figure from |", "| --- | --- | --- | --- |"]
    for size, budget in BUDGETS.items():
        names = ", ".join(f"`{n}`" for n, s in IAB_NAMES.items() if s == size) or "-"
        rows.append(f"| `{size}` | {names} | {budget.kb} | {budget.source} |")
    return "\n".join(rows) + "\n"


def _platforms() -> str:
    rows = [
        "| platform | click wiring | loader (the only external file allowed) | zip cap | files | manifest |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    wiring = {
        "google": '`var clickTag = "https://...";` top-level in the head, `window.open(window.clickTag)`',
        "adform": "`dhtml.getVar('clickTAG', 'https://...')`, target from `landingPageTarget`",
        "flashtalking": "`myFT.clickTag(1)` (`window.open` of the URL when the API is absent, e.g. in previews)",
        "generic": "`window.clickTag`, else `?clickTag=` in the URL, else the click_url",
    }
    for name, p in PLATFORMS.items():
        rows.append(
            f"| `{name}` | {wiring[name]} | {f'`{p.loader}`' if p.loader else 'none'} | "
            f"{f'{p.zip_cap_kb} KB' if p.zip_cap_kb else '-'} | {p.max_files} | "
            f"{f'`{p.manifest}`' if p.manifest else '-'} |"
        )
    return "\n".join(rows) + "\n"


def _rules() -> str:
    rows = ["| rule | named by | refused when |", "| --- | --- | --- |"]
    rows += [f"| `{rule}` | {origin} | {what.replace('|', '/')} |" for rule, (origin, what) in RULES.items()]
    return "\n".join(rows) + "\n"


def sections() -> dict[str, Callable[[], str]]:
    return {"banner": _keys, "banner-sizes": _sizes, "banner-platforms": _platforms, "banner-rules": _rules}
