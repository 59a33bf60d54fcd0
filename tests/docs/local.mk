# tests/docs: the man pages match --help and the config key tables.
TESTS += docs/test_manpages.py
EXTRA_DIST += docs/test_manpages.py
