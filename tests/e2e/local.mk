# tests/e2e: see tests/Makefile.am
