# tests/cli: lockboxctl driven as a user would (Python stdlib, tests/lbtest.py + cli/ctltest.py),
# against the real lockbox-gatewayd; cli/fakegw.py scripts exact answers for error paths.
# test_failover.py: several gateway URLs (lockboxctl, and the real lockbox-agent on them).
CLI_TESTS = \
	cli/test_usage.py \
	cli/test_admin.py \
	cli/test_workflow.py \
	cli/test_host.py \
	cli/test_truststore.py \
	cli/test_auditkey.py \
	cli/test_story.sh \
	cli/test_totp.py \
	cli/test_failover.py

TESTS += $(CLI_TESTS)
EXTRA_DIST += $(CLI_TESTS) cli/ctltest.py cli/fakegw.py
