"""`crossmedia`: parse, load config, call the library, print. Nothing else lives here.

With --json, stdout is one JSON document; text and progress go to stderr.
"""

from __future__ import annotations

import contextlib
import io
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
    # Found upward, as git finds its repository (#17): run from inbox/web/ it is the workspace above.
    help="The workspace folder (where crossmedia.toml is), or any folder inside it.",
)
jobs_option = click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Worker processes (default: [jobs] in crossmedia.toml, else every core).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
# Where inputs are processed (#13): this machine's worker processes, or a Dask cluster.
executor_option = click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    help="Process on this machine (local) or on a Dask cluster (dask). Default: [executor] kind.",
)
scheduler_option = click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Dask scheduler, e.g. tcp://sched:8786. Default: [executor] scheduler, else DASK_SCHEDULER_ADDRESS.",
)


def _err(message: str) -> None:
    click.echo(message, err=True)


def _setup_log(ws_root: Path) -> None:
    from pipeline.config.workspace import find_root

    state = find_root(ws_root.resolve()) / ".crossmedia"  # serve passes -w as given (#17)
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
@jobs_option
@executor_option
@scheduler_option
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="For cron: print only what is new since the last run (new failures, new warnings, what was "
    "processed), and nothing at all when nothing happened.",
)
@json_option
def run(
    workspace: Path, jobs: int | None, executor: str | None, scheduler: str | None, quiet: bool, as_json: bool
) -> None:
    """Process what is new or changed in the watched folders, once (for cron).

    Writes out/report.json. Exit code: 0 all inputs fine, 1 new failures in this run (quarantined),
    3 no new failure but inputs that failed before still do, 2 usage, config or a fault of this
    machine (out/ not writable, a codec missing), 75 the workspace is locked by another run or
    watcher, 130 interrupted.
    """
    from pipeline.batch.forkserver import start_early
    from pipeline.config.workspace import Workspace

    ws = Workspace.open(workspace)
    # The workers' fork server boots while the engine is imported, unless nothing looks new: a
    # run with nothing to do needs no workers (W3: 50 MB and a core's worth of imports). The
    # first pool starts it when the guess was wrong (a file rewritten in place).
    if ws.looks_changed():
        start_early()
    from pipeline.batch.cluster import pool_factory
    from pipeline.batch.engine import run as run_batch
    from pipeline.batch.progress import Progress
    from pipeline.commands import daily
    from pipeline.commands.publish import publish
    from pipeline.names import printable

    factory = pool_factory(ws, executor, scheduler)
    ws.check_writable()  # a read-only out/ is this machine's fault: exit 2 before any input (#17)
    _setup_log(ws.root)
    for profile in ws.profiles.values():  # under --quiet in `status`: cron mails news only
        for warning in [] if quiet else profile.warnings:
            _err(f"warning: {warning}")
    started = time.monotonic()
    pool = factory(ws, jobs) if factory else None  # None: the engine's own local pool
    # --quiet: the per-input lines go nowhere; the digest below says what is new (#17).
    shown: set[str] = set()  # inputs the progress lines named

    with Progress(io.StringIO() if quiet else None) as progress, pool or contextlib.nullcontext():

        def on_result(result, done: int, total: int) -> None:
            shown.add(result.input)
            progress.update(result, done, total)

        report = run_batch(ws, jobs=jobs, on_result=on_result, on_step=progress.step, after=(publish,), pool=pool)
    doc = report.as_dict()
    if quiet:
        for line in daily.digest(doc, str(ws.root)):
            _err(line)
    else:
        # Refused before any worker saw them (an unreadable folder, a symlink out): named too (#17).
        for i in doc["items"]:
            if i["status"] == "failed" and i.get("new") and i["input"] not in shown:
                _err(f"failed {printable(i['input'])}: {i['error']}")
        for note in report.notes:
            _err(f"note: {note}")
        warned = daily.warning_lines(doc["items"])
        if warned:
            _err("warnings:")
            for line in warned:
                _err(line)
        c = daily.input_counts(doc)
        _err(
            f"{c['processed']} processed, {c['failed']} failed, {c['skipped']} unchanged"
            f"{', ' + str(len(report.removed)) + ' removed' if report.removed else ''}{daily.built(doc)}"
            f" in {time.monotonic() - started:.1f} s{' (interrupted)' if report.interrupted else ''}; "
            f"report: {ws.report_path.relative_to(ws.root)}, {ws.out.relative_to(ws.root) / 'site' / 'report.html'}"
        )
    if as_json:
        _print_json(doc)
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
@jobs_option
@executor_option
@scheduler_option
def watch(
    workspace: Path,
    poll: bool | None,
    settle: float | None,
    jobs: int | None,
    executor: str | None,
    scheduler: str | None,
) -> None:
    """Process files as they land in the watched folders, once they are complete.

    Catches up with what arrived while no watcher ran, then waits for files to settle. Holds the
    workspace like a run (a `crossmedia run` meanwhile exits 75). Stop with Ctrl-C or SIGTERM:
    inputs in flight finish, then exit 130.
    """
    from pipeline.batch.cluster import pool_factory
    from pipeline.batch.watch import Watcher
    from pipeline.commands.publish import publish
    from pipeline.config.workspace import Workspace

    ws = Workspace.open(workspace)
    factory = pool_factory(ws, executor, scheduler)
    ws.check_writable()  # exit 2 before any input is taken (#17)
    _setup_log(ws.root)
    options = ws.config.watch
    watcher = Watcher(
        ws,
        settle=options.settle if settle is None else settle,
        poll=options.poll if poll is None else poll,
        jobs=jobs,
        rescan=options.rescan,
        after=(publish,),
        pool_factory=factory,
    )
    sys.exit(watcher.run())


@cli.command()
@workspace_option
@scheduler_option
@click.option("--warnings", "with_warnings", is_flag=True, help="List every input's warnings, grouped per input.")
@json_option
def status(workspace: Path, scheduler: str | None, with_warnings: bool, as_json: bool) -> None:
    """What was processed, what failed and why, what is waiting, who holds the workspace, and the
    Dask cluster's workers when one is configured. With --warnings, what each input was warned about."""
    from pipeline.commands.status import status as get_status
    from pipeline.config.workspace import Workspace

    data = get_status(Workspace.open(workspace), scheduler=scheduler)
    if as_json:
        _print_json(data)
        return
    from pipeline.commands.status import format_status

    click.echo(format_status(data, with_warnings=with_warnings))


@cli.command()
@workspace_option
@click.argument("inputs", nargs=-1, metavar="[INPUT...]")
@click.option("--failed", "all_failed", is_flag=True, help="Every failed input.")
def retry(workspace: Path, inputs: tuple[str, ...], all_failed: bool) -> None:
    """Process INPUTs (workspace-relative, as in out/report.json) again on the next run, though their
    bytes did not change: after fixing what the error said (a codec installed, a setting changed).
    Exit 75 while a run or watcher holds the workspace."""
    from pipeline.batch.lock import workspace_lock
    from pipeline.batch.store import Store
    from pipeline.config.workspace import Workspace

    if bool(inputs) == all_failed:
        raise click.UsageError("name the inputs to retry, or give --failed for every failed input")
    ws = Workspace.open(workspace)
    with workspace_lock(ws.state, "retry"):
        store = Store(ws.state / "state.db")
        try:
            queued, unknown = store.requeue(list(inputs) if inputs else None)
        finally:
            store.close()
    if unknown:
        raise click.UsageError(
            f"not an input of this workspace: {', '.join(unknown)} (use the paths of out/report.json)"
        )
    _err(f"{len(queued)} input(s) will be processed by the next run: `crossmedia run -w {ws.root}`")


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
@click.option("-p", "--profile", help="Only this profile's proof (default: every profile with inputs).")
@click.option("-i", "--input", "pattern", help='A full-page proof of each matching input ("hero.jpg", "inbox/web/*").')
@click.option("--pdf-x", is_flag=True, help="Only print (CMYK) profiles, as PDF/X-4 with the profile's output ICC.")
@click.option("--force", is_flag=True, help="Make the proofs again even when nothing they show changed.")
@json_option
def proof(workspace: Path, profile: str | None, pattern: str | None, pdf_x: bool, force: bool, as_json: bool) -> None:
    """PDF proofs for clients in out/proofs/: a contact sheet per profile (<profile>.pdf), or a full
    page per input with --input. Print profiles get PDF/X-4 in their CMYK; others an sRGB PDF.
    Only proofs whose content changed are made again."""
    from pipeline.config.workspace import Workspace
    from pipeline.proofs.build import build_proofs

    built = build_proofs(Workspace.open(workspace), profile=profile, pattern=pattern, pdf_x=pdf_x, force=force)
    if as_json:
        _print_json([b.__dict__ for b in built])
        return
    for b in built:
        size = f"{b.bytes / 1e6:.1f} MB" if b.bytes >= 1e5 else f"{b.bytes / 1e3:.0f} kB"
        how = f"made in {b.seconds:.1f} s" if b.made else "unchanged"
        click.echo(f"{b.path}: {b.pages} page(s), {size}, {b.kind}; {how}")


@cli.command()
@workspace_option
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only inputs that arrived on this day (YYYY-MM-DD) or later.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "csv", "json"]),
    default="html",
    show_default=True,
    help="html: the page of out/site/report.html; csv: one row per input; json: everything.",
)
def report(workspace: Path, since, fmt: str) -> None:
    """The production report on stdout: per day and delivery folder what arrived, was processed,
    failed (and why) or skipped, review states, time from arrival to output, the slowest inputs.
    Every run also writes it to out/site/report.html."""
    from pipeline.config.workspace import Workspace
    from pipeline.reports.model import build_report
    from pipeline.reports.output import as_csv, as_json, html

    ws = Workspace.open(workspace)
    data = build_report(ws, since=since.date().isoformat() if since else None)
    text = {"csv": as_csv, "json": as_json}[fmt](data) if fmt != "html" else html(ws, data, home="")
    click.echo(text, nl=False)


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
@click.option("--review", is_flag=True, help="Approve, request changes or reject on the asset pages (and in bulk).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; any other than 127.0.0.1 shares the site on the network and needs the links "
    "`crossmedia review invite NAME` prints.",
)
def serve(workspace: Path, port: int, jobs: int | None, review: bool, host: str) -> None:
    """Serve the preview site and pages on 127.0.0.1; run and rebuild when inputs, pages or
    templates change, and reload the browser. With --review, designers decide on the pages."""
    from pipeline.batch.engine import run as run_batch
    from pipeline.commands.publish import publish
    from pipeline.config.workspace import Workspace
    from pipeline.site.serve import serve as serve_site

    _setup_log(workspace)

    def build(ws: Workspace):
        return run_batch(ws, jobs=jobs, command="serve", after=(publish,))

    serve_site(Workspace.open(workspace), build, port=port, echo=_err, host=host, review=review)


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
@click.argument("channels", nargs=-1)
@workspace_option
@click.option("--list", "list_only", is_flag=True, help="Print the channels and their limits, then stop.")
@click.option("--approved-only", is_flag=True, help="Only inputs whose review state is approved.")
@click.option("--since", metavar="DATE", help="Only inputs processed on or after DATE (YYYY-MM-DD).")
@json_option
def deliver(
    channels: tuple[str, ...], workspace: Path, list_only: bool, approved_only: bool, since: str | None, as_json: bool
) -> None:
    """Package what is new for each CHANNEL in out/deliveries/<channel>/<date>-<n>/ (files named for
    the channel, manifest.json, a zip), each file checked against the platform's limits, then send
    it where [deliver.<channel>] says. Exit 1 when an input failed a limit or a package could not
    be sent; 75 when a run holds the workspace."""
    from pipeline.deliver.package import deliver as deliver_to
    from pipeline.deliver.package import list_channels

    if list_only:
        found = list_channels(workspace if (workspace / "crossmedia.toml").is_file() else None)
        if as_json:
            _print_json(found)
            return
        for c in found:
            click.echo(f"{c['name']}: {c['description']}")
            for line in c["limits"]:
                click.echo(f"  {line}")
        return
    if not channels:
        raise click.UsageError("name at least one channel (see `crossmedia deliver --list`)")
    from pipeline.config.workspace import Workspace

    ws = Workspace.open(workspace)
    _setup_log(ws.root)
    results = deliver_to(ws, list(channels), approved_only=approved_only, since=since, echo=_err)
    if as_json:
        _print_json([r.as_dict() for r in results])
    bad = any(r.failed or (r.target or {}).get("exit_code") for r in results)
    sys.exit(ExitCode.INPUTS_FAILED if bad else ExitCode.OK)


@cli.group(cls=Group)
def review() -> None:
    """Approve, request changes to or reject inputs; list review states; invite reviewers."""


def _decide(decision: str, inputs: tuple[str, ...], workspace: Path, by: str, message: str) -> None:
    from pipeline.config.workspace import Workspace
    from pipeline.review.decisions import decide

    written = decide(Workspace.open(workspace), list(inputs), decision, by, message)
    for i, d in zip(dict.fromkeys(inputs), written, strict=True):
        _err(f"{d['decision']}: {i} (version {d['version'][:12]}) by {d['by']}")


def _decision_command(decision: str, summary: str):
    @workspace_option
    @click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
    @click.option("--as", "by", required=True, metavar="NAME", help="Who decides (the reviewer's name).")
    @click.option("-m", "--message", default="", metavar="TEXT", help="Comment (required for changes).")
    def command(inputs: tuple[str, ...], workspace: Path, by: str, message: str) -> None:
        _decide(decision, inputs, workspace, by, message)

    command.__doc__ = summary + " INPUT is the workspace-relative path, as in out/report.json."
    return command


review.command("approve")(_decision_command("approved", "Approve the current version of each INPUT."))
review.command("changes")(
    _decision_command("changes", "Request changes to the current version of each INPUT (-m says what).")
)
review.command("reject")(_decision_command("rejected", "Reject the current version of each INPUT."))


@review.command("list")
@workspace_option
@click.option(
    "--state",
    type=click.Choice(["pending", "approved", "changes", "rejected"]),
    help="Only inputs in this review state.",
)
@json_option
def review_list_command(workspace: Path, state: str | None, as_json: bool) -> None:
    """Every input's review state, approvals and decisions."""
    from pipeline.config.workspace import Workspace
    from pipeline.review.decisions import format_list, review_list

    items = review_list(Workspace.open(workspace), state)
    if as_json:
        _print_json(items)
    else:
        click.echo(format_list(items))


@review.command("invite")
@workspace_option
@click.argument("name")
@click.option(
    "--url",
    default="http://HOST:8000/",
    show_default=True,
    help="Address `crossmedia serve --review --host` prints, to make the link with.",
)
def review_invite(workspace: Path, name: str, url: str) -> None:
    """Make a review link for NAME (needed when the site is shared with --host); inviting a name
    again replaces its link."""
    from pipeline.config.workspace import Workspace
    from pipeline.review.access import invite

    token = invite(Workspace.open(workspace), name)
    click.echo(f"{url.rstrip('/')}/site/index.html?token={token}")
    _err(f"review link for {name}: send it to them only; `crossmedia review invite {name}` again revokes it")


repo_option = click.option(
    "--repo", help="restic repository (default: [backup] repo). The password: RESTIC_PASSWORD_FILE or RESTIC_PASSWORD."
)


@cli.group(cls=Group, invoke_without_command=True)
@workspace_option
@repo_option
@click.pass_context
def backup(ctx: click.Context, workspace: Path, repo: str | None) -> None:
    """Back up the originals (watched folders, sidecars, profiles, pages, banner sources, config)
    with a sha256 manifest into a restic repository. Exit 1 when the backup failed."""
    if ctx.invoked_subcommand is not None:
        return
    from pipeline.backup.restic import backup as run_backup
    from pipeline.backup.restic import summary_line
    from pipeline.config.workspace import Workspace

    ws = Workspace.open(workspace)
    _setup_log(ws.root)
    _err(summary_line(run_backup(ws, repo)))


@backup.command("verify")
@workspace_option
@repo_option
def backup_verify(workspace: Path, repo: str | None) -> None:
    """Read back every pack of the repository and check it (restic check --read-data). Exit 1 when damaged."""
    from pipeline.backup.restic import verify
    from pipeline.config.workspace import Workspace

    ws = Workspace.open(workspace)
    _setup_log(ws.root)
    _err(verify(ws, repo))


@backup.command("restore")
@workspace_option
@repo_option
@click.option("--input", "pattern", metavar="GLOB", help='Only originals matching GLOB, e.g. "inbox/web/*.jpg".')
@click.option("--snapshot", default="latest", show_default=True, help="restic snapshot id.")
@click.option(
    "--to", "to", required=True, type=click.Path(file_okay=False, path_type=Path), help="New or empty folder."
)
def backup_restore(workspace: Path, repo: str | None, pattern: str | None, snapshot: str, to: Path) -> None:
    """Restore originals into a new folder and prove them byte-identical against the backup's
    sha256 manifest. Exit 1 when a file is missing or differs."""
    from pipeline.backup.restic import restore
    from pipeline.config.workspace import Workspace

    ws = Workspace.open(workspace)
    _setup_log(ws.root)
    _err(restore(ws, to, repo, pattern, snapshot))


@cli.command()
@scheduler_option
@click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With a cluster: check that every worker sees this workspace and has its profiles.",
)
@json_option
def doctor(scheduler: str | None, workspace: Path | None, as_json: bool) -> None:
    """Check ffmpeg, ffprobe, codecs, Pillow formats, ICC profiles, rsvg-convert and Chromium; with
    a Dask scheduler (--scheduler, [executor] scheduler or DASK_SCHEDULER_ADDRESS), every worker too."""
    from pipeline.commands.doctor import checks, cluster_checks, format_checks

    results = checks() + cluster_checks(scheduler, workspace)
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
