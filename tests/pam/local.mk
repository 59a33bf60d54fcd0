# tests/pam: pam_lockbox under pam_wrapper/libpamtest (+ nss_wrapper) next to the real
# lockbox-agent; a fake agent (fakeagent.py) for the socket faults, a fake gateway (fakegw.py)
# for the agent's gateway faults, the real gateway for the decisions, and unit tests of the
# lib parts the module uses.
EXTRA_DIST += pam/fakegw.py pam/fakeagent.py pam/pamenv.py
if HAVE_PAMTEST
check_PROGRAMS += pam/lbpam_drive
pam_lbpam_drive_SOURCES = pam/lbpam_drive.c
pam_lbpam_drive_CFLAGS = $(AM_CFLAGS) $(PAMTEST_CFLAGS) $(PAM_CFLAGS)
pam_lbpam_drive_LDADD = $(PAMTEST_LIBS) $(PAM_LIBS)
endif
check_PROGRAMS += pam/lbaudit_tool
pam_lbaudit_tool_SOURCES = pam/lbaudit_tool.c
pam_lbaudit_tool_LDADD = $(LB_LIB) $(JANSSON_LIBS)
TESTS += pam/test_auditlog.py
EXTRA_DIST += pam/test_auditlog.py
PAM_PY_TESTS = pam/test_symbols.py pam/test_linkage.py pam/test_faults.py \
	pam/test_gwfaults.py pam/test_syslog.py pam/test_hygiene.py pam/test_gateway.py
TESTS += $(PAM_PY_TESTS)
EXTRA_DIST += $(PAM_PY_TESTS)
# issue 19: the pam-auth-update profile (contrib/pam-configs/lockbox) gates sshd and
# xrdp-sesman only (services=); cron, su, sudo, login get PAM_IGNORE
TESTS += pam/test_pamconfigs.py
EXTRA_DIST += pam/test_pamconfigs.py
