# tests/ha: several gateways on one PostgreSQL database (a private cluster the test starts,
# tests/pgcluster.py); once, in the normal build (LB_TEST_PG=0 skips it under the sanitizers)
TESTS += ha/test_ha.py
EXTRA_DIST += ha/test_ha.py
