"""`crossmedia serve`: the preview site and pages over HTTP on 127.0.0.1, rebuilt on change (issue #6).

Serves the workspace's out/ folder (so pages reach the renditions beside out/site/) on the
loopback interface only, and refuses requests whose Host header is not that address (a web page
elsewhere cannot reach it through DNS rebinding). Once a second it looks at the watched folders,
sidecars, page files, templates, profiles and crossmedia.toml; when something changed it runs
the pipeline once (`crossmedia run`: new inputs are processed, the site and pages are rebuilt).
When the workspace is busy (cron, `crossmedia watch`) it tries again on the next tick; their
runs rebuild the site themselves.

Every HTML page it sends gets a small script that asks `/__crossmedia/version` once a second
and reloads the page when the site was rebuilt. The script is added on the way out, never
written to the files on disk, which stay static and work from file://.
"""

from __future__ import annotations

import hashlib
import http.server
import logging
import os
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

from pipeline.batch.report import RunReport
from pipeline.config.workspace import Workspace
from pipeline.errors import CrossmediaError, LockedError

log = logging.getLogger("crossmedia")

VERSION_PATH = "/__crossmedia/version"
RELOAD = """<script>/* added by crossmedia serve, not on disk */
(function () {{
  var seen = "{version}";
  function poll() {{
    fetch("{path}", {{cache: "no-store"}}).then(function (r) {{ return r.text(); }}).then(function (v) {{
      if (v && v !== seen) {{ location.reload(); }}
    }}).catch(function () {{}}).then(function () {{ setTimeout(poll, 1000); }});
  }}
  setTimeout(poll, 1000);
}}());
</script>
"""


def site_version(ws_root: Path) -> str:
    """Changes whenever the site was built (by us, cron or a watcher)."""
    try:
        st = (ws_root / ".crossmedia" / "site.json").stat()
    except OSError:
        return "none"
    return f"{st.st_mtime_ns}-{st.st_size}"


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files from out/, HTML with the reload script, nothing outside out/."""

    ws_root: Path
    port: int

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        log.debug("serve: " + format, *args)

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").lower()
        return host in {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def send_head(self):
        if not self._host_ok():
            self.send_error(403, "crossmedia serve answers only to 127.0.0.1 and localhost")
            return None
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path in ("", "/"):
            self.send_response(302)
            self.send_header("Location", "/site/index.html")
            self.end_headers()
            return None
        if path == VERSION_PATH:
            return self._text(site_version(self.ws_root).encode(), "text/plain; charset=utf-8")
        local = Path(self.translate_path(self.path))
        out = Path(self.directory).resolve()
        try:
            rel = local.resolve().relative_to(out)
        except ValueError:
            self.send_error(404)
            return None
        if rel.parts[:1] == (".tmp",):
            self.send_error(404)
            return None
        if local.is_file() and local.suffix.lower() in (".html", ".htm"):
            html = local.read_text(encoding="utf-8", errors="replace")
            script = RELOAD.format(version=site_version(self.ws_root), path=VERSION_PATH)
            at = html.lower().rfind("</body>")
            html = html[:at] + script + html[at:] if at >= 0 else html + script
            return self._text(html.encode("utf-8"), "text/html; charset=utf-8")
        return super().send_head()

    def _text(self, body: bytes, kind: str):
        import io

        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


def make_server(ws: Workspace, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:port (0: any free port) serving ws.out."""
    ws.out.mkdir(parents=True, exist_ok=True)
    handler = type("WorkspaceHandler", (Handler,), {"ws_root": ws.root})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(handler, directory=str(ws.out)))
    handler.port = server.server_address[1]
    server.daemon_threads = True
    return server


# Runs a batch and its publish step for a workspace (the command wires the engine in).
Build = Callable[[Workspace], "RunReport"]


class Watcher:
    """Looks for changes; runs the pipeline when there are some. `tick()` is one look."""

    def __init__(self, root: Path, build: Build, echo: Callable[[str], None] = print):
        self.root = Path(root).resolve()
        self.build = build
        self.echo = echo
        self.seen: str | None = None
        self.waiting = False

    def fingerprint(self) -> str:
        """Size and mtime of every file the pipeline reads: watched folders (inputs and
        sidecars), pages, templates, profiles, crossmedia.toml."""
        h = hashlib.sha256()
        folders = ["pages", "site_templates", "profiles"]
        try:
            folders += list(Workspace.open(self.root).folders())
        except CrossmediaError:
            folders.append("inbox")  # a broken config: the next look reports it
        for folder in sorted(set(folders)):
            for dirpath, dirnames, filenames in os.walk(self.root / folder):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    try:
                        st = os.stat(os.path.join(dirpath, name))
                    except OSError:
                        continue
                    h.update(f"{dirpath}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        try:
            st = (self.root / "crossmedia.toml").stat()
            h.update(f"config\0{st.st_size}\0{st.st_mtime_ns}".encode())
        except OSError:
            pass
        return h.hexdigest()

    def tick(self) -> bool:
        """Run the pipeline if anything changed since the last successful look; True if it ran."""
        now = self.fingerprint()
        if now == self.seen:
            return False
        try:
            ws = Workspace.open(self.root)
            report = self.build(ws)
        except LockedError as e:
            if not self.waiting:  # say it once, not every second
                self.echo(f"waiting: {e}; the page reloads when that run or watcher rebuilds the site")
            self.waiting = True
            return False  # try again next tick
        except CrossmediaError as e:
            self.echo(f"error: {e}")
            self.seen = now  # nothing to do until the user edits something
            return False
        self.waiting = False
        self.seen = now
        if report.interrupted:
            raise KeyboardInterrupt
        c = report.counts
        self.echo(
            f"built: {c['processed']} processed, {c['failed']} failed, {c['skipped']} unchanged"
            + "".join(f"\n  note: {n}" for n in report.notes)
        )
        for item in report.items:
            if item["status"] == "failed" and item["media"] == "page":
                self.echo(f"  failed {item['input']}: {item['error']}")
        return True


def serve(
    ws: Workspace, build: Build, port: int = 8000, echo: Callable[[str], None] = print, interval: float = 1.0
) -> None:
    """Serve until interrupted: HTTP in a thread, the watcher in this (main) thread."""
    server = make_server(ws, port)
    watcher = Watcher(ws.root, build, echo)
    thread = threading.Thread(target=server.serve_forever, name="crossmedia-serve", daemon=True)
    thread.start()
    stop = threading.Event()
    try:
        watcher.tick()
        echo(f"serving {ws.out} on http://127.0.0.1:{server.server_address[1]}/site/index.html (Ctrl-C stops)")
        while not stop.wait(interval):
            watcher.tick()
    finally:
        server.shutdown()
        server.server_close()
