"""The data that travels: a Task goes to a worker, a Job goes through the stages, a Result comes back.

A Task is plain picklable data (workspace path, input path, profile name, sidecar path) so that
any executor can run it: today a local process pool, later a distributed engine, with no change
to the stages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from pipeline.config.profile import Profile
from pipeline.config.settings import Limits
from pipeline.config.sidecar import Sidecar

Kind = Literal["image", "audio", "video", "unknown"]


@dataclass(frozen=True)
class Task:
    workspace: str  # absolute path of the workspace root
    input: str  # workspace-relative path
    profile: str
    sidecar: str | None = None  # workspace-relative path of the sidecar
    formats: tuple[str, ...] = ()  # only these image formats (an input shared between idle workers)
    previews: bool = True  # this share makes the pictures for people (one share of a split input)


@dataclass(frozen=True)
class Result:
    """What the engine stores and reports for one input."""

    input: str
    profile: str
    media: Kind
    status: Literal["processed", "failed", "skipped"]
    outputs: list[str] = field(default_factory=list)  # workspace-relative
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    size: int = 0
    mtime_ns: int = 0
    recipe: str = ""
    seconds: float = 0.0
    traceback: str = ""  # for a bug of ours: the parent writes it to .crossmedia/crossmedia.log
    retry: bool = False  # failed for a reason that is not the input's (disk full): retried next run
    fault: bool = False  # this machine's fault (out/ not writable, a codec missing): exit 2 (#17)
    details: str = ""  # a tool's own words behind `error` (ffmpeg's stderr): log and report only (#17)
    worker: str = ""  # where it ran, "host:pid" (#13: a cluster's report says which machine did what)

    @classmethod
    def unread(cls, task: Task, error: str) -> Result:
        """Failed before the stages could say what the file is: outside the workspace, unreadable,
        its worker died on it or ran past the time limit."""
        return cls(task.input, task.profile, "unknown", "failed", error=error)


@dataclass(frozen=True)
class Frame:
    """One frame of an animation and how long it shows (ms)."""

    image: Image.Image
    duration: int


@dataclass(frozen=True)
class Output:
    path: Path  # absolute, final name
    facts: Mapping[str, Any]  # format, width, height, bytes, aspect, crop...


@dataclass(frozen=True)
class Job:
    """One input on its way through the stages. Stages return a new Job (dataclasses.replace)."""

    source: Path  # absolute path of the original (never written)
    rel: str  # workspace-relative path, for messages
    kind: str  # image | svg | audio | video
    profile: Profile
    out_dir: Path  # out/<profile>/.../<safe input name>/
    tmp_dir: Path  # where outputs are written before the rename
    workspace: Path
    limits: Limits
    sidecar: Sidecar = field(default_factory=Sidecar)
    pixels: Image.Image | None = None  # decoded (first) frame between stages
    frames: tuple[Frame, ...] = ()  # every frame, when the source is animated
    svg: bytes | None = None  # sanitised SVG source
    icc: bytes | None = None  # ICC profile of `pixels` as they are now
    # The source for the pictures people look at, when `pixels` are not the best start: print's
    # sRGB copy, or a whole-frame rendition just wider than those pictures (stages.renditions).
    screen: Image.Image | None = None
    exif: Any = None  # the source's EXIF (PIL.Image.Exif), for the metadata policy
    facts: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    outputs: tuple[Output, ...] = ()
    # How far a long step is: progress("video encoding", 0.4). The worker connects it to the
    # engine's display; elsewhere (probe, tests) there is no one to tell, and ffmpeg runs plain.
    progress: Callable[[str, float], None] | None = field(default=None, repr=False, compare=False)

    def warn(self, message: str) -> Job:
        return replace(self, warnings=(*self.warnings, message))

    def note(self, **facts: Any) -> Job:
        return replace(self, facts={**self.facts, **facts})

    def with_output(self, path: Path, **facts: Any) -> Job:
        return replace(self, outputs=(*self.outputs, Output(path, facts)))
