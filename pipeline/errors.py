"""What a user can fix is a CrossmediaError; anything else is a bug and keeps its traceback."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The workspace contract with cron (docs/operations.md, "Exit codes")."""

    OK = 0  # every input fine
    INPUTS_FAILED = 1  # the run finished, and inputs failed in it: new failures (quarantined)
    USAGE = 2  # bad command line, config or profile; or a fault of this machine (MachineFault, #17)
    FAILED_BEFORE = 3  # the run finished, nothing new failed, but inputs that failed before still do (#17)
    LOCKED = 75  # another run or watcher holds the workspace (sysexits EX_TEMPFAIL: cron retries)
    INTERRUPTED = 130  # SIGINT or SIGTERM


class CrossmediaError(Exception):
    """A problem the user can fix; the CLI prints it as one line (or a short block), no traceback."""

    exit_code = ExitCode.USAGE


class ConfigError(CrossmediaError):
    """A workspace config, profile or sidecar that does not validate.

    Carries every problem found, so the user fixes them all in one go.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class LockedError(CrossmediaError):
    exit_code = ExitCode.LOCKED


class InputError(CrossmediaError):
    """One input cannot be processed (truncated, bomb, not media...). The run goes on.

    The message is the headline, in plain words with what to do (#17); `details` keeps a tool's
    own text (ffmpeg's stderr) for the log, quarantine/ and the report item, never the headline."""

    exit_code = ExitCode.INPUTS_FAILED

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


class MachineFault(CrossmediaError):
    """This machine, not the input, is at fault: out/ not writable, an encoder missing from
    ffmpeg's build (#17). Exit 2 with a one-line fix; the inputs it hit are not quarantined and
    are retried by the next run, as for a full disk."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


class DiskFullError(CrossmediaError):
    """The disk (or quota) under out/, quarantine/ or .crossmedia/ is full. Nothing half-written
    is kept; the inputs that could not be written are retried by the next run."""

    exit_code = ExitCode.INPUTS_FAILED


class MissingTool(CrossmediaError):
    """ffmpeg, ffprobe, rsvg-convert or chromium is not installed."""
