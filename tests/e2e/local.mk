# tests/e2e: a real sshd with pam_lockbox in a private mount namespace, the real lockbox-agent,
# the real gateway, and real SSH clients (OpenSSH's ssh and lbssh_client, a small libssh
# client). sshenv.py is what the scripts share (the test host: config, users, sshd, agent).
# test_rdp.py: the same over RDP, with real xrdp + xrdp-sesman and xfreerdp under Xvfb
# (rdpenv.py, built on sshenv.py).
# (only where configure found libssh: the tests that need it skip without it)
if HAVE_LIBSSH
check_PROGRAMS += e2e/lbssh_client
e2e_lbssh_client_SOURCES = e2e/lbssh_client.c
e2e_lbssh_client_CFLAGS = $(AM_CFLAGS) $(SSH_CFLAGS)
e2e_lbssh_client_LDADD = $(SSH_LIBS)
endif
EXTRA_DIST += e2e/lbssh_client.c
TESTS += e2e/test_sshd.py e2e/test_live_sessions.py e2e/test_rdp.py
EXTRA_DIST += e2e/test_sshd.py e2e/test_live_sessions.py e2e/sshenv.py e2e/nsrun.sh \
	e2e/test_rdp.py e2e/rdpenv.py
# test_agent_grants.py: logins answered from the grants the agent holds, and when not
TESTS += e2e/test_agent_grants.py
EXTRA_DIST += e2e/test_agent_grants.py
