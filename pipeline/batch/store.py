"""`.crossmedia/state.db`: what was processed, from which bytes, with which recipe, into what.

Only the engine writes here, one row per input, committed as each input finishes, so a killed
run loses at most the inputs that were in flight. A damaged database is moved aside and the
inputs are checked again (their outputs are rewritten in place), never a reason to stop.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    input TEXT PRIMARY KEY,          -- workspace-relative path
    profile TEXT NOT NULL,
    media TEXT NOT NULL,             -- image | audio | video | unknown
    status TEXT NOT NULL,            -- processed | failed | skipped
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    recipe TEXT NOT NULL,
    outputs TEXT NOT NULL,           -- JSON list of workspace-relative paths
    warnings TEXT NOT NULL,          -- JSON list of strings
    error TEXT,
    facts TEXT NOT NULL,             -- JSON object
    updated TEXT NOT NULL,
    times_processed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    pid INTEGER NOT NULL,
    command TEXT NOT NULL,
    counts TEXT                      -- JSON {processed, failed, skipped}
);
"""


@dataclass
class Row:
    input: str
    profile: str
    media: str
    status: str
    size: int
    mtime_ns: int
    sha256: str
    recipe: str
    outputs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    facts: dict = field(default_factory=dict)
    updated: str = ""
    times_processed: int = 0


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Store:
    def __init__(self, path: Path):
        self.path = path
        self.recovered: str | None = None  # set when a damaged database was moved aside
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = self._open()
        except sqlite3.DatabaseError as e:
            self.db = self._recover(str(e))

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        ok = db.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            db.close()
            raise sqlite3.DatabaseError(ok)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            db.close()
            raise sqlite3.DatabaseError(f"schema version {version}, expected {SCHEMA_VERSION}")
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return db

    def _recover(self, reason: str) -> sqlite3.Connection:
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                p.rename(Path(str(aside) + suffix))
        self.recovered = (f"state database {self.path.name} was damaged ({reason}); moved to {aside.name}, "
                          f"every input is checked again and its outputs rewritten")
        return self._open()

    def close(self) -> None:
        self.db.close()

    # Items --------------------------------------------------------------------------------
    def items(self) -> dict[str, Row]:
        cur = self.db.execute("SELECT * FROM items")
        names = [d[0] for d in cur.description]
        rows = {}
        for values in cur:
            d = dict(zip(names, values, strict=True))
            for k in ("outputs", "warnings", "facts"):
                d[k] = json.loads(d[k])
            rows[d["input"]] = Row(**d)
        return rows

    def summary(self) -> list[tuple[str, str, str, str, str]]:
        """(input, profile, status, sha256, updated) of every row, by input: what the site's
        fingerprint needs, without decoding every row's JSON (W3, #8)."""
        return self.db.execute("SELECT input, profile, status, sha256, updated FROM items ORDER BY input").fetchall()

    def get(self, rel: str) -> Row | None:
        cur = self.db.execute("SELECT * FROM items WHERE input = ?", (rel,))
        values = cur.fetchone()
        if values is None:
            return None
        d = dict(zip([c[0] for c in cur.description], values, strict=True))
        for k in ("outputs", "warnings", "facts"):
            d[k] = json.loads(d[k])
        return Row(**d)

    def record(self, row: Row) -> None:
        """Insert or replace one input's row; counts how often it was really processed."""
        self.db.execute(
            """INSERT INTO items (input, profile, media, status, size, mtime_ns, sha256, recipe, outputs,
                                  warnings, error, facts, updated, times_processed)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(input) DO UPDATE SET profile=excluded.profile, media=excluded.media,
                 status=excluded.status, size=excluded.size, mtime_ns=excluded.mtime_ns,
                 sha256=excluded.sha256, recipe=excluded.recipe, outputs=excluded.outputs,
                 warnings=excluded.warnings, error=excluded.error, facts=excluded.facts,
                 updated=excluded.updated,
                 times_processed=items.times_processed + excluded.times_processed""",
            (row.input, row.profile, row.media, row.status, row.size, row.mtime_ns, row.sha256, row.recipe,
             json.dumps(row.outputs), json.dumps(row.warnings), row.error,
             json.dumps(row.facts, default=str), now(), row.times_processed),
        )

    def touch(self, rel: str, size: int, mtime_ns: int) -> None:
        """Same bytes, new mtime (a `touch` or a copy that kept the content): remember the new stat."""
        self.db.execute("UPDATE items SET size = ?, mtime_ns = ? WHERE input = ?", (size, mtime_ns, rel))

    def remove(self, rel: str) -> None:
        self.db.execute("DELETE FROM items WHERE input = ?", (rel,))

    # Runs ---------------------------------------------------------------------------------
    def begin_run(self, pid: int, command: str) -> int:
        cur = self.db.execute("INSERT INTO runs (started, pid, command) VALUES (?, ?, ?)", (now(), pid, command))
        return cur.lastrowid

    def finish_run(self, run_id: int, counts: dict) -> None:
        self.db.execute("UPDATE runs SET finished = ?, counts = ? WHERE id = ?", (now(), json.dumps(counts), run_id))

    def last_runs(self, n: int = 5) -> list[dict]:
        cur = self.db.execute("SELECT started, finished, pid, command, counts FROM runs ORDER BY id DESC LIMIT ?", (n,))
        return [
            {"started": s, "finished": f, "pid": p, "command": c, "counts": json.loads(k) if k else None}
            for s, f, p, c, k in cur
        ]
