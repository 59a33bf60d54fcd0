"""fakegw: a scripted stand-in for the gateway (loopback HTTP, or HTTPS with a given cert),
for the lockboxctl tests that need an exact answer: garbage, errors, silence, which token
and which URL arrived. The real gateway is used everywhere else."""

import http.server
import json
import socket
import ssl
import threading

__all__ = ["FakeGateway", "SilentServer"]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _serve(self):
        srv = self.server.owner
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        srv.seen.append({"method": self.command, "path": self.path,
                         "auth": self.headers.get("Authorization"),
                         "body": body.decode("utf-8", "replace")})
        status, payload, ctype = srv.answer(self.command, self.path)
        data = payload if isinstance(payload, bytes) else (
            payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class FakeGateway:
    """routes: {(METHOD, path-without-query): (status, body)}; body an object (sent as JSON),
    str or bytes (sent as is). Unrouted requests get 404 not_found."""

    def __init__(self, routes=None, cert=None, key=None):
        self.routes = dict(routes or {})
        self.seen = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.httpd.daemon_threads = True
        scheme = "http"
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, method, path):
        key = (method, path.split("?", 1)[0])
        if key in self.routes:
            st, body = self.routes[key]
            ctype = "application/json" if not isinstance(body, (str, bytes)) else "text/plain"
            return st, body, ctype
        return 404, {"error": {"code": "not_found", "message": "no route " + key[1]}}, \
            "application/json"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False


class SilentServer:
    """Accepts TCP connections (kernel backlog) and never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False
