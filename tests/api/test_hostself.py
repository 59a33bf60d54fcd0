#!/usr/bin/python3
"""GET /v1/hosts/self: a host reads its own enrolment with its token, and nobody else can."""
import lbtest
from lbtest import Gateway, world

T = lbtest.Runner("hostself")


def main():
    with Gateway() as gw:
        gw.start()
        w = world(gw, gw.bootstrap())
        with T.section("a host reads itself"):
            js = w.must("GET", "/v1/hosts/self", who="hA1")
            T.eq(js["id"], w.host["hA1"]["id"], "its id")
            T.eq(js["name"], "hA1", "its name")
            T.eq(js["subscription"], w.sub["A1"], "its subscription")
            T.eq(js["disabled"], False, "not disabled")
            T.check("token" not in js and "token_hash" not in js, "no token material")
            js = w.must("GET", "/v1/hosts/self", who="hB1")
            T.eq(js["name"], "hB1", "another host reads only itself")
        with T.section("nobody else"):
            for who in ("admin", "eng", "gadmA", "custA"):
                st, js, _ = w.call("GET", "/v1/hosts/self", who=who)
                T.eq(st, 403, "as %s -> 403" % who)
            st, _, _ = lbtest.api(gw, "GET", "/v1/hosts/self")
            T.eq(st, 401, "no token -> 401")
            st, _, _ = lbtest.api(gw, "GET", "/v1/hosts/self", token="lbh_" + "0" * 64)
            T.eq(st, 401, "unknown host token -> 401")
        with T.section("a disabled host sees it"):
            w.must("POST", "/v1/hosts/%s/disable" % w.host["hA2"]["id"])
            T.eq(w.must("GET", "/v1/hosts/self", who="hA2")["disabled"], True, "disabled: true")


if __name__ == "__main__":
    main()
    T.done()
