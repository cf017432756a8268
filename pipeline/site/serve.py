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
import html as html_lib
import http.server
import logging
import os
import secrets
import threading
from collections.abc import Callable
from functools import partial
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pipeline.batch.report import RunReport
from pipeline.config.workspace import Workspace
from pipeline.errors import CrossmediaError, LockedError
from pipeline.review import access
from pipeline.review.decisions import ReviewError, decide
from pipeline.review.decisions import generation as review_generation

log = logging.getLogger("crossmedia")

VERSION_PATH = "/__crossmedia/version"
REVIEW_PATH = "/__crossmedia/review"
LOOPBACK = ("127.0.0.1", "localhost")
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
    """Static files from out/, HTML with the reload script, nothing outside out/. With `review`,
    also review forms and their POSTs (issue #14, pipeline.review.access); with `shared` (bound
    to another address than loopback), every request needs a reviewer's token."""

    ws_root: Path
    port: int
    review: bool = False
    shared: bool = False
    secret: bytes = b""
    wake: threading.Event | None = None  # set after a decision: rebuild the site now

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        log.debug("serve: " + format, *args)

    def _host_ok(self) -> bool:
        if self.shared:  # any name of this machine; the token guards (a rebound name has no cookie)
            return True
        host = (self.headers.get("Host") or "").lower()
        return host in {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    def _token(self) -> str | None:
        try:
            cookie = SimpleCookie(self.headers.get("Cookie") or "")
        except CookieError:
            return None
        morsel = cookie.get(access.COOKIE)
        return morsel.value if morsel else None

    def _who(self) -> tuple[bool, str | None]:
        """(allowed, reviewer's name from the token or None on loopback)."""
        if not self.shared:
            return True, None
        name = access.reviewer(Workspace.open(self.ws_root), self._token())
        return name is not None, name

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def send_head(self):
        if not self._host_ok():
            self.send_error(403, "crossmedia serve answers only to 127.0.0.1 and localhost")
            return None
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if self.shared:
            token = (parse_qs(urlsplit(self.path).query).get("token") or [""])[0]
            if token:  # an invitation link: keep the token in a cookie, then drop it from the address
                if access.reviewer(Workspace.open(self.ws_root), token) is None:
                    self.send_error(403, "this review link is not valid (any more): ask for a new one")
                    return None
                self.send_response(303)
                self.send_header(
                    "Set-Cookie", f"{access.COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000"
                )
                self.send_header("Location", path if path not in ("", "/") else "/site/index.html")
                self.end_headers()
                return None
            if not self._who()[0]:
                self.send_error(403, "open the review link you were given (crossmedia review invite NAME makes one)")
                return None
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
            if self.review:
                html = self._review_markup(html)
            script = RELOAD.format(version=site_version(self.ws_root), path=VERSION_PATH)
            at = html.lower().rfind("</body>")
            html = html[:at] + script + html[at:] if at >= 0 else html + script
            return self._text(html.encode("utf-8"), "text/html; charset=utf-8")
        return super().send_head()

    def _review_markup(self, html: str) -> str:
        """Turn on the review forms the static pages carry hidden (pipeline.site templates mark
        them `data-review-only hidden`), fill in the CSRF token and, with a token, the name."""
        name = self._who()[1]
        token = access.csrf_token(self.secret, name or access.LOCAL)
        html = html.replace(" data-review-only hidden", " data-review-only")
        html = html.replace(" data-review-form ", f' action="{REVIEW_PATH}" ')  # no action on disk: file:// has none
        html = html.replace(" data-static-only>", " data-static-only hidden>")
        html = html.replace('name="csrf" value=""', f'name="csrf" value="{token}"')
        if name:
            html = html.replace('name="by" value=""', f'name="by" value="{html_lib.escape(name)}" readonly')
        return html

    def do_POST(self):  # noqa: N802 - the base class's naming
        if not self._host_ok():
            return self.send_error(403, "crossmedia serve answers only to 127.0.0.1 and localhost")
        if urlsplit(self.path).path != REVIEW_PATH or not self.review:
            return self.send_error(405, "only review decisions are posted here (crossmedia serve --review)")
        allowed, name = self._who()
        if not allowed:
            return self.send_error(403, "open the review link you were given (crossmedia review invite NAME makes one)")
        if not access.origin_ok(self.headers.get("Origin"), self.headers.get("Host") or ""):
            return self.send_error(403, "refused: the form was sent from another site")
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            return self.send_error(411, "a review form needs a Content-Length")
        if length > access.MAX_BODY:
            # Read (and drop) a body up to a few MB, so the browser gets the answer rather than a
            # reset connection; anything larger is cut off.
            self.close_connection = True
            left = length if length <= 16 * access.MAX_BODY else 0
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
            return self.send_error(413, f"review form too large ({length} bytes, at most {access.MAX_BODY})")
        body = self.rfile.read(length)
        try:
            req = access.parse(body)
            if not access.csrf_ok(self.secret, name or access.LOCAL, req.csrf):
                return self.send_error(403, "refused: the form's CSRF token is missing or wrong; reload the page")
            decide(Workspace.open(self.ws_root), req.inputs, req.decision, name or req.by, req.comment, req.pin)
        except ReviewError as e:
            status = 404 if str(e).startswith("not an input") else 400
            return self.send_error(status, str(e))
        if self.wake is not None:
            self.wake.set()
        self.send_response(303)
        self.send_header("Location", req.back + "#review")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _text(self, body: bytes, kind: str):
        import io

        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


def make_server(
    ws: Workspace, port: int = 8000, host: str = "127.0.0.1", review: bool = False, wake: threading.Event | None = None
) -> http.server.ThreadingHTTPServer:
    """An HTTP server on host:port (0: any free port) serving ws.out; `review`: with review forms.
    Any other address than loopback needs reviewers' tokens (`crossmedia review invite`)."""
    ws.out.mkdir(parents=True, exist_ok=True)
    shared = host not in LOOPBACK
    handler = type(
        "WorkspaceHandler",
        (Handler,),
        {"ws_root": ws.root, "review": review, "shared": shared, "secret": secrets.token_bytes(32), "wake": wake},
    )
    server = http.server.ThreadingHTTPServer((host, port), partial(handler, directory=str(ws.out)))
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
        h.update(review_generation(self.root / ".crossmedia" / "state.db").encode())  # a decision: rebuild (#14)
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
    ws: Workspace,
    build: Build,
    port: int = 8000,
    echo: Callable[[str], None] = print,
    interval: float = 1.0,
    host: str = "127.0.0.1",
    review: bool = False,
) -> None:
    """Serve until interrupted: HTTP in a thread, the watcher in this (main) thread."""
    wake = threading.Event()  # a decision was made: look now rather than at the next tick
    server = make_server(ws, port, host=host, review=review, wake=wake)
    watcher = Watcher(ws.root, build, echo)
    thread = threading.Thread(target=server.serve_forever, name="crossmedia-serve", daemon=True)
    thread.start()
    try:
        watcher.tick()
        shown = "127.0.0.1" if host in LOOPBACK else host
        echo(f"serving {ws.out} on http://{shown}:{server.server_address[1]}/site/index.html (Ctrl-C stops)")
        if review:
            echo(
                "review: buttons on every asset page"
                + ("; reviewers need a link from `crossmedia review invite NAME`" if host not in LOOPBACK else "")
            )
        while True:
            wake.wait(interval)
            wake.clear()
            watcher.tick()
    finally:
        server.shutdown()
        server.server_close()
