#!/bin/bash
# The README's test command: installs what it needs, builds lockbox twice (warnings as errors,
# then ASan+UBSan) and runs the whole test suite in each build; between the two, make
# distcheck (fast tests only) and the Debian packages (contrib/pkgtest.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
if [ "$(id -u)" != 0 ]; then
  echo "lockbox tests: run as root (they install packages and start sshd in a private namespace)" >&2
  exit 2
fi
bash contrib/deps.sh
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi

run_build() { # name, extra configure args...
  local name=$1; shift
  local dir="$top/_build/$name"
  rm -rf "$dir"; mkdir -p "$dir"; cd "$dir"
  echo "=== lockbox: $name build ==="
  "$top/configure" --enable-werror "$@" >configure.out 2>&1 || { cat configure.out; return 1; }
  make -j"$(nproc)" >make.out 2>&1 || { cat make.out; return 1; }
  local rc=0
  make -j"$(nproc)" check || rc=$?
  if [ $rc -ne 0 ]; then
    find . -name '*.log' -path '*tests*' ! -name test-suite.log -print0 |
      xargs -0 grep -l -E '^(FAIL|ERROR)' 2>/dev/null | head -20 | while read -r f; do
        echo "----- $f"; tail -n 80 "$f"; done
    echo "----- tests/test-suite.log"; tail -n 200 tests/test-suite.log || true
  fi
  cd "$top"
  return $rc
}

# the API suite runs twice in the normal build, on SQLite and on a private PostgreSQL cluster
# (tests/pgcluster.py); here PostgreSQL must be there (a missing one is an error, not a skip)
export LB_TEST_PG=require
run_build normal

# make distcheck (issue 19): the tarball holds everything, builds out of tree from a read-only
# source, installs, uninstalls and cleans. Its inner `make check` runs the fast tests only
# (TESTS below: unit tests, the module's symbols and pam-auth-update profile, the man pages,
# make install's layout and units, the daemon's sd_notify): the heavy ones (the gateway API,
# sshd/xrdp end to end, the demo, the browser) just ran on the same sources above and run
# again under the sanitizers below; a third run would add many minutes and catch nothing a
# tarball can break that these do not.
distcheck_tests="unit/test_config unit/test_util unit/test_auditlog unit/test_agentproto unit/test_jsonflat
  unit/test_escape pam/test_symbols.py pam/test_linkage.py pam/test_pamconfigs.py
  docs/test_manpages.py install/test_install.py install/test_daemon.py cli/test_usage.py"
echo "=== lockbox: make distcheck ==="
(cd "$top/_build/normal" && make distcheck TESTS="$(echo $distcheck_tests)") \
	>"$top/_build/normal/distcheck.out" 2>&1 ||
	{ tail -150 "$top/_build/normal/distcheck.out"; exit 1; }
tail -4 "$top/_build/normal/distcheck.out"
# the Debian packages, built from that tarball (never in this tree), checked with lintian
bash "$top/contrib/pkgtest.sh" "$top/_build/normal/lockbox-$(sed -n 's/^AC_INIT(\[lockbox\], \[\([^]]*\)\].*/\1/p' configure.ac).tar.gz"

san="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LB_SANITIZER=1
# the PostgreSQL variant of the API suite and the several-gateway tests ran in the normal
# build: the store's code paths are the same C under ASan, its cost is minutes
export LB_TEST_PG=0
run_build sanitize CFLAGS="$san" LDFLAGS="-fsanitize=address,undefined"
echo "lockbox: all builds and test runs passed"
