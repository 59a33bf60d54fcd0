# tests/demo: the README demo (contrib/demo.sh) run as a test.
TESTS += demo/test_demo.sh
EXTRA_DIST += demo/test_demo.sh
