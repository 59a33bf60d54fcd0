#!/bin/bash
# The README's test command: installs what it needs, builds lockbox twice (warnings as errors,
# then ASan+UBSan) and runs the whole test suite in each build.
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

run_build normal
san="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LB_SANITIZER=1
run_build sanitize CFLAGS="$san" LDFLAGS="-fsanitize=address,undefined"
echo "lockbox: all builds and test runs passed"
