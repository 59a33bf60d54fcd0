# tests/api: the gateway's REST API, driven by Python scripts (stdlib only, tests/lbtest.py)
# against a real lockbox-gatewayd on a free loopback port. See tests/Makefile.am.
API_TESTS = \
	api/test_lifecycle.py \
	api/test_authz.py \
	api/test_check.py \
	api/test_badinput.py \
	api/test_audit.py \
	api/test_durability.py \
	api/test_tls.py

TESTS += $(API_TESTS)
EXTRA_DIST += $(API_TESTS) lbtest.py

# notifications (SMTP via python3-aiosmtpd, webhooks)
TESTS += api/test_notify.py
EXTRA_DIST += api/test_notify.py
TESTS += api/test_checkpoint.py
EXTRA_DIST += api/test_checkpoint.py
TESTS += api/test_sessions.py
EXTRA_DIST += api/test_sessions.py
TESTS += api/test_notify_tls.py
EXTRA_DIST += api/test_notify_tls.py
TESTS += api/test_hostself.py
EXTRA_DIST += api/test_hostself.py
TESTS += api/test_hostevents.py
TESTS += api/test_concurrency.py
TESTS += api/test_detach.py
TESTS += api/test_userdisable.py
# issue 12: token list, revoke, expiry (token_ttl)
TESTS += api/test_tokens.py
EXTRA_DIST += api/test_tokens.py
EXTRA_DIST += api/test_userdisable.py
EXTRA_DIST += api/test_detach.py
EXTRA_DIST += api/test_concurrency.py
EXTRA_DIST += api/test_hostevents.py
# the change signal agents long-poll (GET /v1/hosts/self/changes)
TESTS += api/test_changes.py
EXTRA_DIST += api/test_changes.py
TESTS += api/test_grants.py
EXTRA_DIST += api/test_grants.py
# issue 13: scope leaks (verify, disabled hosts), request exhaustion, file modes
TESTS += api/test_scopeleaks.py api/test_exhaustion.py api/test_filemodes.py
EXTRA_DIST += api/test_scopeleaks.py api/test_exhaustion.py api/test_filemodes.py
# issue 12: TOTP (RFC 6238) enrolment, require_mfa / approve_mfa, lockout; codes from oathtool
TESTS += api/test_totp.py
EXTRA_DIST += api/test_totp.py
# issue 12: invitations (mail through a real SMTP server), customer-side administration by the
# customer only, directory events
TESTS += api/test_invitations.py api/test_directory.py
EXTRA_DIST += api/test_invitations.py api/test_directory.py
# issue 16: console sessions (POST/GET/DELETE /v1/sessions[/current]), the cookie and its CSRF rule
TESTS += api/test_websessions.py
EXTRA_DIST += api/test_websessions.py
TESTS += api/test_policy.py
EXTRA_DIST += api/test_policy.py
# issue 16: the console's static files as the gateway serves them (headers, cache, no way out)
TESTS += api/test_consolefiles.py
EXTRA_DIST += api/test_consolefiles.py
TESTS += api/test_breakglass.py
EXTRA_DIST += api/test_breakglass.py
TESTS += api/test_extend.py
EXTRA_DIST += api/test_extend.py
# issue 19: /metrics after real traffic (histograms, deny reasons, outbox), promtool check metrics
TESTS += api/test_metrics.py
EXTRA_DIST += api/test_metrics.py
# issue 14: every route x every role, generated from `lockbox-gatewayd --print-routes`
TESTS += api/test_routeauthz.py
EXTRA_DIST += api/test_routeauthz.py
