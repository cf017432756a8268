"""`crossmedia doctor`: every outside tool and library feature the pipeline uses: found, or how to fix."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from PIL import features

from pipeline.config.icc import find_icc

FIX_APT = "sudo apt-get install -y {pkg}   (or run ./dev setup, which does it on Debian/Ubuntu)"


def _check(name: str, ok: bool, detail: str, fix: str, required: bool = True) -> dict:
    return {"name": name, "ok": bool(ok), "detail": detail, "fix": "" if ok else fix, "required": required}


def _version(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else ""


def checks() -> list[dict]:
    results = []
    for tool in ("ffmpeg", "ffprobe"):
        path = shutil.which(tool)
        results.append(
            _check(tool, path, _version([path, "-version"]) if path else "not found", FIX_APT.format(pkg="ffmpeg"))
        )
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        encoders = subprocess.run(
            [ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
        for codec, what, required in [
            ("libx264", "H.264 video", True),
            ("aac", "AAC audio", True),
            ("libmp3lame", "MP3 audio", True),
            ("libopus", "Opus audio", True),
            ("libvpx-vp9", "VP9 video (WebM)", False),
            ("libsvtav1", "AV1 video", False),
        ]:
            found = f" {codec} " in encoders
            results.append(
                _check(
                    f"ffmpeg encoder {codec}",
                    found,
                    what if found else f"{what}: missing",
                    "install Debian's ffmpeg package, which has it",
                    required,
                )
            )
        conf = subprocess.run(
            [ffmpeg, "-hide_banner", "-buildconf"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
        soxr = "--enable-libsoxr" in conf  # the audio chain resamples with it (#4)
        results.append(
            _check(
                "ffmpeg SoX resampler",
                soxr,
                "libsoxr (audio resampling)" if soxr else "libsoxr: missing",
                "install Debian's ffmpeg package, which has it",
            )
        )
    for feature, what in [
        ("jpg", "JPEG"),
        ("webp", "WebP"),
        ("avif", "AVIF"),
        ("littlecms2", "littleCMS colour management"),
        ("libtiff", "TIFF"),
        ("zlib", "PNG"),
    ]:
        ok = features.check(feature)
        results.append(
            _check(
                f"Pillow {what}",
                ok,
                f"{what} {'available' if ok else 'missing'}",
                "pip install --upgrade pillow (the wheels include it)",
            )
        )
    try:
        import pillow_heif

        results.append(_check("pillow-heif", True, f"HEIC/HEIF {pillow_heif.__version__}", ""))
    except ImportError:
        results.append(_check("pillow-heif", False, "HEIC/HEIF missing", "pip install pillow-heif"))
    try:  # stages/resize.py: photos' shrink-on-load and every opaque resize
        import pyvips

        jpeg = pyvips.type_find("VipsForeignLoad", "jpegload_source") != 0
        results.append(
            _check(
                "libvips",
                jpeg,
                f"libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
                + ("" if jpeg else " without its JPEG loader"),
                "pip install --force-reinstall pyvips-binary",
            )
        )
    except (ImportError, OSError) as e:  # OSError: the wheel's shared library did not load
        results.append(_check("libvips", False, f"libvips missing ({e})", "pip install pyvips pyvips-binary"))
    cmyk = find_icc("default_cmyk.icc")
    results.append(
        _check(
            "CMYK ICC profile",
            cmyk,
            str(cmyk) if cmyk else "default_cmyk.icc not found",
            FIX_APT.format(pkg="libgs-common") + "  (ghostscript's profiles, used for print and untagged CMYK)",
        )
    )
    rsvg = shutil.which("rsvg-convert")
    results.append(
        _check(
            "rsvg-convert",
            rsvg,
            _version([rsvg, "--version"]) if rsvg else "not found (SVG logos cannot be rasterised)",
            FIX_APT.format(pkg="librsvg2-bin"),
        )
    )
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    results.append(
        _check(
            "chromium",
            chromium,
            _version([chromium, "--version"]) if chromium else "not found (browser checks of pages and banners)",
            FIX_APT.format(pkg="chromium"),
            required=False,
        )
    )
    results.append(
        _check(
            "chromedriver",
            driver,
            _version([driver, "--version"]) if driver else "not found",
            FIX_APT.format(pkg="chromium-driver"),
            required=False,
        )
    )
    restic = shutil.which("restic")
    results.append(
        _check(
            "restic",
            restic,
            _version([restic, "version"]) if restic else "not found (`crossmedia backup` cannot run)",
            FIX_APT.format(pkg="restic"),
            required=False,  # only backups need it; processing and delivery do not (#16)
        )
    )
    return results


def format_checks(results: list[dict]) -> str:
    lines = []
    for r in results:
        mark = "ok  " if r["ok"] else ("FAIL" if r["required"] else "warn")
        lines.append(f"{mark} {r['name']}: {r['detail']}")
        if r["fix"]:
            lines.append(f"     fix: {r['fix']}")
    bad = [r for r in results if not r["ok"] and r["required"]]
    lines.append(
        "everything the pipeline needs is here"
        if not bad
        else f"{len(bad)} required part(s) missing: see the fixes above"
    )
    return "\n".join(lines)


def cluster_checks(scheduler: str | None, workspace: Path | None) -> list[dict]:
    """With a Dask scheduler (#13): every worker answers, runs this crossmedia and these profiles,
    has ffmpeg, and (with a workspace) sees it where [executor] path_map says."""
    from pipeline.config.workspace import Workspace

    ws = Workspace.open(workspace) if workspace is not None else None
    address = scheduler or (ws.config.executor.scheduler if ws else "") or os.environ.get("DASK_SCHEDULER_ADDRESS", "")
    if not address:
        return []
    # Only with a scheduler: the batch layer and Dask (0.5-0.7 s to import) are not needed otherwise.
    from pipeline.batch.cluster import describe_cluster, import_distributed
    from pipeline.errors import CrossmediaError

    try:
        import_distributed()
    except CrossmediaError as e:
        return [_check("dask cluster", False, str(e), "pip install 'crossmedia[dask]'")]
    state = describe_cluster(address, ws.root if ws else None, ws.config.executor.path_map if ws else {})
    workers = state["workers"]
    results = [
        _check(
            "dask cluster",
            not state["problems"],
            f"scheduler {address}, {len(workers)} worker(s)"
            + (f": {state['problems'][0]}" if state["problems"] else ""),
            "same crossmedia version, profiles and workspace path on every worker (docs: Several machines)",
        )
    ]
    for w in workers:
        res = ",".join(f"{k}={v:g}" for k, v in w.get("resources", {}).items()) or "no resources"
        results.append(
            _check(
                f"dask worker {w.get('where', w['address'])}",
                bool(w.get("ffmpeg")) and not any(w["address"] in p for p in state["problems"]),
                f"{w['address']}: crossmedia {w.get('crossmedia', '?')}, ffmpeg {w.get('ffmpeg') or 'missing'}, "
                f"{w['nthreads']} thread(s), {res}",
                "install the same crossmedia version and ffmpeg on this worker",
            )
        )
    return results
