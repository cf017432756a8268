"""Profiles, workspace config and sidecars are checked whole, before any media is touched, with
messages that name the file, the key and a fix."""

from __future__ import annotations

from pathlib import Path

from conftest import crossmedia, published


def test_bad_profile_stops_the_run_with_exit_2_before_any_media(ws):
    ws.drop("images/tiny-128.jpg")
    ws.profile("web", '[image]\nwidths = [-200]\nformts = ["webp"]\nquality = { webp = 180 }\n')
    done = crossmedia("run", "-w", str(ws.root))
    assert done.returncode == 2
    err = done.stderr
    path = str(ws.root / "profiles/web.toml")
    assert f"error: {path} [image] widths = [-200]" in err
    assert "widths every value must be positive" in err and "Fix: e.g. widths = [1600, 800]" in err
    assert "formts" in err and "did you mean 'formats'?" in err
    assert "quality = {webp = 180}" in err and "between 1 and 100" in err
    assert "Traceback" not in err
    assert not (ws.root / "out/web").exists() and not (ws.root / "out/report.json").exists()


def test_wrong_types_and_unknown_sections_are_reported_together(ws):
    ws.profile("odd", 'description = 3\n[image]\nprogressive = "yes"\n[imgae]\nwidths = [1]\n')
    done = ws.cli("run", "-w", str(ws.root), expect=2)
    assert "description must be text" in done.output
    assert "progressive must be true/false" in done.output
    assert "[imgae]" in done.output and "unknown section" in done.output


def test_a_profile_without_aspects_is_refused(ws):
    ws.profile("bare", "[image]\naspects = []\nwidths = [640]\n")
    done = ws.cli("run", "-w", str(ws.root), expect=2)
    assert "aspects" in done.output and 'give at least one, e.g. ["original"]' in done.output


def test_invalid_toml_names_the_place(ws):
    ws.profile("broken", "[image\nwidths = 1\n")
    done = ws.cli("run", "-w", str(ws.root), expect=2)
    assert "broken.toml: not valid TOML" in done.output and "line 1" in done.output


def test_folder_mapped_to_a_missing_profile(ws):
    ws.write("crossmedia.toml", '[folders]\n"inbox/web" = "webb"\n')
    done = ws.cli("run", "-w", str(ws.root), expect=2)
    assert "there is no profile 'webb'" in done.output and "use one of" in done.output


def test_folder_outside_the_workspace_is_refused(ws):
    ws.write("crossmedia.toml", '[folders]\n"../elsewhere" = "web"\n')
    done = ws.cli("run", "-w", str(ws.root), expect=2)
    assert "must be a path inside the workspace" in done.output


def test_cmyk_profile_needs_an_existing_output_icc(ws):
    ws.profile("press", '[image]\ncolour = "cmyk"\nformats = ["tiff"]\noutput_icc = "nope.icc"\n')
    done = ws.cli("run", "-w", str(ws.root), expect=2)
    assert "output_icc" in done.output and "no such ICC profile" in done.output


def test_extends_changes_only_the_given_keys(ws):
    ws.profile("web", 'extends = "web"\n[image]\nformats = ["webp"]\n')
    ws.drop("images/tiny-128.jpg")
    ws.run(expect=0)
    outs = published(ws.item("inbox/web/tiny-128.jpg"))
    assert outs and all(o.endswith(".webp") for o in outs)


def test_missing_workspace_is_a_usage_error(tmp_path):
    done = crossmedia("run", "-w", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and "is not a crossmedia workspace" in done.stderr and "crossmedia init" in done.stderr


def test_a_bad_sidecar_fails_only_its_input(ws):
    ws.drop("images/tiny-128.jpg")
    ws.drop("images/orient-1.jpg")
    ws.write("inbox/web/tiny-128.jpg.toml", 'focus = [2, 0.5]\naltt = "x"\n')
    ws.run(expect=1)
    item = ws.item("inbox/web/tiny-128.jpg")
    assert item["status"] == "failed" and "tiny-128.jpg.toml" in item["error"] and "Fix" in item["error"]
    assert ws.item("inbox/web/orient-1.jpg")["status"] == "processed"
    ws.write("inbox/web/tiny-128.jpg.toml", "focus = [0.2, 0.5]\n")
    ws.run(expect=0)


def test_init_refuses_to_overwrite(tmp_path):
    assert crossmedia("init", str(tmp_path / "w")).returncode == 0
    for folder in ("inbox/web", "inbox/social", "inbox/print", "pages", "banners", "out", "quarantine"):
        assert (tmp_path / "w" / folder).is_dir(), folder
    again = crossmedia("init", str(tmp_path / "w"))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_built_in_profiles_load(ws):
    from pipeline.config.profile import load_profiles

    profiles = load_profiles(None)
    assert {"web", "social", "print"} <= set(profiles)
    assert all(Path(p.path).parent.name == "profiles" for p in profiles.values())
