"""fakeagent: a misbehaving (or well-behaved) stand-in for lockbox-agent on its UNIX socket,
stdlib only, for the module's fault tests (tests/pam/test_faults.py).

    with FakeAgent(env.agent_socket, "allow") as a:    # a thread in this process
        ...; a.questions                                # every question read, parsed
    with FakeAgent(path, "allow", uid=65534) as a:      # a child process running as that uid

Modes (the answer to "check"):
  allow, deny   a well-formed answer naming the asked user and .host ("web-01"); .answer
                changes or adds fields (None removes one)
  hang          read the question, never answer
  noaccept      listen, never accept (the connection waits in the backlog)
  trickle       a well-formed allow, one byte per second
  garbage       a line that is not JSON
  huge          a 64 KiB line (the module reads at most 8 KiB)
  dupkey        {"decision": "deny", ..., "decision": "allow"}
  notobject     a JSON array
  close         read the question, close without a word
  partial       half an answer, no newline, then close
Session ops (session_open/session_close) follow .session_mode: ok, refuse, hang, garbage.

The uid= form runs this file as a program: it binds the socket as root, then drops to the uid
before listen(2), so the peer credentials the module reads with SO_PEERCRED are that uid's
(chown'ing the socket file would not change them).
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid

__all__ = ["FakeAgent"]


def check_answer(q, decision, host, extra):
    a = {"decision": decision, "reason": "allow" if decision == "allow" else "pending",
         "message": "granted" if decision == "allow" else
         "request req_0123456789abcdef waits for customer approval",
         "request": "req_0123456789abcdef", "decision_id": str(uuid.uuid4()),
         "grant_expires_at": "2099-01-01T00:00:00.000Z" if decision == "allow" else None,
         "user": q.get("user"), "host": host, "at_gateway": True}
    for k, v in extra.items():
        if v is None:
            a.pop(k, None)
        else:
            a[k] = v
    return a


class _Server:
    """The serving part, shared by the thread and the child-process forms."""

    def __init__(self, sock, mode, host="web-01"):
        self.sock = sock
        self.mode = mode
        self.session_mode = "ok"
        self.host = host
        self.answer = {}
        self.questions = []
        self.connections = 0
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stop_ev.is_set():
            if self.mode == "noaccept":
                time.sleep(0.1)
                continue
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def _read(self, c):
        buf = b""
        end = time.monotonic() + 10
        while b"\n" not in buf and time.monotonic() < end and len(buf) < 65536:
            try:
                d = c.recv(4096)
            except socket.timeout:
                continue
            if not d:
                break
            buf += d
        line = buf.split(b"\n", 1)[0]
        try:
            return json.loads(line)
        except ValueError:
            return {"unparsed": line.decode("latin-1")}

    def _send(self, c, data):
        if not isinstance(data, bytes):
            data = (json.dumps(data) + "\n").encode()
        c.sendall(data)

    def _conn(self, c):
        try:
            c.settimeout(1)
            q = self._read(c)
            with self.lock:
                self.questions.append(q)
            op = q.get("op")
            if op in ("session_open", "session_close"):
                self._session(c, q)
            elif op == "status":
                self._send(c, {"ok": True, "sessions": [], "fake": True})
            else:
                self._check(c, q)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _session(self, c, q):
        m = self.session_mode
        if m == "ok":
            self._send(c, {"ok": True})
        elif m == "refuse":
            self._send(c, {"ok": False, "error": "the grant has \x1b[1mended\n"})
        elif m == "hang":
            self.stop_ev.wait(30)
        elif m == "garbage":
            self._send(c, b"ok\n")

    def _check(self, c, q):
        m = self.mode
        if m in ("allow", "deny"):
            self._send(c, check_answer(q, m, self.host, self.answer))
        elif m == "hang":
            self.stop_ev.wait(30)
        elif m == "trickle":
            data = (json.dumps(check_answer(q, "allow", self.host, self.answer)) + "\n").encode()
            for i in range(len(data)):
                if self.stop_ev.wait(1.0):
                    break
                c.sendall(data[i:i + 1])
        elif m == "garbage":
            self._send(c, b"<html>not json</html>\n")
        elif m == "huge":
            a = check_answer(q, "deny", self.host, self.answer)
            a["message"] = "x" * 65536
            self._send(c, a)
        elif m == "dupkey":
            s = json.dumps(check_answer(q, "deny", self.host, self.answer))
            self._send(c, (s[:-1] + ', "decision": "allow", "reason": "allow"}\n').encode())
        elif m == "notobject":
            self._send(c, b'["allow"]\n')
        elif m == "close":
            pass
        elif m == "partial":
            s = json.dumps(check_answer(q, "allow", self.host, self.answer))
            self._send(c, s[:len(s) // 2].encode())


class FakeAgent:
    def __init__(self, path, mode="allow", uid=None, host="web-01"):
        self.path = path
        self.uid = uid
        self.child = None
        if os.path.lexists(path):
            os.unlink(path)
        if uid is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            os.chmod(path, 0o600)
            s.listen(64)
            self.srv = _Server(s, mode, host)
            self.thread = threading.Thread(target=self.srv.serve, daemon=True)
            self.thread.start()
        else:
            self.srv = None
            self.child = subprocess.Popen([sys.executable, "-B", os.path.abspath(__file__),
                                           path, mode, str(uid), host],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            line = self.child.stdout.readline()
            if not line.startswith(b"ready"):
                self.close()
                raise RuntimeError("fake agent as uid %d did not start: %r" % (uid, line))

    # the thread form's knobs and records
    def __getattr__(self, name):
        if name in ("mode", "session_mode", "answer", "questions", "connections", "host"):
            srv = self.__dict__.get("srv")
            if srv is None:
                raise AttributeError("%s: only for the in-process fake agent" % name)
            return getattr(srv, name)
        raise AttributeError(name)

    def __setattr__(self, name, value):
        if name in ("mode", "session_mode", "answer", "host"):
            setattr(self.srv, name, value)
        else:
            object.__setattr__(self, name, value)

    def close(self):
        if self.srv is not None:
            self.srv.stop_ev.set()
            self.thread.join(5)
            self.srv.sock.close()
        if self.child is not None:
            if self.child.poll() is None:
                self.child.kill()
            self.child.wait(10)
            self.child.stdin.close()
            self.child.stdout.close()
        if os.path.lexists(self.path):
            os.unlink(self.path)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False


def _child_main(path, mode, uid, host):
    """Binds PATH as root, becomes UID, listens and serves until stdin closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, 0o666)  # the module must be able to connect; the peer uid is the point
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        sys.exit(3)
    s.listen(64)  # SO_PEERCRED reports the credentials of listen(2)'s caller
    srv = _Server(s, mode, host)
    threading.Thread(target=srv.serve, daemon=True).start()
    sys.stdout.write("ready uid=%d\n" % os.geteuid())
    sys.stdout.flush()
    sys.stdin.read()  # until the test closes our stdin (or kills us)
    srv.stop_ev.set()


if __name__ == "__main__":
    _child_main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
