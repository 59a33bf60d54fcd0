/* tests/e2e: a small libssh client that logs in and prints what the server says on the way,
 * so tests can assert on the PAM messages sshd relays (keyboard-interactive instructions and
 * prompts, the pre-auth banner).
 *
 *   lbssh_client HOST PORT USER KEYFILE [COMMAND]
 *
 * Tries publickey with KEYFILE; if that does not finish authentication, keyboard-interactive
 * (answering every prompt with an empty line; pam_lockbox itself never prompts). Prints
 *   BANNER: text             METHODS: list
 *   PUBKEY: success|partial|denied|error
 *   KBDINT-NAME: / KBDINT-INSTRUCTION: / KBDINT-PROMPT: text
 *   KBDINT: success|partial|denied|error
 *   EXEC-OUT: line           EXEC-STATUS: n
 * with non-printable bytes as \xHH. Exit 0 when authenticated (and COMMAND, if any, ran),
 * 1 when authentication was refused, 2 on other errors. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libssh/libssh.h>

static void put(const char *label, const char *s)
{
	fputs(label, stdout);
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			putchar(*p);
		else
			printf("\\x%02x", *p);
	}
	putchar('\n');
	fflush(stdout);
}

static const char *auth_name(int rc)
{
	switch (rc) {
	case SSH_AUTH_SUCCESS:
		return "success";
	case SSH_AUTH_PARTIAL:
		return "partial";
	case SSH_AUTH_DENIED:
		return "denied";
	default:
		return "error";
	}
}

static int run_command(ssh_session s, const char *cmd)
{
	ssh_channel ch = ssh_channel_new(s);
	char buf[4096], line[4096];
	size_t ll = 0;
	int n, status;

	if (!ch || ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, cmd) != SSH_OK) {
		put("EXEC-ERROR: ", ssh_get_error(s));
		if (ch)
			ssh_channel_free(ch);
		return 2;
	}
	while ((n = ssh_channel_read_timeout(ch, buf, sizeof(buf), 0, 30000)) > 0) {
		for (int i = 0; i < n; i++) {
			if (buf[i] == '\n' || ll == sizeof(line) - 1) {
				line[ll] = '\0';
				put("EXEC-OUT: ", line);
				ll = 0;
			} else {
				line[ll++] = buf[i];
			}
		}
	}
	if (ll) {
		line[ll] = '\0';
		put("EXEC-OUT: ", line);
	}
	ssh_channel_send_eof(ch);
	status = ssh_channel_get_exit_status(ch);
	printf("EXEC-STATUS: %d\n", status);
	ssh_channel_close(ch);
	ssh_channel_free(ch);
	return status == 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
	ssh_session s;
	ssh_key key = NULL;
	int port, rc, authed = 0, res = 2, zero = 0;
	long timeout = 30;
	char *banner;

	if (argc < 5) {
		fprintf(stderr, "usage: %s HOST PORT USER KEYFILE [COMMAND]\n", argv[0]);
		return 2;
	}
	port = atoi(argv[2]);
	s = ssh_new();
	if (!s)
		return 2;
	ssh_options_set(s, SSH_OPTIONS_HOST, argv[1]);
	ssh_options_set(s, SSH_OPTIONS_PORT, &port);
	ssh_options_set(s, SSH_OPTIONS_USER, argv[3]);
	ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
	ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
	ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
	ssh_options_set(s, SSH_OPTIONS_STRICTHOSTKEYCHECK, &zero);
	ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &zero);
	if (ssh_connect(s) != SSH_OK) {
		put("CONNECT-ERROR: ", ssh_get_error(s));
		goto out;
	}
	rc = ssh_userauth_none(s, NULL);
	banner = ssh_get_issue_banner(s);
	if (banner) {
		put("BANNER: ", banner);
		ssh_string_free_char(banner);
	}
	if (rc == SSH_AUTH_SUCCESS) {
		authed = 1;
	} else {
		int m = ssh_userauth_list(s, NULL);
		printf("METHODS:%s%s%s\n", (m & SSH_AUTH_METHOD_PUBLICKEY) ? " publickey" : "",
		       (m & SSH_AUTH_METHOD_INTERACTIVE) ? " keyboard-interactive" : "",
		       (m & SSH_AUTH_METHOD_PASSWORD) ? " password" : "");
	}
	if (!authed) {
		if (ssh_pki_import_privkey_file(argv[4], NULL, NULL, NULL, &key) != SSH_OK) {
			put("KEY-ERROR: ", argv[4]);
			goto out;
		}
		rc = ssh_userauth_publickey(s, NULL, key);
		printf("PUBKEY: %s\n", auth_name(rc));
		/* sshd sends the PAM account messages of a refused publickey login as a
		 * USERAUTH_BANNER just before it disconnects */
		banner = ssh_get_issue_banner(s);
		if (banner) {
			put("BANNER: ", banner);
			ssh_string_free_char(banner);
		}
		if (rc == SSH_AUTH_ERROR)
			put("PUBKEY-ERROR: ", ssh_get_error(s));
		authed = rc == SSH_AUTH_SUCCESS;
	}
	if (!authed && ssh_is_connected(s)) {
		rc = ssh_userauth_kbdint(s, NULL, NULL);
		for (int round = 0; rc == SSH_AUTH_INFO && round < 10; round++) {
			int n = ssh_userauth_kbdint_getnprompts(s);
			put("KBDINT-NAME: ", ssh_userauth_kbdint_getname(s));
			put("KBDINT-INSTRUCTION: ", ssh_userauth_kbdint_getinstruction(s));
			for (int i = 0; i < n; i++) {
				char echo;
				put("KBDINT-PROMPT: ", ssh_userauth_kbdint_getprompt(s, (unsigned)i, &echo));
				ssh_userauth_kbdint_setanswer(s, (unsigned)i, "");
			}
			rc = ssh_userauth_kbdint(s, NULL, NULL);
		}
		printf("KBDINT: %s\n", auth_name(rc));
		if (rc == SSH_AUTH_ERROR)
			put("KBDINT-ERROR: ", ssh_get_error(s));
		authed = rc == SSH_AUTH_SUCCESS;
	}
	printf("AUTH: %s\n", authed ? "success" : "denied");
	fflush(stdout);
	if (!authed) {
		res = 1;
		goto out;
	}
	res = argc > 5 ? run_command(s, argv[5]) : 0;
out:
	ssh_key_free(key);
	ssh_disconnect(s);
	ssh_free(s);
	return res;
}
