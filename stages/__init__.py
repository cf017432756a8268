"""The one registry of stages, and the road each kind of input takes through them.

A stage is a plain function `(job, options) -> job`. Chains name stages; the names are checked
when this module loads, so a typo fails at import instead of being skipped at run time.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.media.avprobe import resolve_av
from stages.audio_analyse import audio_analyse
from stages.audio_encode import audio_encode
from stages.audio_probe import audio_probe
from stages.audio_qa import audio_qa
from stages.colour import colour
from stages.decode import decode
from stages.metadata import metadata
from stages.orient import orient
from stages.poster import poster
from stages.previews import previews
from stages.qa import qa
from stages.renditions import renditions
from stages.svg import svg
from stages.video_encode import video_encode
from stages.video_probe import video_probe
from stages.video_qa import video_qa
from stages.video_scan import video_scan
from stages.waveform import waveform

__all__ = ["CHAINS", "STAGES", "WRITERS", "resolve_av"]

STAGES: dict[str, Callable] = {
    "decode": decode,
    "svg": svg,
    "orient": orient,
    "colour": colour,
    "metadata": metadata,
    "renditions": renditions,
    "qa": qa,
    "previews": previews,
    "audio_probe": audio_probe,
    "audio_analyse": audio_analyse,
    "audio_encode": audio_encode,
    "waveform": waveform,
    "audio_qa": audio_qa,
    "video_probe": video_probe,
    "video_scan": video_scan,
    "video_encode": video_encode,
    "poster": poster,
    "video_qa": video_qa,
}

# input kind -> (profile section that configures it, stage names in order)
CHAINS: dict[str, tuple[str, list[str]]] = {
    "image": ("image", ["decode", "orient", "colour", "metadata", "renditions", "qa", "previews"]),
    "svg": ("image", ["svg", "colour", "metadata", "renditions", "qa", "previews"]),
    "audio": ("audio", ["audio_probe", "audio_analyse", "audio_encode", "waveform", "audio_qa"]),
    "video": ("video", ["video_probe", "video_scan", "video_encode", "poster", "video_qa"]),
}

# Stages that write outputs (encodes, posters, waveforms): `crossmedia probe` runs every other
# stage, so its verdict is the run's without the cost of encoding a long video for each profile.
WRITERS = {"renditions", "audio_encode", "waveform", "video_encode", "poster", "previews"}

for _kind, (_section, _names) in CHAINS.items():
    _unknown = [n for n in _names if n not in STAGES]
    if _unknown:
        raise ValueError(f"chain {_kind!r} names unknown stages {_unknown}; registered: {sorted(STAGES)}")
