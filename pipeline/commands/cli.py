"""`crossmedia`: parse, load config, call the library, print. Nothing else lives here.

With --json, stdout is one JSON document; text and progress go to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import click

from pipeline import __version__
from pipeline.errors import ConfigError, CrossmediaError, ExitCode

log = logging.getLogger("crossmedia")

# Each command imports what it uses inside its function: `crossmedia status` or `--help` must
# not pay for the engine and the publish step (measured with -X importtime: the CLI alone 0.05 s;
# engine 0.12 s, publish step 0.23 s, stages 0.16 s), and `run` boots its fork server before
# the engine is imported.

workspace_option = click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default="current directory",
    help="The workspace folder (where crossmedia.toml is).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


def _err(message: str) -> None:
    click.echo(message, err=True)


def _setup_log(ws_root: Path) -> None:
    state = ws_root / ".crossmedia"
    state.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(state / "crossmedia.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def _print_json(data) -> None:
    click.echo(json.dumps(data, indent=1, ensure_ascii=False, default=str))


class Group(click.Group):
    """Maps what a user can fix to one line and its exit code; bugs keep their traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as e:
            for p in e.problems:
                _err(p)
            ctx.exit(e.exit_code)
        except CrossmediaError as e:
            _err(f"error: {e}")
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            _err("interrupted")
            ctx.exit(ExitCode.INTERRUPTED)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crossmedia")
def cli() -> None:
    """Asset pipeline for crossmedia production.

    Files dropped into a workspace's watched folders come out as renditions for each folder's
    profile (web, social, print...), with warnings about unusable material, a preview site
    for designers, pages and HTML5 banners.
    """


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--name", help="Workspace name shown in pages and reports (default: the folder name).")
def init(folder: Path, name: str | None) -> None:
    """Create a workspace: crossmedia.toml, inbox/<profile>/, pages/, banners/, out/."""
    from pipeline.config.workspace import init_workspace

    root = init_workspace(folder, name)
    _err(f"created workspace {root}: drop files into {root / 'inbox'}/<profile>/ and run `crossmedia run -w {root}`")


@cli.command()
@workspace_option
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Worker processes (default: [jobs] in crossmedia.toml, else every core).",
)
@json_option
def run(workspace: Path, jobs: int | None, as_json: bool) -> None:
    """Process what is new or changed in the watched folders, once (for cron).

    Writes out/report.json. Exit code: 0 all inputs fine, 1 some inputs failed (quarantined),
    2 usage or config error, 75 the workspace is locked by another run or watcher, 130 interrupted.
    """
    from pipeline.batch.forkserver import start_early

    start_early()  # boots while the engine is imported and the workspace loaded
    from pipeline.batch.engine import run as run_batch
    from pipeline.batch.progress import Progress
    from pipeline.commands.publish import publish
    from pipeline.config.workspace import Workspace

    ws = Workspace.open(workspace)
    _setup_log(ws.root)
    started = time.monotonic()
    with Progress() as progress:
        report = run_batch(ws, jobs=jobs, on_result=progress.update, on_step=progress.step, after=(publish,))
    for note in report.notes:
        _err(f"note: {note}")
    c = report.counts
    _err(
        f"{c['processed']} processed, {c['failed']} failed, {c['skipped']} unchanged"
        f"{', ' + str(len(report.removed)) + ' removed' if report.removed else ''}"
        f" in {time.monotonic() - started:.1f} s{' (interrupted)' if report.interrupted else ''}; "
        f"report: {ws.report_path.relative_to(ws.root)}"
    )
    if as_json:
        _print_json(report.as_dict())
    sys.exit(report.exit_code)


@cli.command()
@workspace_option
@click.option(
    "--poll",
    is_flag=True,
    default=None,
    help="Poll instead of kernel file events (network shares). Default: [watch] poll.",
)
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    help="Seconds a file must stay unchanged before it is taken. Default: [watch] settle.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Worker processes (default: [jobs] in crossmedia.toml, else every core).",
)
def watch(workspace: Path, poll: bool | None, settle: float | None, jobs: int | None) -> None:
    """Process files as they land in the watched folders, once they are complete.

    Catches up with what arrived while no watcher ran, then waits for files to settle. Holds the
    workspace like a run (a `crossmedia run` meanwhile exits 75). Stop with Ctrl-C or SIGTERM:
    inputs in flight finish, then exit 130.
    """
    from pipeline.batch.watch import Watcher
    from pipeline.commands.publish import publish
    from pipeline.config.workspace import Workspace

    ws = Workspace.open(workspace)
    _setup_log(ws.root)
    options = ws.config.watch
    watcher = Watcher(
        ws,
        settle=options.settle if settle is None else settle,
        poll=options.poll if poll is None else poll,
        jobs=jobs,
        rescan=options.rescan,
        after=(publish,),
    )
    sys.exit(watcher.run())


@cli.command()
@workspace_option
@json_option
def status(workspace: Path, as_json: bool) -> None:
    """What was processed, what failed and why, what is waiting, and who holds the workspace."""
    from pipeline.commands.status import status as get_status
    from pipeline.config.workspace import Workspace

    data = get_status(Workspace.open(workspace))
    if as_json:
        _print_json(data)
        return
    from pipeline.commands.status import format_status

    click.echo(format_status(data))


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-p",
    "--profile",
    "profiles",
    multiple=True,
    help="Judge against this profile (repeatable; default: every built-in).",
)
@click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Use this workspace's profiles too.",
)
@json_option
def probe(file: Path, profiles: tuple[str, ...], workspace: Path | None, as_json: bool) -> None:
    """What is this file, and is it usable for each profile? Exit 1 when it cannot be used at all."""
    from pipeline.commands.probe import format_probe, probe_file

    data = probe_file(file, profiles=list(profiles), workspace=workspace)
    if as_json:
        _print_json(data)
    else:
        click.echo(format_probe(data))
    sys.exit(ExitCode.INPUTS_FAILED if data.get("error") else ExitCode.OK)


@cli.command()
@workspace_option
@json_option
def check(workspace: Path, as_json: bool) -> None:
    """Check every generated page under out/: broken or outside links, external requests,
    images without width, height or alt. Exit 1 when anything is found."""
    from pipeline.config.workspace import Workspace
    from pipeline.site.check import check as check_pages

    result = check_pages(Workspace.open(workspace))
    if as_json:
        _print_json(result.as_dict())
    else:
        for p in result.problems:
            click.echo(str(p))
        _err(
            f"{result.pages} page(s) checked, {len(result.problems)} problem(s), "
            f"{len(result.external_links)} external link(s)"
        )
    if not result.pages:
        _err("nothing to check: out/ has no pages yet; run `crossmedia run` first")
    sys.exit(ExitCode.INPUTS_FAILED if result.problems or not result.pages else ExitCode.OK)


@cli.command()
@workspace_option
@click.option(
    "-p",
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes for the runs it starts.")
def serve(workspace: Path, port: int, jobs: int | None) -> None:
    """Serve the preview site and pages on 127.0.0.1; run and rebuild when inputs, pages or
    templates change, and reload the browser."""
    from pipeline.batch.engine import run as run_batch
    from pipeline.commands.publish import publish
    from pipeline.config.workspace import Workspace
    from pipeline.site.serve import serve as serve_site

    _setup_log(workspace)

    def build(ws: Workspace):
        return run_batch(ws, jobs=jobs, command="serve", after=(publish,))

    serve_site(Workspace.open(workspace), build, port=port, echo=_err)


@cli.command()
@click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("crossmedia-demo"),
    show_default=True,
    help="Where to create the demo workspace.",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: every core).")
def demo(workspace: Path, jobs: int | None) -> None:
    """Make sample media (photos, CMYK, rotated, transparent, logo...), run the pipeline on it,
    and say where the results are."""
    from pipeline.commands.demo import run_demo

    sys.exit(run_demo(workspace, jobs=jobs, echo=_err))


@cli.command()
@json_option
def doctor(as_json: bool) -> None:
    """Check ffmpeg, ffprobe, codecs, Pillow formats, ICC profiles, rsvg-convert and Chromium."""
    from pipeline.commands.doctor import checks, format_checks

    results = checks()
    if as_json:
        _print_json(results)
    else:
        click.echo(format_checks(results))
    sys.exit(ExitCode.OK if all(r["ok"] or not r["required"] for r in results) else ExitCode.INPUTS_FAILED)


def main() -> None:
    # A workspace has folders named like the built-in data packages (profiles/, site_templates/).
    # With the current folder on the import path (an empty PYTHONPATH entry puts "" there), they
    # would shadow the built-in ones as namespace packages. The tool never imports from there.
    # Worker processes start from the environment: drop the empty entries there too.
    sys.path[:] = [p for p in sys.path if p not in ("", ".")]
    kept = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p not in ("", ".")]
    if kept:
        os.environ["PYTHONPATH"] = os.pathsep.join(kept)
    else:
        os.environ.pop("PYTHONPATH", None)
    cli(prog_name="crossmedia")


if __name__ == "__main__":
    main()
