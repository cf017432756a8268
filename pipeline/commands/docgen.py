"""Generate the reference tables of the docs site from the code (config keys, sidecar keys, CLI help).

    python -m pipeline.commands.docgen          rewrite every docs/**/*.md in place
    python -m pipeline.commands.docgen --check  exit 1 naming each stale file (tests/test_docs.py)

A section is the text between `<!-- generated: NAME -->` and `<!-- end generated -->`; NAME is
one of `sections()`. Every section must be placed in exactly one page, and a marker naming no
section is an error, so a renamed section cannot silently go stale.

This is a development tool, run from a checkout of the repository (where `docs/` and
`mkdocs.yml` are); it is not part of what the installed tool runs. Importing it must work in a
wheel install all the same (nothing is read at import; the checkout is found in `main()`).
README.md is rewritten too if it has markers, but it should have none: it is a front door, the
reference is the docs site (issue 12).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import click

from pipeline.banners import docs as banner_docs
from pipeline.commands.cli import cli
from pipeline.config import profile, sidecar
from pipeline.config import settings as config
from pipeline.config.schema import key_table
from pipeline.deliver import channels
from pipeline.site import page_files

MARKER = re.compile(r"(<!-- generated: ([\w-]+) -->\n)(.*?<!-- end generated -->\n|)", re.S)


def table(cls: type, prefix: str = "") -> str:
    """`key_table`, made safe for Markdown: a sub-table's type reads "table", not the class's repr,
    and `<...>` in a help text (e.g. `inbox/<profile>/`) is text, not an HTML tag that swallows it."""
    return _escape_html(re.sub(r"<class '[\w.]+'>", "table", key_table(cls, prefix)))


def _escape_html(table_text: str) -> str:
    """`<` outside code spans in a table's rows, as `&lt;` (code spans show it as typed already)."""

    def row(line: str) -> str:
        parts = re.split(r"(`[^`]*`)", line)
        return "".join(p if p.startswith("`") else p.replace("<", "&lt;") for p in parts)

    return "\n".join(row(line) if line.startswith("| `") else line for line in table_text.split("\n"))


def cli_reference() -> str:
    parts = []
    # the same text on every terminal, and as the command itself shows it
    width = {"terminal_width": 100, "max_content_width": 100, "help_option_names": ["-h", "--help"]}
    ctx = click.Context(cli, info_name="crossmedia", **width)
    parts.append("```\n" + cli.get_help(ctx) + "\n```\n")
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        sub = click.Context(command, info_name=f"crossmedia {name}", **width)
        parts.append(f"## `crossmedia {name}`\n\n```\n{command.get_help(sub)}\n```\n")
        if isinstance(command, click.Group):  # `crossmedia review approve`...: each subcommand's help (#14)
            for subname in command.list_commands(sub):
                subcommand = command.get_command(sub, subname)
                inner = click.Context(subcommand, info_name=f"crossmedia {name} {subname}", parent=None, **width)
                parts.append(f"### `crossmedia {name} {subname}`\n\n```\n{subcommand.get_help(inner)}\n```\n")
    return "\n".join(parts)


def sections() -> dict[str, Callable[[], str]]:
    out: dict[str, Callable[[], str]] = {
        "workspace-config": lambda: (
            table(config.WorkspaceConfig)
            + "\n`[limits]`:\n\n"
            + table(config.Limits, "limits.")
            + "\n`[watch]`:\n\n"
            + table(config.WatchOptions, "watch.")
        ),
        "sidecar": lambda: table(sidecar.Sidecar) + "\n`trim`:\n\n" + table(sidecar.Trim, "trim."),
        "profile-file": lambda: table(profile._ProfileFile),  # description, extends: a profile's top-level keys
        "cli": cli_reference,
        "site-config": lambda: table(config.Site),  # [site] house style (#6)
        "proofs-config": lambda: table(config.Proofs),  # [proofs] PDF proofs (#15)
        "review-config": lambda: table(config.ReviewOptions),  # [review] approvals (#14)
        "page-file": lambda: _escape_html(page_files.reference()),  # pages/*.toml (#6)
        "deliver-config": lambda: table(config.DeliverTarget),  # [deliver.<channel>] (#16)
        "backup-config": lambda: table(config.BackupOptions),  # [backup] (#16)
        "executor-config": lambda: table(config.ExecutorOptions),  # [executor]: local or a Dask cluster (#13)
        "channel-file": lambda: (  # profiles/channels/*.toml (#16)
            table(channels.ChannelFile)
            + "\n`[image]`:\n\n"
            + table(channels.ImageRules)
            + "\n`[video]`:\n\n"
            + table(channels.VideoRules)
        ),
        "channels": lambda: _escape_html(  # the built-in presets and their limits (#16)
            "\n".join(
                f"- `{c.name}`: {c.description}\n" + "".join(f"    - {line}\n" for line in channels.limits_text(c))
                for c in channels.load_channels(None).values()
            )
        ),
    }
    for kind, cls in profile.SECTIONS.items():
        out[kind] = lambda cls=cls: table(cls)
    out.update(banner_docs.sections())  # banner file keys, sizes, platforms, rules (#7)
    return out


def render(text: str, found: list[str] | None = None) -> str:
    """`text` with every generated section made afresh; the names met are appended to `found`.
    A marker naming no section is left as it is (main() reports it)."""
    makers = sections()

    def replace(m: re.Match) -> str:
        name = m.group(2)
        if found is not None:
            found.append(name)
        if name not in makers:
            return m.group(0)
        return f"{m.group(1)}{makers[name]()}<!-- end generated -->\n"

    return MARKER.sub(replace, text)


def repository_root() -> Path:
    """The checkout this module lives in: pipeline/commands/docgen.py -> the repository."""
    return Path(__file__).resolve().parents[2]


def doc_files(root: Path) -> list[Path]:
    files = sorted((root / "docs").rglob("*.md"))
    if (root / "README.md").is_file():
        files.append(root / "README.md")
    return files


def main(argv: list[str], root: Path | None = None) -> int:
    root = repository_root() if root is None else root
    if not (root / "docs").is_dir():
        print(
            f"error: no docs/ in {root}: docgen runs from a checkout of the crossmedia repository, "
            "not from an installed copy.",
            file=sys.stderr,
        )
        return 2
    check = "--check" in argv
    problems: list[str] = []
    placed: dict[str, list[str]] = {}
    for path in doc_files(root):
        shown = path.relative_to(root).as_posix()
        current = path.read_text(encoding="utf-8")
        found: list[str] = []
        fresh = render(current, found)
        for name in found:
            placed.setdefault(name, []).append(shown)
        if fresh == current:
            continue
        if check:
            problems.append(f"{shown} is out of date: run `python -m pipeline.commands.docgen`")
        else:
            path.write_text(fresh, encoding="utf-8")
            print(f"rewrote {shown}", file=sys.stderr)
    known = sections()
    for name, where in sorted(placed.items()):
        if name not in known:
            problems.append(
                f"{', '.join(where)}: <!-- generated: {name} --> names no section; known: {', '.join(sorted(known))}"
            )
        elif len(where) > 1:
            problems.append(f"section {name} is generated in {len(where)} places ({', '.join(where)}); keep one")
    for name in sorted(set(known) - set(placed)):
        problems.append(f"section {name} is in no docs page: add `<!-- generated: {name} -->` where it belongs")
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
