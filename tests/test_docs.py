"""The docs site's reference sections are generated from the code and must be current; the README
stays a front door (issue 12)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from pipeline.commands import docgen
from pipeline.commands.cli import cli
from pipeline.config import sidecar
from pipeline.config.profile import SECTIONS
from pipeline.config.schema import describe_fields
from stages import STAGES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {
    p.relative_to(ROOT / "docs").as_posix(): p.read_text(encoding="utf-8")
    for p in sorted((ROOT / "docs").rglob("*.md"))
}
ALL_DOCS = "\n".join(DOCS.values())


def test_docs_reference_is_current():
    assert docgen.main(["--check"]) == 0, "run: python -m pipeline.commands.docgen"


def test_check_names_the_stale_file(tmp_path, capsys):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    page = tmp_path / "docs" / "sidecars.md"
    page.write_text(page.read_text(encoding="utf-8").replace("| `focus` |", "| `focal` |"), encoding="utf-8")
    assert docgen.main(["--check"], root=tmp_path) == 1
    assert "docs/sidecars.md is out of date" in capsys.readouterr().err
    assert docgen.main([], root=tmp_path) == 0 and docgen.main(["--check"], root=tmp_path) == 0
    assert "| `focus` |" in page.read_text(encoding="utf-8")


def test_every_stage_profile_key_sidecar_key_and_command_is_documented():
    for name in STAGES:
        assert f"**{name}**" in ALL_DOCS, f"stage {name} is described in no docs page"
    for section, cls in SECTIONS.items():
        for name, *_ in describe_fields(cls):
            assert f"| `{name}` |" in ALL_DOCS, f"[{section}] {name} missing from docs/"
    for name, *_ in describe_fields(sidecar.Sidecar):
        assert f"| `{name}` |" in DOCS["sidecars.md"], f"sidecar key {name} missing from docs/sidecars.md"
    for name, *_ in describe_fields(sidecar.Trim):
        assert f"| `trim.{name}` |" in DOCS["sidecars.md"], f"sidecar key trim.{name} missing from docs/sidecars.md"
    for command in cli.commands:
        assert f"## `crossmedia {command}`" in DOCS["cli.md"], command


def test_every_docs_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in DOCS:
        assert re.search(rf"^\s*- [^:\n]+: {re.escape(page)}$", nav, re.M), f"{page} is not in mkdocs.yml's nav"


def test_readme_is_a_front_door():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= 10_240, f"README.md is {size} bytes; the reference belongs in docs/"
    assert "<!-- generated:" not in README, "generated sections belong in docs/"
    for target in re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)(?:#[\w-]+)?\)", README):
        assert (ROOT / target).is_file(), f"README links to {target}, which does not exist"


def test_readme_gives_the_two_commands_and_ci_runs_the_second():
    commands = re.findall(r"```sh\n(.*?)```", README, re.S)[0].split("\n")
    assert commands[:2] == ["./dev demo", "./dev test"], commands
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert [line.removeprefix("exec ") for line in ci.splitlines() if line.startswith("exec ")] == ["./dev test"]


def test_site_screenshots_are_shown_at_both_sizes():
    """docs/site.md shows the preview site as a designer first sees it (#14): each page kind at the
    desktop and the phone width, made by `./dev screenshots` (pipeline/commands/screenshots.py)."""
    from PIL import Image

    from pipeline.commands.screenshots import PAGES, VIEWPORTS

    text = DOCS["site.md"]
    for name in ("index", *PAGES):
        for width, height in VIEWPORTS:
            rel = f"img/site-{name}-{width}.png"
            assert f"({rel})" in text, f"docs/site.md does not show {rel}"
            with Image.open(ROOT / "docs" / rel) as im:
                assert im.size == (width, height), rel
