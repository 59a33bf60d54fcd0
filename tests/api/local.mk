# tests/api: see tests/Makefile.am
