"""A webhook receiver on loopback for tests: records each request and answers from a script of responses."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, *, hold_first: bool = False) -> None:
        """``hold_first``: keep the first request waiting (up to 20 s, or until :meth:`close`), as a hung server."""
        self.requests: list[dict] = []
        self.responses: list[tuple[int, dict]] = []
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers.items()), "body": body})
                if len(receiver.requests) == 1:
                    receiver.release.wait(20)
                status, headers = receiver.responses.pop(0) if receiver.responses else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
