"""Property-based tests (hypothesis) for the pure parts (issue #8): config, profile and sidecar
parsing never fail with anything but a ConfigError/InputError that names the file and the key;
crop geometry stays inside the image with the asked aspect; trim times round-trip.

Deterministic for CI (the settings profiles are in conftest.py): a fixed, modest number of
examples, derandomized, no example database. `HYPOTHESIS_PROFILE=thorough` runs many more.
"""

from __future__ import annotations

import math

from hypothesis import assume, example, given
from hypothesis import strategies as st

from pipeline.config.profile import load_profiles
from pipeline.config.settings import load_config
from pipeline.config.sidecar import parse_sidecar, parse_time
from pipeline.errors import ConfigError, InputError
from pipeline.media.crop import crop_box

# TOML documents ------------------------------------------------------------------------------
# Text TOML can hold: no surrogates; DEL and other controls are escaped by the emitter below.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
SCALAR = st.one_of(
    TEXT,
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(
        ["", "original", "16:9", "0:0", "#0b6e4f", "web", "inbox/web", "../etc", "/etc/passwd", "00:00:01.5", "nan"]
    ),
)
VALUE = st.recursive(
    SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8
)


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_doc(table: dict) -> str:
    """Top-level keys first, then each dict value as a [section] (so sections are real tables)."""
    lines = [f"{toml_string(k)} = {toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for k, v in table.items():
        if isinstance(v, dict):
            lines.append(f"[{toml_string(k)}]")
            lines += [f"{toml_string(sk)} = {toml_value(sv)}" for sk, sv in v.items()]
    return "\n".join(lines) + "\n"


def keys_in(table: dict) -> set[str]:
    out = set()
    for k, v in table.items():
        out.add(k)
        if isinstance(v, dict):
            out |= keys_in(v)
    return out


def section(known: list[str]) -> st.SearchStrategy[dict]:
    return st.dictionaries(st.sampled_from(known) | TEXT, VALUE, max_size=5)


CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "name": VALUE,
        "jobs": VALUE,
        "folders": st.dictionaries(TEXT | st.sampled_from(["inbox/web", "../x", "/abs"]), VALUE, max_size=3),
        "limits": section(["max_pixels", "timeout", "memory_mb"]),
        "site": section(["logo", "accent", "text", "background", "surface", "heading_font", "body_font", "base_url"]),
        "watch": section(["settle", "poll", "rescan"]),
    },
) | st.dictionaries(TEXT, VALUE, max_size=4)

IMAGE_KEYS = [
    "aspects",
    "widths",
    "formats",
    "quality",
    "progressive",
    "colour",
    "output_icc",
    "assume_cmyk_icc",
    "intent",
    "gravity",
    "background",
    "metadata",
    "animated",
    "svg",
    "print_width_mm",
    "min_ppi",
    "require_alt",
]
PROFILE = st.fixed_dictionaries(
    {},
    optional={
        "description": VALUE,
        "extends": VALUE | st.just("web"),
        "image": section(IMAGE_KEYS),
        "audio": section(["x"]),
    },
)
SIDECAR = st.dictionaries(
    st.sampled_from(["focus", "alt", "decorative", "title", "credit", "trim"]) | TEXT,
    VALUE | st.fixed_dictionaries({}, optional={"start": VALUE, "end": VALUE}),
    max_size=4,
)


def assert_names_file_and_key(message: str, path: str, table: dict) -> None:
    assert path in message, message
    if "" in keys_in(table):  # an empty key ("" = 1) is named by its empty place
        return
    names = keys_in(table) | {"profile has no section", "extends", "folders"}
    assert any(k and k in message for k in names) or "not valid TOML" in message, message


@given(CONFIG)
def test_any_workspace_config_loads_or_says_which_file_and_key(tmp_path_factory, table):
    root = tmp_path_factory.mktemp("cfg")
    (root / "crossmedia.toml").write_text(toml_doc(table), encoding="utf-8")
    try:
        load_config(root)
    except ConfigError as e:
        assert e.problems
        for p in e.problems:
            assert_names_file_and_key(p, str(root / "crossmedia.toml"), table)


@given(st.binary(max_size=200))
def test_any_bytes_as_config_or_profile_are_a_config_error(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("bytes")
    (root / "crossmedia.toml").write_bytes(data)
    (root / "profiles").mkdir()
    (root / "profiles" / "p.toml").write_bytes(data)
    for load in (load_config, load_profiles):
        try:
            load(root)
        except ConfigError as e:
            assert all(str(root) in p for p in e.problems), e.problems


@given(PROFILE)
def test_any_profile_loads_or_says_which_file_and_key(tmp_path_factory, table):
    root = tmp_path_factory.mktemp("prof")
    (root / "profiles").mkdir()
    path = root / "profiles" / "mine.toml"
    path.write_text(toml_doc(table), encoding="utf-8")
    try:
        profiles = load_profiles(root)
    except ConfigError as e:
        mine = [p for p in e.problems if str(path) in p]
        assert mine and len(mine) == len(e.problems), e.problems
        for p in mine:
            assert_names_file_and_key(p, str(path), table)
    else:
        image = profiles["mine"].options("image")
        assert image is None or (image.formats and all(w > 0 for w in image.widths))


@given(SIDECAR)
@example({"trim": {"start": 1.5, "end": 12}})
@example({"trim": {}})
@example({"trim": {"start": "00:00:02", "end": "00:00:01"}})
@example({"focus": [0.5, float("nan")]})
def test_any_sidecar_parses_or_fails_in_one_line_naming_it(table):
    shown = "inbox/web/hero.jpg.toml"
    try:
        sidecar = parse_sidecar(toml_doc(table).encode(), shown)
    except InputError as e:
        text = str(e)
        assert shown in text, text
        assert_names_file_and_key(text, shown, table)
    else:
        if sidecar.focus is not None:
            assert all(0 <= v <= 1 for v in sidecar.focus)
        if sidecar.trim is not None:
            start, end = sidecar.trim.seconds
            assert math.isfinite(start) and start >= 0 and (end is None or (math.isfinite(end) and end > start))


@given(st.binary(max_size=300))
def test_any_bytes_as_a_sidecar_are_an_input_error(data):
    try:
        parse_sidecar(data, "x.jpg.toml")
    except InputError as e:
        assert "x.jpg.toml" in str(e)


# Crop geometry -------------------------------------------------------------------------------
UNIT = st.floats(0, 1)


@given(
    w=st.integers(1, 30000),
    h=st.integers(1, 30000),
    aw=st.integers(1, 64),
    ah=st.integers(1, 64),
    fx=st.floats(-1, 2),
    fy=st.floats(-1, 2),
)
def test_crop_box_is_inside_integer_non_empty_and_has_the_aspect(w, h, aw, ah, fx, fy):
    aspect = aw / ah
    box = crop_box(w, h, aspect, (fx, fy))
    left, top, right, bottom = box
    assert all(isinstance(v, int) for v in box)
    assert 0 <= left < right <= w and 0 <= top < bottom <= h
    cw, ch = right - left, bottom - top
    assert cw == w or ch == h  # the largest such box: it touches two sides
    # The asked aspect within rounding (half a pixel on the side that was computed), except
    # where that side would round to nothing and is kept at one pixel.
    assert abs(cw - ch * aspect) <= 0.5 or abs(ch - cw / aspect) <= 0.5 or min(cw, ch) == 1, (box, aspect)


@given(w=st.integers(1, 30000), h=st.integers(1, 30000), fx=UNIT, fy=UNIT)
def test_crop_box_centres_on_the_focus_when_it_can(w, h, fx, fy):
    left, top, right, bottom = crop_box(w, h, 1.0, (fx, fy))
    side = min(w, h)
    assert right - left == side and bottom - top == side
    # Clamped to the image, the centre is as close to the focus as the box allows.
    want_x = min(max(fx * w, side / 2), w - side / 2)
    want_y = min(max(fy * h, side / 2), h - side / 2)
    assert abs((left + right) / 2 - want_x) <= 1 and abs((top + bottom) / 2 - want_y) <= 1


@given(w=st.integers(1, 5000), h=st.integers(1, 5000))
def test_no_aspect_keeps_the_whole_image(w, h):
    assert crop_box(w, h, None, (0.3, 0.9)) == (0, 0, w, h)


# Trim times ----------------------------------------------------------------------------------
def format_time(seconds: float, style: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s = rest / 1000
    if style == "hms":
        return f"{h:02d}:{m:02d}:{s:06.3f}"
    if style == "ms":
        return f"{h * 60 + m}:{s:06.3f}" if h * 60 + m < 60 else f"{h}:{m:02d}:{s:06.3f}"
    return f"{ms / 1000:.3f}"


@given(st.integers(0, 100 * 3_600_000), st.sampled_from(["hms", "ms", "plain"]))
def test_formatted_times_round_trip(ms, style):
    seconds = ms / 1000
    text = format_time(seconds, style)
    assert abs(parse_time(text) - seconds) < 1e-6, text
    assert parse_time(seconds) == seconds


@given(
    st.one_of(
        TEXT,
        st.text(st.sampled_from("0123456789:.-+e ,"), max_size=12),
        st.floats(),
        st.integers(),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
    )
)
def test_time_parsing_returns_a_finite_time_or_raises_value_error(value):
    try:
        seconds = parse_time(value)
    except ValueError as e:
        assert str(e)
    else:
        assert isinstance(seconds, float) and math.isfinite(seconds) and seconds >= 0


@given(
    st.sampled_from(
        ["1:60", "00:60:00", "1:2:3:4", "-1", "12s", "1e3", "", " ", "inf", "nan", "0x10", "1" * 400, "1,5"]
    )
)
def test_garbage_times_are_refused(text):
    assume(text)
    try:
        parse_time(text)
    except ValueError:
        return
    raise AssertionError(f"{text!r} was accepted as a time")


def test_examples_are_the_documented_ones():
    assert parse_time("00:01:02.500") == 62.5 and parse_time("01:02.5") == 62.5 and parse_time(12) == 12.0
