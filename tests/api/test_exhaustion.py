#!/usr/bin/python3
"""Connection exhaustion (issue 13 item 1): slowloris clients that send a partial request and then
a byte a second are closed request_timeout after they connected (the idle timeout never fires
for them), one address holds at most max_connections_per_ip connections, and hosts' checks
from another address are answered within 1 s throughout. A parked change long-poll, whose
request is complete, outlives request_timeout. Loopback only, about 200 connections, < 30 s."""
import http.client
import json
import select
import socket
import threading
import time

import lbtest
from lbtest import Gateway, api

T = lbtest.Runner("exhaustion")

PER_IP = 40
TIMEOUT = 3          # request_timeout, seconds
ATTACKERS = ["127.0.0.1", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"]
HOST_ADDR = "127.0.0.2"
ATTACK_S = 8.0       # how long the trickling goes on (bounded)


def call_from(gw, src, method, path, body=None, token=None, timeout=5):
    """One HTTP call from source address src; returns (status, json, seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=timeout,
                                      source_address=(src, 0))
    hdrs = {"Content-Type": "application/json"}
    if token:
        hdrs["Authorization"] = "Bearer " + token
    t0 = time.monotonic()
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, (json.loads(data) if data else None), time.monotonic() - t0
    finally:
        conn.close()


def slow_socket(gw, src, first):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(2)
    s.connect(("127.0.0.1", gw.port))
    s.sendall(first)
    s.setblocking(False)
    return s


def closed_by_peer(s):
    """True once the gateway closed s (EOF or reset); False while it is open and silent."""
    try:
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            return False
        s.recv(4096)   # EOF, or an error answer to a partial request: either way it ends
        return True
    except OSError:
        return True


def main():
    conf = "max_connections_per_ip = %d\nrequest_timeout = %ds\nthreads = 4" % (PER_IP, TIMEOUT)
    with Gateway(conf_extra=conf) as gw:
        admin = gw.bootstrap()
        gw.start()
        ten = lbtest.must(gw, "POST", "/v1/tenants", {"name": "t"}, token=admin)["id"]
        sub = lbtest.must(gw, "POST", "/v1/subscriptions", {"tenant": ten, "name": "s"},
                          token=admin)["id"]
        host = lbtest.must(gw, "POST", "/v1/hosts", {"subscription": sub, "name": "h1"},
                           token=admin)["token"]
        check = {"user": "eng", "service": "sshd", "rhost": "10.0.0.5", "tty": "ssh"}
        st, js, secs = call_from(gw, HOST_ADDR, "POST", "/v1/check", check, host)
        T.eq(st, 200, "a check from %s before the attack" % HOST_ADDR)
        st, js, _ = call_from(gw, HOST_ADDR, "GET", "/v1/hosts/self/changes?since=0&wait=0",
                              token=host)
        version = js.get("version") if js else None

        # a change long-poll that waits longer than request_timeout: it must not be cut
        poll = {}

        def long_poll():
            try:
                poll["res"] = call_from(gw, HOST_ADDR, "GET", "/v1/hosts/self/changes?since=%s&wait=%d"
                                        % (version, TIMEOUT + 3), token=host, timeout=TIMEOUT + 10)
            except Exception as e:   # reported below
                poll["res"] = (None, repr(e), None)
        pt = threading.Thread(target=long_poll, daemon=True)
        pt.start()

        socks = []   # (socket, opened at, source)
        with T.section("attack: %d trickling connections from %d addresses"
                       % (PER_IP * len(ATTACKERS), len(ATTACKERS))):
            head = b"GET /healthz HTTP/1.1\r\nHost: lockbox\r\nX-Slow: "
            for src in ATTACKERS:
                for _ in range(PER_IP):
                    socks.append((slow_socket(gw, src, head), time.monotonic(), src))
            # a body that trickles, after a complete header
            body_head = (b"POST /v1/check HTTP/1.1\r\nHost: lockbox\r\nContent-Type: application/json\r\n"
                         b"Authorization: Bearer " + host.encode() + b"\r\nContent-Length: 200\r\n\r\n{")
            body_sock = (slow_socket(gw, "127.0.0.7", body_head), time.monotonic(), "127.0.0.7")
            socks.append(body_sock)
            T.note("%d connections open" % len(socks))

            # the address at its limit gets no more connections
            time.sleep(0.3)
            extra = slow_socket(gw, ATTACKERS[0], b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            extra.setblocking(True)
            extra.settimeout(2)
            try:
                got = extra.recv(4096)
            except OSError as e:
                got = repr(e).encode()
            extra.close()
            T.check(not got.startswith(b"HTTP/"),
                    "connection %d from %s is refused (closed unanswered)" % (PER_IP + 1, ATTACKERS[0]),
                    got[:80])

            closed_at = {}
            lat = []
            end = time.monotonic() + ATTACK_S
            last_tick = 0.0
            while time.monotonic() < end and len(closed_at) < len(socks):
                now = time.monotonic()
                if now - last_tick >= 1.0:   # one byte a second on every open connection
                    last_tick = now
                    for i, (s, t0, _) in enumerate(socks):
                        if i in closed_at:
                            continue
                        try:
                            s.send(b"a")
                        except OSError:
                            closed_at[i] = time.monotonic() - t0
                for i, (s, t0, _) in enumerate(socks):
                    if i not in closed_at and closed_by_peer(s):
                        closed_at[i] = time.monotonic() - t0
                try:
                    st, js, secs = call_from(gw, HOST_ADDR, "POST", "/v1/check", check, host, timeout=3)
                    lat.append((st, secs))
                except OSError as e:
                    lat.append((repr(e), 9.9))
                time.sleep(0.2)
            for s, _, _ in socks:
                s.close()

            T.check(len(lat) >= 10 and all(st == 200 for st, _ in lat),
                    "%d checks from %s during the attack all answered 200" % (len(lat), HOST_ADDR),
                    [x for x in lat if x[0] != 200][:5])
            worst = max((secs for _, secs in lat), default=9.9)
            T.check(worst < 1.0, "... each within 1 s (worst %.3f s)" % worst)
            open_still = [socks[i][2] for i in range(len(socks)) if i not in closed_at]
            T.check(not open_still, "every trickling connection was closed",
                    "%d still open after %.0f s (from %s)" % (len(open_still), ATTACK_S,
                                                            sorted(set(open_still))))
            late = sorted(t for t in closed_at.values() if t > TIMEOUT + 2)
            T.check(closed_at and not late,
                    "each closed within request_timeout + 2 s (latest %.2f s)"
                    % max(closed_at.values(), default=0), late[:5])
            early = sorted(t for t in closed_at.values() if t < TIMEOUT - 0.5)
            T.check(not early, "none closed well before request_timeout", early[:5])
            T.check(len(socks) - 1 in closed_at, "a trickling body is cut too")

        with T.section("after the attack"):
            st, _, _ = call_from(gw, ATTACKERS[0], "GET", "/healthz")
            T.eq(st, 200, "%s is served again once its connections are gone" % ATTACKERS[0])
            pt.join(TIMEOUT + 12)
            st, js, secs = poll.get("res", (None, None, None))
            T.check(st == 200 and secs is not None and secs >= TIMEOUT + 2,
                    "a change long-poll (wait %d s) outlived request_timeout and was answered"
                    % (TIMEOUT + 3), poll.get("res"))


if __name__ == "__main__":
    main()
    T.done()
