# tests/api: the gateway's REST API, driven by Python scripts (stdlib only, tests/lbtest.py)
# against a real lockbox-gatewayd on a free loopback port. See tests/Makefile.am.
#
# Every script runs twice: api/test_x.py on SQLite (each gateway its own file) and
# api/test_x-pg.pgpy on PostgreSQL (each gateway its own database in a private cluster the
# test starts: tests/pgcluster.py). The .pgpy files are one-line wrappers made here (they name
# the script); PGPY_LOG_COMPILER runs the script with LB_TEST_STORE=postgresql. LB_TEST_PG=0
# skips that variant (77), LB_TEST_PG=require makes a missing PostgreSQL an error, not a skip.
API_TESTS = \
	api/test_lifecycle.py \
	api/test_authz.py \
	api/test_check.py \
	api/test_badinput.py \
	api/test_audit.py \
	api/test_durability.py \
	api/test_tls.py
# notifications (SMTP via python3-aiosmtpd, webhooks)
API_TESTS += api/test_notify.py
API_TESTS += api/test_checkpoint.py
API_TESTS += api/test_sessions.py
API_TESTS += api/test_notify_tls.py
API_TESTS += api/test_hostself.py
API_TESTS += api/test_hostevents.py
API_TESTS += api/test_concurrency.py
API_TESTS += api/test_detach.py
API_TESTS += api/test_userdisable.py
# issue 12: token list, revoke, expiry (token_ttl)
API_TESTS += api/test_tokens.py
# the change signal agents long-poll (GET /v1/hosts/self/changes)
API_TESTS += api/test_changes.py
API_TESTS += api/test_grants.py
# issue 13: scope leaks (verify, disabled hosts), request exhaustion, file modes
API_TESTS += api/test_scopeleaks.py api/test_exhaustion.py api/test_filemodes.py
# issue 12: TOTP (RFC 6238) enrolment, require_mfa / approve_mfa, lockout; codes from oathtool
API_TESTS += api/test_totp.py
# issue 12: invitations (mail through a real SMTP server), customer-side administration by the
# customer only, directory events
API_TESTS += api/test_invitations.py api/test_directory.py
# issue 16: console sessions (POST/GET/DELETE /v1/sessions[/current]), the cookie and its CSRF rule
API_TESTS += api/test_websessions.py
API_TESTS += api/test_policy.py
# issue 16: the console's static files as the gateway serves them (headers, cache, no way out)
API_TESTS += api/test_consolefiles.py
API_TESTS += api/test_breakglass.py
API_TESTS += api/test_extend.py
# issue 19: /metrics after real traffic (histograms, deny reasons, outbox), promtool check metrics
API_TESTS += api/test_metrics.py
# issue 14: every route x every role, generated from `lockbox-gatewayd --print-routes`
API_TESTS += api/test_routeauthz.py

# the PostgreSQL variants: api/test_x.py -> api/test_x-pg.pgpy (a suffix substitution, portable)
API_PG_TESTS = $(API_TESTS:.py=-pg.pgpy)
$(API_PG_TESTS): $(srcdir)/api/local.mk
	$(AM_V_GEN)$(MKDIR_P) api && \
	echo '$@' | sed -e 's/-pg\.pgpy$$/.py/' > $@-t && mv -f $@-t $@

# the private PostgreSQL cluster itself: starts, stops, leaves nothing, also after a failure
# (once: it has no SQLite variant)
TESTS += $(API_TESTS) $(API_PG_TESTS) api/test_pgcluster.py
EXTRA_DIST += $(API_TESTS) api/test_pgcluster.py lbtest.py pgcluster.py
CLEANFILES += $(API_PG_TESTS)
