# tests/cli: see tests/Makefile.am
