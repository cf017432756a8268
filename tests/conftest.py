"""Shared test fixtures: the real media corpus, temp workspaces, the CLI, a real headless Chromium.

Media comes from ../shared/corpus (see its SOURCES.md for origin and licence of every file),
always copied into tmp_path first so that no test can touch the originals.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from pipeline.banners.browser import settle  # noqa: F401 - the browser tests wait with it

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("CROSSMEDIA_CORPUS", ROOT.parent / "shared" / "corpus"))
ARTIFACTS = ROOT / "test-artifacts"


def published(item: dict) -> list[str]:
    """A report item's renditions proper: its outputs without the pictures made for people
    (source preview, before, soft proof, share: stages/previews.py names them so; a video's whole
    frame: stages/poster.py)."""
    return [o for o in item["outputs"] if not re.search(r"\.(preview|share|frame)\.\w+$|\.(before|proof)-\w+\.\w+$", o)]


# Property tests (hypothesis), deterministic for CI: a fixed, modest number of examples,
# derandomized, no example database. `HYPOTHESIS_PROFILE=thorough` runs many more.
settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def manifest() -> list[dict]:
    with (CORPUS / "manifest.json").open(encoding="utf-8") as f:
        return json.load(f)


def corpus_entries(**match) -> list[dict]:
    """Manifest entries whose fields (or facts) equal the given values, e.g. kind="image"."""
    out = []
    for entry in manifest():
        ok = True
        for k, v in match.items():
            have = entry.get(k, entry.get("facts", {}).get(k))
            matches = bool(v(have)) if callable(v) and not isinstance(v, type) else have == v
            ok = ok and matches
        if ok:
            out.append(entry)
    return out


def pytest_collection_modifyitems(config, items):
    if not (CORPUS / "manifest.json").is_file():
        skip = pytest.mark.skip(reason=f"test corpus not found at {CORPUS} (set CROSSMEDIA_CORPUS)")
        for item in items:
            if "corpus" in item.fixturenames:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def corpus() -> Path:
    return CORPUS


class Workspace:
    """A temp workspace plus helpers to drop files in and run the real CLI on it."""

    def __init__(self, root: Path):
        self.root = root

    def drop(self, source: Path | str, folder: str = "inbox/web", name: str | None = None) -> Path:
        source = Path(source)
        if not source.is_absolute():
            source = CORPUS / source
        dest = self.root / folder / (name or source.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        return dest

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def profile(self, name: str, text: str) -> Path:
        return self.write(f"profiles/{name}.toml", text)

    def cli(self, *args: str, expect: int | None = None):
        from pipeline.commands.cli import cli

        result = CliRunner().invoke(cli, [*args], catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, f"exit {result.exit_code}, expected {expect}\n{result.output}"
        return result

    def run(self, *extra: str, expect: int | None = None):
        return self.cli("run", "-w", str(self.root), *extra, expect=expect)

    def report(self) -> dict:
        return json.loads((self.root / "out" / "report.json").read_text(encoding="utf-8"))

    def item(self, rel: str) -> dict:
        items = [i for i in self.report()["items"] if i["input"] == rel]
        assert items, f"{rel} not in report: {[i['input'] for i in self.report()['items']]}"
        return items[0]

    def files(self, under: str = "out") -> list[Path]:
        return sorted(p for p in (self.root / under).rglob("*") if p.is_file())


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    from pipeline.config.workspace import init_workspace

    init_workspace(tmp_path / "ws", "test")
    return Workspace(tmp_path / "ws")


def crossmedia(*args: str, cwd: Path | None = None, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """The real command in a subprocess (end-to-end: signals, exit codes, stdout/stderr split)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.commands.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


# Browser -----------------------------------------------------------------------------------
def _chromium() -> tuple[str | None, str | None]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    return browser, shutil.which("chromedriver")


# Browser tests wait for conditions, never for a time, and this long for each (#12): a machine
# that is busy (CI, other jobs on two cores) is slow, not broken.
WAIT = 300


@pytest.fixture
def browser(tmp_path_factory):
    """Debian's Chromium driven through chromium-driver, fresh profile, performance log on;
    started (with one retry) and given generous timeouts by pipeline.banners.browser.start."""
    chromium, driver = _chromium()
    if not chromium or not driver:
        pytest.skip(
            f"needs chromium and chromedriver (Debian packages chromium, chromium-driver); "
            f"found chromium={chromium}, chromedriver={driver}"
        )
    from pipeline.banners.browser import FLAGS, start

    drv = start(
        [*FLAGS, "--allow-file-access-from-files"],
        lambda: str(tmp_path_factory.mktemp("chromium-profile")),
    )
    try:
        yield drv
    finally:
        drv.quit()


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
