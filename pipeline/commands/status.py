"""`crossmedia status`: the store, the watched folders and the lock, read without taking the lock."""

from __future__ import annotations

import os
from collections import Counter

from pipeline.backup.restic import backup_warning, last_backup
from pipeline.batch.lock import holder
from pipeline.batch.store import Store
from pipeline.batch.watch import watch_state
from pipeline.config.workspace import Workspace
from pipeline.names import printable
from pipeline.review.decisions import review_list


def status(ws: Workspace, scheduler: str | None = None) -> dict:
    store = Store(ws.state / "state.db")
    try:
        rows = store.items()
        runs = store.last_runs(1)
    finally:
        store.close()
    pending = []
    newest = 0
    for cand in ws.scan():
        newest = max(newest, cand.mtime_ns)
        row = rows.get(cand.rel)
        if row is None or (row.size, row.mtime_ns) != (cand.size, cand.mtime_ns) or row.profile != cand.profile:
            pending.append(cand.rel)
    by_status = Counter(r.status for r in rows.values())
    by_profile = Counter((r.profile, r.status) for r in rows.values())
    return {
        "workspace": str(ws.root),
        "counts": {
            "processed": by_status["processed"],
            "failed": by_status["failed"],
            "skipped": by_status["skipped"],
            "pending": len(pending),
        },
        "profiles": {
            p: {s: n for (q, s), n in by_profile.items() if q == p} for p in sorted({r.profile for r in rows.values()})
        },
        "failed": [
            {"input": r.input, "error": r.error}
            for r in sorted(rows.values(), key=lambda r: r.input)
            if r.status == "failed"
        ],
        "pending": pending,
        "profile_warnings": [w for p in ws.profiles.values() for w in p.warnings],
        # Shown with `status --warnings` (#17: `run` said "4 warnings" and nothing listed them).
        "warnings": {r.input: list(r.warnings) for r in sorted(rows.values(), key=lambda r: r.input) if r.warnings},
        "review": _review(ws),
        "last_run": runs[0] if runs else None,
        "lock": holder(ws.state),
        "watcher": watch_state(ws),
        "backup": {"last": last_backup(ws), "warning": backup_warning(ws, newest / 1e9)},
        "cluster": _cluster(ws, scheduler),
    }


def _cluster(ws: Workspace, scheduler: str | None) -> dict | None:
    """The Dask cluster's workers, when the workspace runs on one or a scheduler is named (#13)."""
    address = scheduler or (
        ws.config.executor.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS", "")
        if ws.config.executor.kind == "dask"
        else ""
    )
    if not address:
        return None
    # Only then: Dask costs 0.5-0.7 s to import, which a plain `crossmedia status` must not pay.
    from pipeline.batch.cluster import describe_cluster, import_distributed
    from pipeline.errors import CrossmediaError

    try:
        import_distributed()
    except CrossmediaError as e:
        return {"scheduler": address, "workers": [], "problems": [str(e)]}
    return describe_cluster(address, ws.root, ws.config.executor.path_map)


def _review(ws: Workspace) -> dict:
    """Review states (#14): counts, and each input's {state, approvals, decisions}."""
    items = review_list(ws)
    return {
        "counts": dict(Counter(i["state"] for i in items)),
        "items": {i["input"]: {k: v for k, v in i.items() if k != "input"} for i in items},
    }


def format_status(data: dict, with_warnings: bool = False) -> str:
    c = data["counts"]
    lines = [
        f"workspace {data['workspace']}",
        f"  {c['processed']} processed, {c['failed']} failed, {c['skipped']} skipped, {c['pending']} pending",
    ]
    for profile, counts in data["profiles"].items():
        lines.append(f"  {profile}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    review = data.get("review") or {}
    if review.get("counts"):
        lines.append("review: " + ", ".join(f"{n} {s}" for s, n in sorted(review["counts"].items())))
    last = data["last_run"]
    if last:
        lines.append(f"last run: {last['started']} -> {last['finished'] or 'did not finish'}")
    lock = data["lock"]
    lines.append(
        f"busy: `crossmedia {lock['command']}` (pid {lock['pid']}) since {lock['since']}"
        if lock
        else "idle: no run or watcher holds the workspace"
    )
    watcher = data.get("watcher")
    if watcher:
        if watcher["running"]:
            last = watcher.get("last_batch") or {}
            lines.append(
                f"watcher: {watcher['state']}, {watcher['queued']} queued, pid {watcher['pid']} since "
                f"{watcher['since']}"
                + (
                    f"; last batch {last.get('finished')}: {last.get('processed')} processed, {last.get('failed')} "
                    "failed"
                    if last
                    else ""
                )
            )
        else:
            lines.append(f"watcher: not running (last seen {watcher.get('updated', '?')}, {watcher['state']})")
        if watcher.get("last_error"):
            lines.append(f"  last error: {watcher['last_error']}")
    backup = data.get("backup") or {}
    if backup.get("last"):
        last = backup["last"]
        lines.append(f"last backup: {last['time']}, snapshot {last['snapshot']} ({last['originals']} originals)")
    if backup.get("warning"):
        lines.append(f"warning: {backup['warning']}")
    cluster = data.get("cluster")
    if cluster:
        from pipeline.batch.cluster import format_cluster

        lines += format_cluster(cluster["scheduler"], cluster)
    if data["failed"]:
        lines.append("failed:")
        lines += [f"  {f['input']}: {f['error']}" for f in data["failed"]]
    lines += [f"warning: {w}" for w in data.get("profile_warnings", [])]
    warned = data.get("warnings") or {}
    if with_warnings:
        lines.append(
            f"warnings: {sum(map(len, warned.values()))} on {len(warned)} input(s)" if warned else "warnings: none"
        )
        for input, found in warned.items():
            lines.append(f"  {printable(input)}:")
            lines += [f"    - {printable(w)}" for w in found]
    elif warned:
        lines.append(
            f"warnings: {sum(map(len, warned.values()))} on {len(warned)} input(s) (crossmedia status --warnings)"
        )
    if data["pending"]:
        lines.append("pending (new or changed since the last run):")
        lines += [f"  {p}" for p in data["pending"][:50]]
        if len(data["pending"]) > 50:
            lines.append(f"  ... and {len(data['pending']) - 50} more")
    return "\n".join(lines)
