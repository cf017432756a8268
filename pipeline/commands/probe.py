"""`crossmedia probe FILE`: what a file is, and whether each profile can use it (and why not).

Runs the same stages as a real run, minus those that write outputs, so its verdict is the run's.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from pipeline.batch.worker import route
from pipeline.config.profile import load_profiles
from pipeline.config.settings import Limits
from pipeline.config.sidecar import parse_sidecar, read_sidecar
from pipeline.errors import CrossmediaError
from pipeline.job import Job
from stages import CHAINS, STAGES, WRITERS

# Facts worth showing a person, in this order.
SHOWN = [
    "format",
    "mode",
    "width",
    "height",
    "display_width",
    "display_height",
    "orientation",
    "frames",
    "dpi",
    "source_icc",
    "source_icc_assumed",
    "jpeg_quality",
    "print_ppi",
    "metadata_stripped",
    "container",
    "codec",
    "video_codec",
    "pix_fmt",
    "sar",
    "fps",
    "variable_fps",
    "interlaced",
    "hdr",
    "rotation",
    "duration",
    "bit_rate",
    "bit_rate_kbps",
    "audio_codec",
    "sample_rate",
    "channels",
    "lufs",
    "true_peak",
    "lra",
]


def probe_file(path: Path, profiles: list[str] | None = None, workspace: Path | None = None) -> dict:
    path = Path(path)
    all_profiles = load_profiles(workspace.resolve() if workspace else None)
    unknown = [p for p in profiles or [] if p not in all_profiles]
    if unknown:
        raise CrossmediaError(f"no profile {unknown[0]!r}; known: {', '.join(sorted(all_profiles))}")
    data: dict = {
        "file": str(path),
        "bytes": path.stat().st_size,
        "media": "unknown",
        "facts": {},
        "profiles": {},
        "error": None,
    }
    sidecar_path = path.with_name(path.name + ".toml")
    try:
        sidecar = parse_sidecar(read_sidecar(sidecar_path if sidecar_path.is_file() else None), sidecar_path.name)
        kind, media = route(path)
    except CrossmediaError as e:
        data["error"] = str(e)
        return data
    data["media"] = media
    section, chain = CHAINS[kind]
    chain = [name for name in chain if name not in WRITERS]
    chosen = profiles or sorted(all_profiles)
    tmp = Path(tempfile.mkdtemp(prefix="crossmedia-probe-"))
    try:
        for name in chosen:
            profile = all_profiles[name]
            options = profile.options(section)
            if options is None:
                data["profiles"][name] = {"usable": False, "warnings": [f"profile {name} does not handle {media}"]}
                continue
            job = Job(
                source=path.resolve(),
                rel=path.name,
                kind=kind,
                profile=profile,
                out_dir=tmp / name,
                tmp_dir=tmp / ".tmp",
                workspace=(workspace or path.parent).resolve(),
                limits=Limits(),
                sidecar=sidecar,
            )
            try:
                for stage in chain:
                    job = STAGES[stage](job, options)
            except CrossmediaError as e:
                data["error"] = str(e)
                return data
            before = (job.facts.get("loudness") or {}).get("before") or {}  # measured before levelling
            data["facts"].update(
                {k: v for k, v in {**job.facts, **before}.items() if k in SHOWN and v not in (None, "")}
            )
            data["profiles"][name] = {"usable": True, "warnings": list(dict.fromkeys(job.warnings))}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return data


def format_probe(data: dict) -> str:
    lines = [f"{data['file']}: {data['media']}, {data['bytes']:,} bytes"]
    if data["error"]:
        lines.append(f"  unusable: {data['error']}")
        return "\n".join(lines)
    facts = data["facts"]
    for k in SHOWN:
        if k in facts:
            value = ", ".join(facts[k]) if isinstance(facts[k], list) else facts[k]
            if value != "":
                lines.append(f"  {k.replace('_', ' ')}: {value}")
    for name, verdict in data["profiles"].items():
        if not verdict["usable"]:
            lines.append(f"{name}: not handled ({verdict['warnings'][0]})")
        elif verdict["warnings"]:
            lines.append(f"{name}: usable, with {len(verdict['warnings'])} warning(s):")
            lines += [f"  - {w}" for w in verdict["warnings"]]
        else:
            lines.append(f"{name}: fine")
    return "\n".join(lines)
