/* lockboxctl: the TOTP second factor: enrolment and confirmation (any user, for themselves),
 * and the call that asks for a code on a terminal when the gateway answers mfa_required. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_LIBQRENCODE
#include <qrencode.h>
#endif

#include "cmd.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define TOTP_DIGITS 6

/* A code as the gateway takes it: 6 digits. Checked here so that a typo does not count as
 * one of the wrong codes that lock TOTP. */
int cmd_totp_code_ok(const char *code)
{
	if (!code || strlen(code) != TOTP_DIGITS)
		return 0;
	for (const char *p = code; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* Asks for a code on the terminal (stderr, then a line of stdin) into CODE. */
static int prompt_code(char code[TOTP_DIGITS + 1])
{
	char line[64];
	size_t n;

	for (int tries = 0; tries < 3; tries++) {
		fputs("TOTP code: ", stderr);
		fflush(stderr);
		if (!fgets(line, sizeof(line), stdin))
			return -1;
		n = strcspn(line, "\r\n");
		line[n] = '\0';
		while (n > 0 && line[n - 1] == ' ')
			line[--n] = '\0';
		if (cmd_totp_code_ok(line)) {
			memcpy(code, line, TOTP_DIGITS + 1);
			return 0;
		}
		ctl_err("a TOTP code is %d digits", TOTP_DIGITS);
	}
	return -1;
}

int cmd_call_totp(struct ctl *c, const char *method, const char *path, json_t *body,
		  json_t **out)
{
	json_t *ans = NULL;
	long status;
	int rc;

	if (out)
		*out = NULL;
	if (!path)
		return CTL_FAILED;
	/* without a terminal there is nobody to ask: the refusal is the answer */
	if (json_object_get(body, "totp") || !isatty(STDIN_FILENO))
		return ctl_api(c, method, path, body, out);
	rc = ctl_http(c, &c->gw, c->token, c->ca_file, c->timeout, method, path, body, &status,
		      &ans);
	if (rc != CTL_OK)
		return rc;
	if (status == 422 &&
	    strcmp(lb_json_str(json_object_get(ans, "error"), "code") ?
			   lb_json_str(json_object_get(ans, "error"), "code") : "",
		   "mfa_required") == 0) {
		char code[TOTP_DIGITS + 1];
		json_decref(ans);
		if (prompt_code(code) != 0) {
			ctl_err("no TOTP code given");
			return CTL_FAILED;
		}
		json_object_set_new(body, "totp", json_string(code));
		return ctl_api(c, method, path, body, out);
	}
	return ctl_answer(status, ans, out);
}

#ifdef HAVE_LIBQRENCODE
static int qr_dark(const QRcode *q, int x, int y)
{
	return x >= 0 && y >= 0 && x < q->width && y < q->width && (q->data[y * q->width + x] & 1);
}

/* TEXT as a QR code of half-block characters, two module rows per line, light modules
 * drawn (as qrencode -t UTF8 does) so that a dark terminal background gives the dark ones. */
static int print_qr(const char *text)
{
	const int margin = 2;
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);

	if (!q)
		return -1;
	for (int y = -margin; y < q->width + margin; y += 2) {
		for (int x = -margin; x < q->width + margin; x++) {
			int top = !qr_dark(q, x, y), bottom = !qr_dark(q, x, y + 1);
			fputs(top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ",
			      stdout);
		}
		putchar('\n');
	}
	QRcode_free(q);
	return 0;
}
#endif

static int totp_enroll(struct ctl *c, struct ctl_args *a)
{
	const char *code = ctl_arg(a, "totp"), *uri;
	json_t *b = json_object(), *ans;
	int rc;

	if (code && !cmd_totp_code_ok(code)) {
		json_decref(b);
		return ctl_usage(a, "--totp: a TOTP code is %d digits", TOTP_DIGITS);
	}
	if (code)
		json_object_set_new(b, "totp", json_string(code));
	rc = ctl_api(c, "POST", "/v1/users/self/totp", b, &ans);
	json_decref(b);
	if (rc != CTL_OK)
		return rc;
	uri = lb_json_str(ans, "otpauth_uri");
	if (c->json) {
		ctl_print_json(ans);
	} else if (c->quiet) {
		printf("%s\n", uri ? uri : "");
	} else {
		printf("secret: %s\notpauth_uri: %s\n", lb_json_str(ans, "secret") ?
			lb_json_str(ans, "secret") : "", uri ? uri : "");
		if (uri && (ctl_flag(a, "qr") || isatty(STDOUT_FILENO))) {
#ifdef HAVE_LIBQRENCODE
			putchar('\n');
			if (print_qr(uri) != 0)
				ctl_err("cannot draw the QR code; type the secret instead");
#else
			if (ctl_flag(a, "qr"))
				ctl_err("built without libqrencode: no QR code; type the secret instead");
#endif
		}
		fprintf(stderr, "Add it to an authenticator app (the secret is shown only now), then "
				"run: lockboxctl totp confirm CODE\n");
	}
	json_decref(ans);
	return CTL_OK;
}

static int totp_confirm(struct ctl *c, struct ctl_args *a)
{
	json_t *b, *ans;
	int rc;

	if (!cmd_totp_code_ok(a->pos[0]))
		return ctl_usage(a, "a TOTP code is %d digits", TOTP_DIGITS);
	b = json_pack("{s:s}", "code", a->pos[0]);
	rc = ctl_api(c, "POST", "/v1/users/self/totp/confirm", b, &ans);
	json_decref(b);
	if (rc != CTL_OK)
		return rc;
	if (c->json) {
		ctl_print_json(ans);
		json_decref(ans);
		return CTL_OK;
	}
	if (c->quiet) {
		printf("%s\n", lb_json_str(ans, "user") ? lb_json_str(ans, "user") : "");
		json_decref(ans);
		return CTL_OK;
	}
	printf("TOTP is active: give a code with --totp where the gateway asks for one\n");
	json_decref(ans);
	return CTL_OK;
}

static const struct ctl_opt totp_enroll_opts[] = {
	{"totp", "CODE", "a current code of the active TOTP, to replace it", 0},
	{"qr", NULL, "draw the QR code even when standard output is not a terminal", 0},
	{NULL, NULL, NULL, 0},
};

const struct ctl_cmd ctl_cmds_totp[] = {
	{"totp enroll", "[--totp CODE] [--qr]",
	 "make a new TOTP secret for myself; prints it and its otpauth URI once", 0, 0,
	 totp_enroll_opts, totp_enroll, 0,
	 "Prints the secret (base32) and the otpauth:// URI, and on a terminal the URI as a QR\n"
	 "code, for an authenticator app; then confirm with a code it shows. Enrolling again\n"
	 "before the confirmation replaces the secret. An active TOTP is replaced only with\n"
	 "--totp and a current code of it; it stays in force until the new one is confirmed."},
	{"totp confirm", "CODE", "activate the enrolled TOTP secret with a code it shows", 1, 1,
	 NULL, totp_confirm, 0,
	 "From then on a gateway with require_mfa wants a code to elevate (lockboxctl elevate\n"
	 "--totp CODE), one with approve_mfa to approve, deny and revoke."},
	{NULL, NULL, NULL, 0, 0, NULL, NULL, 0, NULL},
};
