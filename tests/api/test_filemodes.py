#!/usr/bin/python3
"""The gateway's files are its owner's only (issue 13 item 9): on a fresh directory the database,
its -wal and -shm and the checkpoint key are created 0600 whatever the caller's umask; an
existing database keeps its mode and a group- or world-readable one is warned about."""
import os
import stat

import lbtest
from lbtest import Gateway, api

T = lbtest.Runner("filemodes")


def modes(d, skip):
    out = {}
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            p = os.path.join(root, n)
            rel = os.path.relpath(p, d)
            if rel not in skip:
                out[rel] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


def main():
    old = os.umask(0o022)   # what a shell or a service manager usually hands down
    try:
        tmp = lbtest.tmpdir("lbmodes-")
        with Gateway(tmpdir=os.path.join(tmp, "fresh")) as gw:
            test_files = {os.path.basename(gw.conf), os.path.basename(gw.log)}
            admin = gw.bootstrap()
            gw.start()
            T.status(api(gw, "GET", "/v1/tenants", token=admin), 200, None, "the gateway serves")
            # writes so the WAL and its index exist for sure
            for i in range(3):
                api(gw, "POST", "/v1/tenants", {"name": "t%d" % i}, token=admin)
            made = modes(gw.tmp, test_files | {"pgdb.name"})
            sqlite = gw.store == "sqlite"
            if sqlite:
                T.check(any(n.endswith("-wal") for n in made) and any(n.endswith("-shm") for n in made)
                        and "gw.db" in made, "database, -wal and -shm were made", sorted(made))
            else:
                T.note("SKIP the database file, its -wal and -shm: SQLite only (the store is %s)"
                       % gw.store)
            T.check(any("key" in n for n in made), "a checkpoint key was made", sorted(made))
            for n, m in sorted(made.items()):
                T.eq(oct(m), oct(0o600) if not os.path.isdir(os.path.join(gw.tmp, n)) else oct(0o700),
                     "%s is the owner's only" % n)
            T.check("readable by" not in gw.log_text(), "no warning about a fresh database")
            if not sqlite:
                T.note("SKIP an existing database keeps its mode, a world-readable one is warned "
                       "about: SQLite only (a file)")
                return
            gw.stop()
            os.chmod(gw.db, 0o644)
            gw.start()
            T.eq(oct(stat.S_IMODE(os.stat(gw.db).st_mode)), oct(0o644),
                 "an existing database keeps its mode")
            T.check(lbtest.wait_until(lambda: "gw.db is readable by everyone" in gw.log_text(), 5),
                    "a world-readable database is warned about in the log", gw.log_tail(5))
    finally:
        os.umask(old)


if __name__ == "__main__":
    main()
    T.done()
