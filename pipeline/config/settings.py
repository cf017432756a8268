"""The workspace's `crossmedia.toml`: which folder feeds which profile, limits, house style."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pipeline.config.schema import colour, font_list, key, load_table, positive, problem
from pipeline.errors import ConfigError

CONFIG_NAME = "crossmedia.toml"


def _folders(value: dict[str, str]) -> str | None:
    for folder in value:
        p = PurePosixPath(folder)
        if p.is_absolute() or ".." in p.parts or not p.parts:
            return f'folder {folder!r} must be a path inside the workspace, like "inbox/web"'
    return None


@dataclass(frozen=True)
class Limits:
    """`[limits]`: what one input may cost before it is refused."""

    max_pixels: int = key(
        268_402_689,
        "Largest image accepted, in pixels (all frames of an animation together); bigger is refused as a "
        "decompression bomb.",
        check=positive,
        example="100000000",
    )
    timeout: int = key(900, "Seconds one input may take before it is stopped and failed.", check=positive)
    memory_mb: int = key(
        4096,
        "Address-space cap of one worker process in MiB; an input that needs more fails instead of exhausting the "
        "machine.",
        check=positive,
    )


def _base_url(value: str) -> str | None:
    if value and not re.match(r"^https?://[^\s\"'<>]+/$", value):
        return "must be empty or an http(s) address ending in /"
    return None


def _asset_path(value: str) -> str | None:
    p = PurePosixPath(value)
    if value and (p.is_absolute() or ".." in p.parts):
        return 'must be the workspace-relative path of an input, like "inbox/web/logo.svg"'
    return None


@dataclass(frozen=True)
class Site:
    """`[site]`: the preview site's and the built-in page templates' house style (issue #6)."""

    logo: str = key(
        "",
        'Workspace-relative input path of the logo (a processed image, e.g. "inbox/web/logo.svg"); empty: the name '
        "as text.",
        check=_asset_path,
        example='"inbox/web/logo.svg"',
    )
    accent: str = key("#0b6e4f", "Accent colour: links, buttons, highlights.", check=colour, example='"#0b6e4f"')
    text: str = key("#1c2321", "Body text colour.", check=colour, example='"#1c2321"')
    background: str = key("#ffffff", "Page background colour.", check=colour, example='"#ffffff"')
    surface: str = key("#f3f1ec", "Background of bands, cards and captions.", check=colour, example='"#f3f1ec"')
    heading_font: str = key(
        "Georgia, 'Times New Roman', serif",
        "CSS font-family list for headings (installed fonts only: pages make no network requests).",
        check=font_list,
        example="\"'Helvetica Neue', Arial, sans-serif\"",
    )
    body_font: str = key(
        "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        "CSS font-family list for text.",
        check=font_list,
        example='"system-ui, sans-serif"',
    )
    base_url: str = key(
        "",
        'Public address of the published out/ folder (e.g. "https://campaign.example.com/"): share tags get absolute '
        "URLs. Empty: relative.",
        check=_base_url,
        example='"https://campaign.example.com/"',
    )


@dataclass(frozen=True)
class WatchOptions:
    """`[watch]`: how `crossmedia watch` decides a file is complete."""

    settle: float = key(
        2.0,
        "Seconds a file's size and mtime must stay still before it is taken (slow copies, network shares).",
        check=lambda v: None if 0 <= v <= 3600 else "must be between 0 and 3600 seconds",
        example="5",
    )
    poll: bool = key(
        False, "Poll the folders instead of kernel events (network shares where inotify does not fire); `--poll` too."
    )
    rescan: float = key(
        300.0,
        "Seconds between full rescans that catch anything the events missed.",
        check=lambda v: None if v >= 1 else "must be 1 second or more",
        example="60",
    )


@dataclass(frozen=True)
class Proofs:
    """`[proofs]`: the PDF proofs `crossmedia proof` makes (issue #15)."""

    paper: Literal["A4", "Letter"] = key("A4", 'Paper size of proofs: "A4" or "Letter".', example='"Letter"')
    per_page: int = key(
        6,
        "Assets per contact-sheet page: 4 (2x2), 6 (2x3) or 9 (3x3).",
        check=lambda v: None if v in (4, 6, 9) else "must be 4, 6 or 9",
        example="9",
    )
    marks: bool = key(False, "Crop marks and bleed on print (PDF/X-4) proofs.")
    bleed_mm: float = key(
        3.0,
        "Bleed around the page when marks = true, in millimetres.",
        check=lambda v: None if 0 <= v <= 20 else "must be between 0 and 20 mm",
        example="5",
    )


@dataclass(frozen=True)
class ReviewOptions:
    """`[review]`: how many approvals make an input approved (issue #14)."""

    approvals: int = key(
        1,
        "Approvals (by different reviewers) an input's current version needs before it counts as approved.",
        check=positive,
        example="2",
    )


def _folder_target(value: str) -> str | None:
    if "://" in value:
        return (
            "must be a folder on this machine (a mounted share is fine); remote targets (sftp://, s3://...) go "
            'through `command`, e.g. command = ["rclone", "copy", "{package}", "remote:campaign"]'
        )
    return None


@dataclass(frozen=True)
class DeliverTarget:
    """`[deliver.<channel>]`: where a channel's finished packages go next (#16)."""

    to: str = key(
        "",
        "Folder (absolute, or relative to the workspace) each complete package is copied into; empty: none.",
        check=_folder_target,
        example='"/mnt/share/instagram"',
    )
    command: list[str] = key(
        [],
        "Command run after each complete package, no shell; {package}, {zip}, {manifest}, {channel} are filled in. "
        "Its exit code is recorded.",
        example='["rclone", "copy", "{package}", "remote:campaign"]',
    )
    cut_long: bool = key(
        False,
        "Cut videos longer than the channel takes to its longest length (from the start of the kept part) instead "
        "of failing them.",
    )


def _no_secret(value: str) -> str | None:
    # rest:https://user:secret@host/ would put a password in the config; restic reads it from
    # the environment instead (#16).
    if re.search(r"://[^/@\s]*:[^/@\s]*@", value):
        return "must not hold a password; give it in RESTIC_PASSWORD_FILE or RESTIC_PASSWORD"
    return None


@dataclass(frozen=True)
class BackupOptions:
    """`[backup]`: the restic repository the originals go into (#16). Never its password."""

    repo: str = key(
        "",
        "restic repository: a folder (relative to the workspace or absolute), sftp:host:/path, s3:... "
        "`--repo` overrides. The password comes only from RESTIC_PASSWORD_FILE or RESTIC_PASSWORD.",
        check=_no_secret,
        example='"/mnt/backup/campaign-restic"',
    )


def _path_map(value: dict[str, str]) -> str | None:
    for here, there in value.items():
        if not (here.startswith("/") and there.startswith("/")):
            return f"{here!r} = {there!r}: both must be absolute paths, this machine's first"
    return None


@dataclass(frozen=True)
class ExecutorOptions:
    """`[executor]`: where a batch's inputs are processed: this machine, or a Dask cluster (#13)."""

    kind: Literal["local", "dask"] = key(
        "local",
        'Where inputs are processed: "local" (worker processes on this machine) or "dask" (a Dask cluster); '
        "`--executor` overrides it.",
        example='"dask"',
    )
    scheduler: str = key(
        "",
        'Address of the Dask scheduler, e.g. "tcp://sched:8786"; empty: DASK_SCHEDULER_ADDRESS. `--scheduler` '
        "overrides it.",
        check=lambda v: None if not v or "://" in v else 'must be an address like "tcp://sched:8786"',
        example='"tcp://sched:8786"',
    )
    path_map: dict[str, str] = key(
        {},
        "This machine's path of the workspace (or a folder above it) -> the path where the workers mount it; "
        "empty: the same path everywhere.",
        check=_path_map,
        example='{ "/srv/campaign" = "/mnt/campaign" }',
    )


@dataclass(frozen=True)
class WorkspaceConfig:
    name: str = key("", "Shown in the preview site and reports.")
    jobs: int = key(
        0,
        "Worker processes; 0 uses every core. `crossmedia run --jobs` overrides it.",
        check=lambda v: "must be 0 or more" if v < 0 else None,
    )
    folders: dict[str, str] = key(
        {},
        "Watched folder (relative to the workspace) -> profile name. Empty: inbox/<profile>/ for every profile.",
        check=_folders,
        example='{ "inbox/web" = "web" }',
    )
    limits: Limits = dataclasses.field(default_factory=Limits, metadata={"help": "Per-input limits, see [limits]."})
    site: Site = dataclasses.field(
        default_factory=Site, metadata={"help": "House style of the preview site and pages, see [site]."}
    )
    watch: WatchOptions = dataclasses.field(default_factory=WatchOptions, metadata={"help": "Watch mode, see [watch]."})
    # Channel name -> DeliverTarget; the tables are checked one by one in load_config (a dict of
    # tables has no dataclass to check it against), the names by pipeline.deliver.
    deliver: dict[str, Any] = key(
        {},
        "Where each channel's packages go next, see [deliver.<channel>].",
        check=lambda v: next((f"[deliver.{k}] must be a table" for k, t in v.items() if not isinstance(t, dict)), None),
        example='{ instagram-feed = { to = "/mnt/share/instagram" } }',
    )
    backup: BackupOptions = dataclasses.field(
        default_factory=BackupOptions, metadata={"help": "The restic repository of the originals, see [backup]."}
    )
    review: ReviewOptions = dataclasses.field(
        default_factory=ReviewOptions, metadata={"help": "Review and approval, see [review]."}
    )
    proofs: Proofs = dataclasses.field(default_factory=Proofs, metadata={"help": "PDF proofs, see [proofs]."})
    executor: ExecutorOptions = dataclasses.field(
        default_factory=ExecutorOptions, metadata={"help": "Local workers or a Dask cluster, see [executor]."}
    )


DEFAULT_CONFIG = """\
# crossmedia workspace. Every key, its default and what it does: the "Workspace" page of the
# crossmedia docs, section "crossmedia.toml" (docs/workspace.md in the sources).
name = "{name}"

# Watched folder -> profile. Files dropped into a folder come out under out/<profile>/.
[folders]
{folders}

[limits]
# max_pixels = 268402689   # larger images are refused as decompression bombs
# timeout = 900            # seconds per input

[site]
# House style of the preview site and pages (docs/site.md, "House style").
# logo = "inbox/web/logo.svg"
# accent = "#0b6e4f"

[watch]
# settle = 2.0             # seconds a file must stay unchanged before `crossmedia watch` takes it
# poll = false             # true for network shares where file events do not arrive
"""


def load_config(root: Path) -> WorkspaceConfig:
    path = root / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(
            [
                f"error: {path} not found: {root} is not a crossmedia workspace.\n"
                f"  Fix: run `crossmedia init {root}` or pass -w with the workspace folder."
            ]
        )
    try:
        with path.open("rb") as f:
            table = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(
            [f"error: {path}: not valid TOML: {e}\n  Fix: correct the syntax at the place named."]
        ) from None
    except UnicodeDecodeError as e:  # saved in a legacy encoding (#8: was a traceback)
        raise ConfigError(
            [f"error: {path}: not valid TOML: not UTF-8 text (byte {e.start})\n  Fix: save the file as UTF-8."]
        ) from None
    problems: list[str] = []
    config = load_table(WorkspaceConfig, table, path, "", problems)
    targets = {}
    for channel, sub in (config.deliver if config else {}).items():
        targets[channel] = load_table(DeliverTarget, sub, path, f"deliver.{channel}", problems)
    if problems:
        raise ConfigError(problems)
    return dataclasses.replace(config, deliver=targets) if targets else config


def check_folder_profiles(config: WorkspaceConfig, profiles, path: Path) -> None:
    problems = [
        problem(
            path,
            "folders",
            f'"{folder}"',
            name,
            f"there is no profile {name!r}.",
            "use one of " + ", ".join(sorted(profiles)) + ", or add profiles/" + name + ".toml to the workspace.",
        )
        for folder, name in config.folders.items()
        if name not in profiles
    ]
    if problems:
        raise ConfigError(problems)
