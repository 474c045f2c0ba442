"""The simulated region over HTTP (issue 3, point 5): ``drsorch sim serve``.

A standard-library ``ThreadingHTTPServer`` that hands every request to the same
:func:`drsorch.sim.wire.dispatch` the in-process hook uses, so the AWS CLI and boto3 with
``endpoint_url`` see exactly what in-process clients see. It binds to 127.0.0.1 unless told
otherwise. A scripted ``connection_reset`` or ``read_timeout`` drops the connection without
an answer, which clients report as a closed connection.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from drsorch.sim.region import SimRegion
from drsorch.sim.wire import Dropped
from drsorch.text import printable

#: The largest request body served (DRS and EC2 requests are a few KB; a batch of 100
#: server ids well under 64 KB).
MAX_BODY = 16 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for
    # the client's delayed ACK (~40 ms a call on Linux). TCP_NODELAY sends it at once.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._refuse(400 if length < 0 else 413, "bad or too large Content-Length")
            return
        body = self.rfile.read(length) if length else b""
        path = self.path  # with its query: DRS's UntagResource sends ?tagKeys=...
        headers = {k: v for k, v in self.headers.items()}
        try:
            result = self.server.region.handle(self.command, path, headers, body)
        except Exception as exc:  # the client hears a 500, not a dropped connection
            self.server.handle_error(self.request, self.client_address)
            self._refuse(500, f"the simulator failed on this request ({type(exc).__name__})")
            return
        if isinstance(result, Dropped):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(result.status)
        for key, value in result.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(result.body)))
        self.end_headers()
        self.wfile.write(result.body)

    def _refuse(self, status: int, why: str) -> None:
        body = why.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        # Said, not only done: a client that is not told keeps the socket in its pool and
        # its next call may go out on it just as it closes (a ConnectionClosedError).
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_POST = _serve
    do_GET = _serve
    do_DELETE = _serve  # DRS's UntagResource


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], region: SimRegion, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.region = region
        self.verbose = verbose

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One escaped line on stderr for a request that broke, never a traceback."""
        error = sys.exc_info()[1]
        sys.stderr.write(
            printable(f"sim serve: a request from {client_address[0]} failed: {error!r}") + "\n"
        )


class SimServer:
    """An HTTP endpoint for a :class:`SimRegion`; ``port=0`` picks a free port."""

    def __init__(
        self, region: SimRegion, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
    ) -> None:
        self.region = region
        self._httpd = _Server((host, port), region, verbose)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"http://{host!s}:{self.port}"

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` (or KeyboardInterrupt)."""
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> SimServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="drsorch-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
