"""fakegw: a misbehaving (or well-behaved) stand-in for lockbox-gatewayd, stdlib only.

Used by the tests of lockbox-agent (which alone speaks to the gateway) and of the host audit
log. One FakeGateway listens on a free loopback port (TCP, optionally TLS) in a background
thread and answers /v1/check according to its mode:

  allow, deny       a well-formed /v1/check answer that echoes the asked user and the host
                    name .host_name ("web-01"); see .answer to change (or add) fields
  blackhole         accept the connection, read, never answer (any path)
  trickle           send headers, then one body byte every 0.2 s, forever
  big               200 with a 10 MiB body; big_chunked: the same without Content-Length
  status500, status302, status401
  dupkey            {"decision": "deny", ..., "decision": "allow"}
  garbage           200 with a body that is not JSON

GET /v1/hosts/self answers {"id", "name": .host_name} and GET /v1/hosts/self/changes the
change version .version (held open up to its wait while nothing changed; bump() changes it),
in every mode but blackhole. POST /v1/audit/events is answered 200 {"accepted",
"duplicates"} in every mode but "audit_down" (503) and "blackhole" (no answer) and records
the event ids it saw in .audit_ids (in order, repeats kept).
.requests lists (method, path, headers dict, body bytes) of every request that was read.
"""

import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid


class FakeGateway:
    def __init__(self, mode="allow", tls=None, host="127.0.0.1"):
        """tls: None, or (certfile, keyfile)."""
        self.mode = mode
        self.answer = {}
        self.requests = []
        self.audit_ids = []
        self.audit_posts = []
        self.connections = 0
        self.host_name = "web-01"
        self.version = 1
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.stop_ev = threading.Event()
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.ctx = None
        if tls:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(tls[0], tls[1])
        scheme = "https" if tls else "http"
        hostpart = "[%s]" % host if ":" in host else host
        self.url = "%s://%s:%d" % (scheme, hostpart, self.port)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    # -- lifecycle

    def bump(self):
        """A change for this host: the change long-poll answers at once with a new version."""
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    def close(self):
        self.stop_ev.set()
        with self.changed:
            self.changed.notify_all()
        self.thread.join(5)
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False

    # -- serving

    def _serve(self):
        while not self.stop_ev.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def _read_request(self, c):
        buf = b""
        end = time.monotonic() + 10
        while b"\r\n\r\n" not in buf:
            if time.monotonic() > end or len(buf) > 65536:
                return None
            d = c.recv(4096)
            if not d:
                return None
            buf += d
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(rest) < n:
            d = c.recv(65536)
            if not d:
                break
            rest += d
        return method, path, headers, rest[:n]

    def _conn(self, c):
        try:
            c.settimeout(15)
            if self.ctx:
                try:
                    c = self.ctx.wrap_socket(c, server_side=True)
                except (ssl.SSLError, OSError):
                    c.close()
                    return
            req = self._read_request(c)
            if req is None:
                c.close()
                return
            with self.lock:
                self.requests.append(req)
            self._answer(c, *req)
        except (OSError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _send(self, c, status, body, extra=""):
        if isinstance(body, str):
            body = body.encode()
        reason = {200: "OK", 302: "Found", 401: "Unauthorized", 500: "Internal Server Error",
                  503: "Service Unavailable", 400: "Bad Request"}.get(status, "X")
        c.sendall(("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\nConnection: close\r\n%s\r\n"
                   % (status, reason, len(body), extra)).encode() + body)

    def check_answer(self, decision, body=b""):
        """The answer to a /v1/check with BODY: it names the user asked about and this host."""
        try:
            user = json.loads(body).get("user")
        except (ValueError, AttributeError):
            user = None
        a = {"decision": decision, "reason": "allow" if decision == "allow" else "pending",
             "message": "request req_0123456789abcdef waits for customer approval"
             if decision == "deny" else "granted",
             "request": "req_0123456789abcdef", "decision_id": str(uuid.uuid4()),
             "grant_expires_at": "2099-01-01T00:00:00.000Z" if decision == "allow" else None,
             "user": user, "host": self.host_name}
        a.update({k: v for k, v in self.answer.items() if k not in ("reject_ids", "location")})
        return a

    def _host_self(self, c, path):
        """GET /v1/hosts/self and the change long-poll."""
        u = urllib.parse.urlsplit(path)
        if u.path == "/v1/hosts/self":
            self._send(c, 200, json.dumps({"id": "hst_0123456789abcdef", "name": self.host_name,
                                           "disabled": False}))
            return
        q = dict(urllib.parse.parse_qsl(u.query))
        try:
            wait = min(max(int(q.get("wait", "0")), 0), 60)
            since = int(q["since"]) if "since" in q else None
        except ValueError:
            self._send(c, 400, '{"error":{"code":"bad_request","message":"x"}}')
            return
        end = time.monotonic() + wait
        with self.changed:
            while (since is not None and since == self.version and not self.stop_ev.is_set()
                   and time.monotonic() < end):
                self.changed.wait(min(0.5, max(0.0, end - time.monotonic())))
            v = self.version
        self._send(c, 200, json.dumps({"version": v}))

    def _answer(self, c, method, path, headers, body):
        mode = self.mode
        if mode == "blackhole":
            self.stop_ev.wait(60)
            return
        if path == "/v1/audit/events" and method == "POST":
            if mode == "audit_down":
                self._send(c, 503, '{"error":{"code":"store_busy","message":"down"}}')
                return
            try:
                evs = json.loads(body)["events"]
            except (ValueError, KeyError, TypeError):
                self._send(c, 400, '{"error":{"code":"bad_json","message":"x"}}')
                return
            bad = set(self.answer.get("reject_ids", ()))
            if any(e.get("id") in bad for e in evs):
                self._send(c, 400, '{"error":{"code":"bad_text","message":"no"}}')
                return
            with self.lock:
                self.audit_posts.append(len(evs))
            new = dup = 0
            with self.lock:
                for e in evs:
                    if e.get("id") in self.audit_ids:
                        dup += 1
                    else:
                        new += 1
                    self.audit_ids.append(e.get("id"))
            self._send(c, 200, json.dumps({"accepted": new, "duplicates": dup}))
            return
        if method == "GET" and path.startswith("/v1/hosts/self"):
            self._host_self(c, path)
            return
        if mode in ("allow", "deny", "audit_down"):
            self._send(c, 200, json.dumps(self.check_answer(
                "allow" if mode in ("allow", "audit_down") else "deny", body)))
        elif mode == "blackhole":
            self.stop_ev.wait(60)
        elif mode == "trickle":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 400\r\n\r\n")
            payload = b'{"decision":"allow","reason":"allow"' + b" " * 400
            for i in range(600):
                if self.stop_ev.is_set():
                    break
                c.sendall(payload[i:i + 1])
                time.sleep(0.2)
        elif mode == "big":
            n = 10 * 1024 * 1024
            c.sendall(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: %d\r\n\r\n" % n).encode())
            chunk = b'{"decision":"allow",' + b" " * 65516
            sent = 0
            try:
                while sent < n:
                    c.sendall(chunk[:min(len(chunk), n - sent)])
                    sent += len(chunk)
            except OSError:
                pass
        elif mode == "big_chunked":
            # no Content-Length: the cap must hold while streaming
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b" " * 65536
            try:
                for _ in range(160):
                    c.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                c.sendall(b"0\r\n\r\n")
            except OSError:
                pass
        elif mode == "status401":
            self._send(c, 401, '{"error":{"code":"unauthorized","message":"unknown token"}}')
        elif mode == "status500":
            self._send(c, 500, '{"error":{"code":"store_error","message":"boom"}}')
        elif mode == "status302":
            self._send(c, 302, "", "Location: %s/v1/check\r\n" % self.answer.get(
                "location", "http://127.0.0.1:1"))
        elif mode == "dupkey":
            a = self.check_answer("deny", body)
            s = json.dumps(a)[:-1] + ', "decision": "allow"}'
            self._send(c, 200, s)
        elif mode == "garbage":
            self._send(c, 200, "<html>not json</html>")
        else:
            self._send(c, 500, "{}")


def refused_url():
    """An http URL on a loopback port nobody listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d" % port


if __name__ == "__main__":
    # manual use: python3 fakegw.py MODE  -> prints the URL, serves until killed
    g = FakeGateway(sys.argv[1] if len(sys.argv) > 1 else "allow")
    print(g.url, flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        g.close()
