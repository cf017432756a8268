"""Generate the README's reference sections from the code (config keys, sidecar keys, CLI help).

    python -m pipeline.commands.docgen          rewrite README.md in place
    python -m pipeline.commands.docgen --check  exit 1 if README.md is out of date (tests/test_docs.py)

A section is the text between `<!-- generated: NAME -->` and `<!-- end generated -->`.
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
from pipeline.site import page_files

README = Path(__file__).resolve().parent.parent / "README.md"


table = key_table


def cli_reference() -> str:
    parts = []
    # the same text on every terminal, and as the command itself shows it
    width = {"terminal_width": 100, "max_content_width": 100, "help_option_names": ["-h", "--help"]}
    ctx = click.Context(cli, info_name="crossmedia", **width)
    parts.append("```\n" + cli.get_help(ctx) + "\n```\n")
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        sub = click.Context(command, info_name=f"crossmedia {name}", **width)
        parts.append(f"### `crossmedia {name}`\n\n```\n{command.get_help(sub)}\n```\n")
    return "\n".join(parts)


def sections() -> dict[str, Callable[[], str]]:
    out: dict[str, Callable[[], str]] = {
        "workspace-config": lambda: (table(config.WorkspaceConfig) + "\n`[limits]`:\n\n" + table(config.Limits, "limits.")
                                     + "\n`[watch]`:\n\n" + table(config.WatchOptions, "watch.")),
        "sidecar": lambda: table(sidecar.Sidecar) + "\n`trim`:\n\n" + table(sidecar.Trim, "trim."),
        "cli": cli_reference,
        "site-config": lambda: table(config.Site),  # [site] house style (#6)
        "page-file": page_files.reference,  # pages/*.toml (#6)
    }
    for kind, cls in profile.SECTIONS.items():
        out[kind] = lambda cls=cls: table(cls)
    out.update(banner_docs.sections())  # banner file keys, sizes, platforms, rules (#7)
    return out


def render(text: str) -> str:
    makers = sections()

    def replace(m: re.Match) -> str:
        name = m.group(2)
        if name not in makers:
            return m.group(0)
        return f"{m.group(1)}{makers[name]()}<!-- end generated -->\n"

    return re.sub(r"(<!-- generated: ([\w-]+) -->\n)(.*?<!-- end generated -->\n|)", replace, text, flags=re.S)


def main(argv: list[str]) -> int:
    current = README.read_text(encoding="utf-8")
    fresh = render(current)
    if "--check" in argv:
        if fresh != current:
            print("README.md is out of date: run `python -m pipeline.commands.docgen`", file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
