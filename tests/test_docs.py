"""The README's reference sections are generated from the code and must be current."""

from __future__ import annotations

from pathlib import Path

from pipeline.commands import docgen
from pipeline.config.profile import SECTIONS
from pipeline.config.schema import describe_fields

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_reference_is_current():
    assert docgen.main(["--check"]) == 0, "run: python -m pipeline.commands.docgen"


def test_every_profile_key_and_command_is_documented():
    for section, cls in SECTIONS.items():
        for name, *_ in describe_fields(cls):
            assert f"| `{name}` |" in README, f"[{section}] {name} missing from README"
    from pipeline.commands.cli import cli

    for command in cli.commands:
        assert f"### `crossmedia {command}`" in README, command


def test_readme_gives_the_two_commands_and_ci_runs_the_second():
    assert "./dev demo" in README and "./dev test" in README
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "./dev test" in ci
