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
from typing import NamedTuple

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
-- Changes whenever what an input's row says about it changes (not for a `touch`), in the same
-- transaction: readers of the whole store (the site) compare one number instead of every row
-- (#12). `store` is new with each database, so a deleted or rebuilt store never matches.
CREATE TABLE IF NOT EXISTS generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    store TEXT NOT NULL,
    n INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS items_inserted AFTER INSERT ON items
    BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS items_updated AFTER UPDATE OF input, profile, media, status, sha256, recipe, outputs,
    warnings, error, facts, updated ON items
    BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS items_deleted AFTER DELETE ON items
    BEGIN UPDATE generation SET n = n + 1; END;
-- Counts the stat changes `touch` records without a new generation (same bytes, new mtime):
-- with the generation, what the production report shows changes with it (arrival times, #12).
CREATE TABLE IF NOT EXISTS touches (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS items_touched AFTER UPDATE OF size, mtime_ns ON items
    BEGIN UPDATE touches SET n = n + 1; END;
-- The folder holding an input's outputs as it was (inode, mtime, ctime) when a run last found
-- every output in it: while it has not changed, nothing in it was deleted, so a run that changes
-- nothing stats one folder per input instead of every output (#12). Forgotten whenever the
-- input's outputs change.
CREATE TABLE IF NOT EXISTS outputs_seen (
    input TEXT PRIMARY KEY,
    stamp TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS outputs_seen_inserted AFTER INSERT ON items
    BEGIN DELETE FROM outputs_seen WHERE input = NEW.input; END;
CREATE TRIGGER IF NOT EXISTS outputs_seen_updated AFTER UPDATE OF input, outputs ON items
    BEGIN DELETE FROM outputs_seen WHERE input IN (OLD.input, NEW.input); END;
CREATE TRIGGER IF NOT EXISTS outputs_seen_deleted AFTER DELETE ON items
    BEGIN DELETE FROM outputs_seen WHERE input = OLD.input; END;
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


class State(NamedTuple):
    """What a run compares with the files on disk, for one input: a Row without its facts and
    hash, read for every input of every run (W3, #12); `outputs`, `warnings` decoded."""

    input: str
    profile: str
    media: str
    status: str
    size: int
    mtime_ns: int
    recipe: str
    outputs: list[str]
    warnings: list[str]
    error: str | None
    seen: str | None  # the outputs' folder's stamp when all of them were last seen (outputs_seen)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _paths(text: str) -> list[str]:
    """A JSON list of strings as `record` writes it (json.dumps: ASCII, ", " between items).
    Without a backslash no string holds a quote or an escape, so splitting is decoding, at a
    quarter of json.loads' cost: done for every input's outputs by every run (#12)."""
    if text == "[]":
        return []
    if "\\" in text or not (text.startswith('["') and text.endswith('"]')):
        return json.loads(text)
    return text[2:-2].split('", "')


def read_generation(path: Path) -> str:
    """`Store.generation` read without opening the store for writing or checking it (the run
    that just wrote it did): for the publish step's "did anything change?" once per run (#12).
    "" when it cannot be read, which matches no generation."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            store, n = db.execute("SELECT store, n FROM generation").fetchone()
        finally:
            db.close()
    except (sqlite3.Error, TypeError):
        return ""
    return f"{store}-{n}"


def read_stamp(db: sqlite3.Connection) -> str:
    """The store's generation and its count of touches, read on `db` (in the reader's own
    transaction): what a summary of every row (the production report, #12) is made from. ""
    when either cannot be read (a store older than the touches table), which matches nothing."""
    try:
        store, n = db.execute("SELECT store, n FROM generation").fetchone()
        (touched,) = db.execute("SELECT n FROM touches").fetchone()
    except (sqlite3.Error, TypeError):
        return ""
    return f"{store}-{n}-{touched}"


# The tables of this module: made again by checking every input. Any other table in the file is
# another part's record of what people did (review decisions, #14), which no run can make again.
_OWN = {"items", "runs", "generation", "touches", "outputs_seen"}


def _salvage(db: sqlite3.Connection, aside: Path) -> str:
    """Copy the other parts' tables, with their indexes, from the damaged file moved `aside` into
    the new `db`, each whole or not at all; what was kept or lost, for the recovery note."""
    try:
        db.execute("ATTACH DATABASE ? AS old", (str(aside),))
    except sqlite3.DatabaseError as e:
        return f"; nothing else could be read from it ({e})"
    said = []
    try:
        found = db.execute(
            "SELECT name, sql FROM old.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
        ).fetchall()
        for name, sql in found:
            if name in _OWN:
                continue
            try:
                db.execute("BEGIN")
                db.execute(sql)
                n = db.execute(f'INSERT INTO main."{name}" SELECT * FROM old."{name}"').rowcount
                for (index,) in db.execute(
                    "SELECT sql FROM old.sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
                    (name,),
                ).fetchall():
                    db.execute(index)
                db.execute("COMMIT")
                said.append(f"kept {n} row{'s' if n != 1 else ''} of {name}")
            except sqlite3.DatabaseError as e:
                db.execute("ROLLBACK")
                said.append(f"{name} could not be read ({e}): it is still in {aside.name}")
    except sqlite3.DatabaseError as e:
        said.append(f"nothing else could be read from it ({e})")
    finally:
        db.execute("DETACH DATABASE old")
    return "".join(f"; {s}" for s in said)


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
        if db.execute("SELECT 1 FROM generation").fetchone() is None:  # a write only when new
            db.execute("INSERT OR IGNORE INTO generation VALUES (1, lower(hex(randomblob(8))), 0)")
        if db.execute("SELECT 1 FROM touches").fetchone() is None:
            db.execute("INSERT OR IGNORE INTO touches VALUES (1, 0)")
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return db

    def _recover(self, reason: str) -> sqlite3.Connection:
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                p.rename(Path(str(aside) + suffix))
        db = self._open()
        self.recovered = (
            f"state database {self.path.name} was damaged ({reason}); moved to {aside.name}, "
            f"every input is checked again and its outputs rewritten{_salvage(db, aside)}"
        )
        return db

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

    def states(self) -> dict[str, State]:
        """Every input's State, in one query. The few distinct profile, media, status and recipe
        strings are shared between rows rather than held once per row (memory at 100,000 inputs)."""
        shared: dict[str, str] = {}
        share = shared.setdefault
        seen = dict(self.db.execute("SELECT input, stamp FROM outputs_seen")).get  # a join costs a lookup per row
        new = tuple.__new__  # State(...) goes through a Python-level __new__: a fifth of this at 100,000 rows
        return {
            i: new(
                State,
                (i, share(p, p), share(m, m), share(s, s), size, mtime, share(r, r), _paths(o), _paths(w), e, seen(i)),
            )
            for i, p, m, s, size, mtime, r, o, w, e in self.db.execute(
                "SELECT input, profile, media, status, size, mtime_ns, recipe, outputs, warnings, error FROM items"
            )
        }

    def outputs_seen(self, stamps: list[tuple[str, str]]) -> None:
        """(input, stamp of its outputs' folder) for inputs whose outputs were all found; one
        transaction (after a big first run, the next run remembers every input's folder)."""
        if not stamps:
            return
        self.db.execute("BEGIN")
        try:
            self.db.executemany("INSERT OR REPLACE INTO outputs_seen (input, stamp) VALUES (?, ?)", stamps)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def sha256(self, rel: str) -> str | None:
        """The hash of the bytes an input's row was made from (None: no row)."""
        found = self.db.execute("SELECT sha256 FROM items WHERE input = ?", (rel,)).fetchone()
        return found[0] if found else None

    def generation(self) -> str:
        """Changes whenever any input's row changes, is added or removed (not for `touch`): what
        was built from the whole store is stale when this differs from when it was built."""
        store, n = self.db.execute("SELECT store, n FROM generation").fetchone()
        return f"{store}-{n}"

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
            (
                row.input,
                row.profile,
                row.media,
                row.status,
                row.size,
                row.mtime_ns,
                row.sha256,
                row.recipe,
                json.dumps(row.outputs),
                json.dumps(row.warnings),
                row.error,
                json.dumps(row.facts, default=str),
                now(),
                row.times_processed,
            ),
        )

    def touch(self, rel: str, size: int, mtime_ns: int) -> None:
        """Same bytes, new mtime (a `touch` or a copy that kept the content): remember the new stat."""
        self.db.execute("UPDATE items SET size = ?, mtime_ns = ? WHERE input = ?", (size, mtime_ns, rel))

    def remove(self, rel: str) -> None:
        self.db.execute("DELETE FROM items WHERE input = ?", (rel,))

    def requeue(self, inputs: list[str] | None) -> tuple[list[str], list[str]]:
        """`crossmedia retry` (#17): the next run processes these inputs (None: every failed one)
        though their bytes did not change; an empty recipe never matches, as after a full disk.
        Returns (queued, unknown); nothing is queued when any input is unknown."""
        if inputs is None:
            wanted = [r for (r,) in self.db.execute("SELECT input FROM items WHERE status = 'failed'")]
        else:
            wanted = list(dict.fromkeys(inputs))
            known = {r for (r,) in self.db.execute("SELECT input FROM items")}
            unknown = [i for i in wanted if i not in known]
            if unknown:
                return [], unknown
        self.db.executemany("UPDATE items SET recipe = '' WHERE input = ?", [(i,) for i in wanted])
        return wanted, []

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
