# tests/fuzz: the parsers of untrusted text, as a libFuzzer target (fuzz_parsers.c; build it
# with clang -fsanitize=fuzzer,address) and, for `make check`, driven over the seed corpus
# plus seeded random mutations.
check_PROGRAMS += fuzz/fuzz_parsers
TESTS += fuzz/test_fuzz.sh
fuzz_fuzz_parsers_SOURCES = fuzz/fuzz_parsers.c fuzz/fuzz_main.c
fuzz_fuzz_parsers_LDADD = $(LB_LIB) $(JANSSON_LIBS)
EXTRA_DIST += fuzz/test_fuzz.sh fuzz/corpus
