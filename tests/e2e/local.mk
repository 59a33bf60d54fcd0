# tests/e2e: a real sshd with pam_lockbox in a private mount namespace, the real lockbox-agent,
# the real gateway, and real SSH clients (OpenSSH's ssh and lbssh_client, a small libssh
# client). sshenv.py is what the scripts share (the test host: config, users, sshd, agent).
check_PROGRAMS += e2e/lbssh_client
e2e_lbssh_client_SOURCES = e2e/lbssh_client.c
e2e_lbssh_client_CFLAGS = $(AM_CFLAGS) $(SSH_CFLAGS)
e2e_lbssh_client_LDADD = $(SSH_LIBS)
TESTS += e2e/test_sshd.py e2e/test_live_sessions.py
EXTRA_DIST += e2e/test_sshd.py e2e/test_live_sessions.py e2e/sshenv.py e2e/nsrun.sh
