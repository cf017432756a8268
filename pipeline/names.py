"""Safe output names for files delivered with any name at all.

Delivered names carry spaces, accents, HTML (`<img src=x onerror=...>.jpg`), newlines and
right-to-left marks. Outputs get names made of `[A-Za-z0-9._-]` only, which are safe in URLs,
zips for ad servers and shells. A name that had to change gets a short hash of the original so
that two names that fold to the same text never share outputs.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Names that safe_name returns unchanged: safe characters, no "--", no "-" or "." at either end.
_ALREADY_SAFE = re.compile(r"(?!.*--)[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?")

# Copy tools, editors and OS droppings: never inputs, and a file still being written often
# carries one of these names (watch mode relies on the same rule).
_IGNORED_SUFFIXES = (".part", ".crdownload", ".tmp", ".temp", ".swp", ".partial", ".download", ".!qb", ".toml")
_IGNORED_NAMES = {"thumbs.db", "desktop.ini", "icon\r"}


def is_ignored(name: str) -> bool:
    """True for hidden, temporary and sidecar files, which are never processed as inputs."""
    low = name.lower()
    return (
        name.startswith((".", "~$", "~"))
        or low.endswith(_IGNORED_SUFFIXES)
        or low in _IGNORED_NAMES
        or name.endswith("~")
    )


def safe_name(name: str, limit: int = 80) -> str:
    """`Café crème.JPG` -> `Cafe-creme.JPG-3f2a1b`; `hero.jpg` -> `hero.jpg` (unchanged)."""
    if len(name) <= limit and _ALREADY_SAFE.fullmatch(name):  # most names; a run asks for every input's (#12)
        return name
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    safe = _UNSAFE.sub("-", folded).strip("-.")
    safe = re.sub(r"-{2,}", "-", safe)
    if safe == name and len(safe) <= limit:
        return safe
    digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:6]
    return f"{safe[: limit - 7] or 'file'}-{digest}"


def safe_stem(name: str) -> str:
    """The part of a safe name before its last dot: `hero.jpg` -> `hero`."""
    safe = safe_name(name)
    stem, dot, _ = safe.rpartition(".")
    return stem if dot and stem else safe


def printable(text: str) -> str:
    """Control characters, bidi overrides and other invisible characters as escapes (`\\n`,
    `\\x1b`, `\\u202e`): for terminals, logs and text files, where a delivered file name could
    otherwise move the cursor, recolour the screen, reverse the line or forge a line (#8)."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def one_line(text: str, limit: int = 300) -> str:
    """Collapse an error message to one printable line (control characters out)."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
