#!/bin/bash
# Runs the parser fuzz target over its corpus and 20000 seeded mutations.
set -u
out=$("$LB_TOP_BUILDDIR/tests/fuzz/fuzz_parsers" "$LB_TOP_SRCDIR/tests/fuzz/corpus" 20000 2>&1)
rc=$?
echo "$out" | tail -5
if [ $rc -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $rc
