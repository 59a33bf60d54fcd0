# tests/install: `make install DESTDIR=...` puts the systemd units (paths substituted,
# systemd-analyze security scores), the pam-auth-update profile and the examples in place.
AM_TESTS_ENVIRONMENT += \
	LB_SBINDIR='$(sbindir)'; export LB_SBINDIR; \
	LB_BINDIR='$(bindir)'; export LB_BINDIR; \
	LB_DOCDIR='$(docdir)'; export LB_DOCDIR; \
	LB_PAMDIR='$(pamdir)'; export LB_PAMDIR; \
	LB_PAMCONFIGSDIR='$(pamconfigsdir)'; export LB_PAMCONFIGSDIR; \
	LB_SYSTEMDSYSTEMUNITDIR='$(systemdsystemunitdir)'; export LB_SYSTEMDSYSTEMUNITDIR;
TESTS += install/test_install.py install/test_daemon.py
EXTRA_DIST += install/test_install.py install/test_daemon.py
# issue 19: /etc/logrotate.d/lockbox against a live gateway (log_file, SIGHUP reopens it)
TESTS += install/test_logrotate.py
EXTRA_DIST += install/test_logrotate.py
# contrib/ha-trial.sh: a private PostgreSQL cluster and two gateways sharing it, on loopback
TESTS += install/test_ha_trial.py
EXTRA_DIST += install/test_ha_trial.py
