# tests/pam: see tests/Makefile.am
