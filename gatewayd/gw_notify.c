/* lockbox-gatewayd: notifications. Rows are queued in the outbox inside the transaction of the
 * state change they announce; one worker thread delivers them (SMTP mail, signed webhooks)
 * with bounded exponential retry, so a mail server that is down delays but never loses a
 * notification, and API calls never wait for delivery. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "gw.h"
#include "gw_notify.h"
#include "rules_requests.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define NOTIFY_BATCH 20
#define NOTIFY_TIMEOUT_MS 30000L
#define NOTIFY_BACKOFF_MAX_S 600

/* ---- recipients ---- */

static void add_user_email(struct gw_store *s, struct gw_txn *t, const char *uid, json_t *emails)
{
	json_t *u;
	const char *email;
	if (s->get(s->cls, t, &gw_k_users, "id", uid, &u) != GW_DB_OK)
		return;
	email = lb_json_str(u, "email");
	if (email && *email && !json_is_true(json_object_get(u, "disabled"))) {
		size_t i;
		json_t *e;
		int dup = 0;
		json_array_foreach(emails, i, e) dup |= lb_str_eq(json_string_value(e), email);
		if (!dup)
			json_array_append_new(emails, json_string(email));
	}
	json_decref(u);
}

static enum gw_db add_role_holders(struct gw_store *s, struct gw_txn *t, const char *role, const char *col,
				   const char *val, json_t *emails)
{
	struct gw_filter f[2] = {{"role", GW_EQ, role}, {col, GW_EQ, val}};
	int64_t cursor = 0, next;
	int pages = 0;
	do {
		json_t *items, *row;
		size_t i;
		enum gw_db rc = s->list(s->cls, t, &gw_k_roles, f, col ? 2 : 1, cursor, GW_LIST_MAX, 0,
					NULL, NULL, &items, &next);
		if (rc != GW_DB_OK)
			return rc;
		json_array_foreach(items, i, row) add_user_email(s, t, lb_json_str(row, "user"), emails);
		json_decref(items);
		cursor = next;
	} while (next && ++pages < 50);
	return GW_DB_OK;
}

/* Every holder of a designated-approver role of REQ (gw_designated_approvers: the same rule
 * the approve call checks). */
static enum gw_db designated_approvers(struct gw_store *s, struct gw_txn *t, const json_t *req, json_t *emails)
{
	struct gw_role_scope rs[GW_APPROVER_SCOPES];
	size_t n = gw_designated_approvers(req, rs);
	enum gw_db rc = GW_DB_OK;
	for (size_t i = 0; i < n && rc == GW_DB_OK; i++)
		rc = add_role_holders(s, t, gw_role_name(rs[i].role), rs[i].column, rs[i].id, emails);
	return rc;
}

/* ---- message text ---- */

static void console_link(const struct gw_config *c, const char *id, char *buf, size_t len)
{
	if (c->console_url) {
		size_t n = strlen(c->console_url);
		snprintf(buf, len, "%s%srequests/%s", c->console_url,
			 n && c->console_url[n - 1] == '/' ? "" : "/", id);
	} else {
		snprintf(buf, len, "(no console_url configured) request %s", id);
	}
}

static char *request_text(struct gw *gw, const json_t *req, const json_t *ticket,
			  const char *headline)
{
	char *buf = NULL, link[600], hosts[1024] = "";
	size_t len = 0, off = 0, i;
	json_t *h;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	json_array_foreach(json_object_get(req, "hosts"), i, h) {
		const char *n = json_string_value(h);
		off += (size_t)snprintf(hosts + off, off < sizeof(hosts) ? sizeof(hosts) - off : 0,
					"%s%s", i ? ", " : "", lb_str_eq(n, "*") ? "every host in scope" : n);
		if (off >= sizeof(hosts))
			break;
	}
	console_link(&gw->cfg, lb_json_str(req, "id"), link, sizeof(link));
	fprintf(f, "%s\r\n\r\n", headline);
	fprintf(f, "Request:        %s\r\n", lb_json_str(req, "id"));
	fprintf(f, "State:          %s\r\n", lb_json_str(req, "state"));
	fprintf(f, "Requested by:   %s (%s)\r\n", lb_json_str(req, "requester_login"),
		lb_json_str(req, "requester"));
	fprintf(f, "Ticket:         %s: %s\r\n", lb_json_str(req, "ticket"),
		ticket ? lb_json_str(ticket, "title") : "(unknown)");
	fprintf(f, "Scope:          %s %s\r\n", lb_json_str(req, "scope"),
		lb_json_str(req, "subscription") ? lb_json_str(req, "subscription")
						 : lb_json_str(req, "tenant"));
	fprintf(f, "Hosts:          %s\r\n", hosts);
	fprintf(f, "Access:         %s\r\n", lb_json_str(req, "access"));
	fprintf(f, "Duration:       %s\r\n", lb_json_str(req, "duration"));
	fprintf(f, "Justification:  %.900s\r\n", lb_json_str(req, "justification"));
	if (gw_request_is_pending(lb_json_str(req, "state")))
		fprintf(f, "Expires if nobody decides by: %s\r\n",
			lb_json_str(req, "pending_expires_at"));
	if (lb_json_str(req, "grant_expires_at"))
		fprintf(f, "Grant ends:     %s\r\n", lb_json_str(req, "grant_expires_at"));
	if (lb_json_str(req, "decision_reason"))
		fprintf(f, "Reason:         %.900s\r\n", lb_json_str(req, "decision_reason"));
	fprintf(f, "\r\nOpen it: %s\r\n", link);
	fprintf(f, "\r\n-- \r\nlockbox gateway (this message was sent automatically)\r\n");
	fclose(f);
	return buf;
}

/* Events this module announces, what the mail says, and who gets it. */
enum audience { TO_APPROVERS = 1, TO_INTERNAL = 2, TO_ENGINEER = 4, TO_PROVIDER_ADMINS = 8 };
static const struct {
	const char *event;
	const char *subject;
	const char *headline;
	unsigned to;
} events[] = {
	{"request.internal_review", "Internal review needed: access request ",
	 "An access request was flagged by the JIT rules and waits for an internal approver.",
	 TO_INTERNAL},
	{"request.customer_notified", "Approval needed: support access request ",
	 "A support engineer asks for access to your hosts. Approve or deny it.", TO_APPROVERS},
	{"request.break_glass", "BREAK-GLASS access opened: request ",
	 "An engineer used break-glass access to your hosts: the grant is open now, without a "
	 "prior approval. Review it (accept, or reject to revoke it at once).",
	 TO_APPROVERS | TO_PROVIDER_ADMINS},
	{"request.approval", "Approval recorded: access request ",
	 "A designated approver approved your access request; the tenant's policy needs more "
	 "approvals before the grant window opens.", TO_ENGINEER},
	{"request.approved", "Approved: access request ",
	 "Your access request was approved; the grant window is open.", TO_ENGINEER},
	{"request.denied", "Denied: access request ", "Your access request was denied.",
	 TO_ENGINEER},
	{"request.revoked", "Revoked: access request ", "An approved access grant was revoked.",
	 TO_ENGINEER | TO_APPROVERS},
	{"request.expired", "Expired: access request ",
	 "An access request expired: nobody decided within the pending time.",
	 TO_ENGINEER | TO_APPROVERS},
	{"request.completed", "Completed: access request ",
	 "The grant window of your access request has ended.", TO_ENGINEER},
};

/* One outbox row about ABOUT (a request or an invitation id); REQUEST is the request it
 * announces, or NULL. */
static enum gw_db queue_row(struct gw *gw, struct gw_txn *t, const char *about, const char *request,
			    const char *event, const char *channel, const char *recipient,
			    const char *subject, const char *body, const char *now)
{
	struct gw_store *s = gw->store;
	char id[GW_ID_LEN], msgid[128];
	json_t *row;
	enum gw_db rc;

	gw_new_id("ntf_", id);
	snprintf(msgid, sizeof(msgid), "<%s.%s@lockbox>", id, about);
	row = json_pack("{s:s,s:s?,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:n,s:s,s:n}", "id", id,
			"request", request, "event", event, "channel", channel,
			"recipient", recipient, "subject", subject, "body", body, "message_id",
			msgid, "state", "pending", "attempts", 0, "next_attempt_at", now,
			"last_error", "created_at", now, "sent_at");
	rc = row ? s->insert(s->cls, t, &gw_k_notifications, row) : GW_DB_ERROR;
	json_decref(row);
	return rc;
}

enum gw_db gw_notify_request(struct gw *gw, struct gw_txn *t, const json_t *req, const char *event)
{
	struct gw_store *s = gw->store;
	const struct gw_config *c = &gw->cfg;
	char now[LB_TIME_BUFLEN], subject[256];
	json_t *emails, *ticket = NULL, *e;
	char *body = NULL, *payload = NULL;
	size_t i, k;
	enum gw_db rc = GW_DB_OK;

	for (k = 0; k < sizeof(events) / sizeof(events[0]); k++)
		if (lb_str_eq(events[k].event, event))
			break;
	if (k == sizeof(events) / sizeof(events[0]) || (!c->smtp_url && c->webhook_url.n == 0))
		return GW_DB_OK;
	lb_time_format(lb_time_now_ms(), now, sizeof(now));
	s->get(s->cls, t, &gw_k_tickets, "id", lb_json_str(req, "ticket"), &ticket);
	snprintf(subject, sizeof(subject), "[lockbox] %s%s", events[k].subject, lb_json_str(req, "id"));
	if (lb_str_eq(event, "request.approval"))
		/* N-of-M: "1 of 2 approvals" */
		snprintf(subject + strlen(subject), sizeof(subject) - strlen(subject),
			 " (%zu of %lld approvals)", json_array_size(json_object_get(req, "approvals")),
			 (long long)json_integer_value(json_object_get(req, "approvals_required")));
	if (c->smtp_url) {
		emails = json_array();
		if (events[k].to & TO_APPROVERS)
			rc = designated_approvers(s, t, req, emails);
		if (rc == GW_DB_OK && (events[k].to & TO_INTERNAL))
			rc = add_role_holders(s, t, "internal_approver", NULL, NULL, emails);
		if (rc == GW_DB_OK && (events[k].to & TO_PROVIDER_ADMINS))
			rc = add_role_holders(s, t, "provider_admin", NULL, NULL, emails);
		if (rc == GW_DB_OK && (events[k].to & TO_ENGINEER))
			add_user_email(s, t, lb_json_str(req, "requester"), emails);
		body = request_text(gw, req, ticket, events[k].headline);
		json_array_foreach(emails, i, e) {
			if (rc != GW_DB_OK || !body)
				break;
			rc = queue_row(gw, t, lb_json_str(req, "id"), lb_json_str(req, "id"), event,
				       "email", json_string_value(e), subject, body, now);
		}
		json_decref(emails);
	}
	if (rc == GW_DB_OK && c->webhook_url.n) {
		char link[600];
		json_t *p;
		console_link(c, lb_json_str(req, "id"), link, sizeof(link));
		p = json_pack("{s:s,s:s,s:O,s:O?,s:s}", "event", event, "time", now, "request", req,
			      "ticket", ticket, "console_url", link);
		payload = p ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(p);
		for (i = 0; payload && rc == GW_DB_OK && i < c->webhook_url.n; i++)
			rc = queue_row(gw, t, lb_json_str(req, "id"), lb_json_str(req, "id"), event,
				       "webhook", c->webhook_url.v[i], subject, payload, now);
	}
	free(body);
	free(payload);
	json_decref(ticket);
	return rc;
}

/* ---- invitations ---- */

/* The one place an invitation's code is ever written: the invitee's mail. The outbox row holds
 * it only until the mail is out (record_outcome_body then blanks the body), the notifications
 * API never shows it (gw_notifications_list), and it goes to no webhook: the provider's own
 * systems must not learn a customer's credential. */
#define GW_INVITATION_EVENT "invitation.create"
#define GW_INVITATION_GONE "(removed once delivered: the mail held a one-time invitation code)"

static int is_invitation(const json_t *n)
{
	return lb_str_eq(lb_json_str(n, "event"), GW_INVITATION_EVENT);
}

enum gw_db gw_notify_invitation(struct gw *gw, struct gw_txn *t, const json_t *inv, const char *tenant_name,
				const char *code)
{
	const struct gw_config *c = &gw->cfg;
	char now[LB_TIME_BUFLEN], subject[256];
	char *body = NULL;
	size_t len = 0;
	FILE *f;
	enum gw_db rc;

	if (!c->smtp_url)
		return GW_DB_ERROR; /* the handler refuses before: an invitation needs mail */
	f = open_memstream(&body, &len);
	if (!f)
		return GW_DB_ERROR;
	fprintf(f, "You are invited to be a global admin of the tenant \"%.128s\" in lockbox, the\r\n"
		   "Customer Lockbox through which your organisation approves (or not) every support\r\n"
		   "access to its hosts.\r\n\r\n",
		tenant_name);
	fprintf(f, "Login:          %s\r\n", lb_json_str(inv, "login"));
	fprintf(f, "Name:           %s\r\n", lb_json_str(inv, "name"));
	fprintf(f, "Tenant:         %s\r\n", lb_json_str(inv, "tenant"));
	fprintf(f, "Invitation:     %s\r\n", lb_json_str(inv, "id"));
	fprintf(f, "Valid until:    %s\r\n\r\n", lb_json_str(inv, "expires_at"));
	fprintf(f, "Accept it with lockboxctl(1), pointed at the gateway (--url or LOCKBOX_URL):\r\n\r\n"
		   "    lockboxctl invitation redeem %s\r\n\r\n", code);
	fprintf(f, "It prints your API token once; keep it safe. The code works once and only until\r\n"
		   "the time above. Nobody else has it: the gateway keeps only a hash of it. If you\r\n"
		   "did not expect this mail, ignore it and tell your support provider.\r\n");
	if (c->console_url)
		fprintf(f, "\r\nConsole: %s\r\n", c->console_url);
	fprintf(f, "\r\n-- \r\nlockbox gateway (this message was sent automatically)\r\n");
	if (fclose(f) != 0 || !body) {
		free(body);
		return GW_DB_ERROR;
	}
	lb_time_format(lb_time_now_ms(), now, sizeof(now));
	snprintf(subject, sizeof(subject), "[lockbox] Invitation: global admin of %.128s",
		 tenant_name);
	rc = queue_row(gw, t, lb_json_str(inv, "id"), NULL, GW_INVITATION_EVENT, "email",
		       lb_json_str(inv, "email"), subject, body, now);
	lb_wipe(body, len);
	free(body);
	return rc;
}

/* ---- delivery ---- */

struct upload {
	const char *data;
	size_t len, off;
};

static size_t read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t want = size * n, left = u->len - u->off;
	if (want > left)
		want = left;
	memcpy(buf, u->data + u->off, want);
	u->off += want;
	return want;
}

static size_t discard_cb(char *buf, size_t size, size_t n, void *arg)
{
	(void)buf;
	(void)arg;
	return size * n;
}

static char *b64(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

/* A plausible mailbox: no blanks, brackets or controls, one '@' with text on both sides. */
int gw_notify_address_ok(const char *a)
{
	const char *at = strchr(a, '@');
	if (!at || at == a || !at[1] || strchr(at + 1, '@') || strlen(a) > 254)
		return 0;
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == '"' || *p == ',' ||
		    *p == '\\' || (unsigned char)*p == 0x7f)
			return 0;
	return 1;
}

static int send_mail(struct gw *gw, const json_t *n, char *err, size_t errlen)
{
	const struct gw_config *c = &gw->cfg;
	const char *rcpt = lb_json_str(n, "recipient");
	char date[64], rcptbuf[300], *subj64;
	char *msg = NULL;
	size_t len = 0;
	time_t t = time(NULL);
	struct tm tm;
	struct curl_slist *to = NULL;
	struct upload up;
	FILE *f;
	CURL *h;
	CURLcode rc;

	if (!gw_notify_address_ok(rcpt) || !gw_notify_address_ok(c->smtp_from)) {
		snprintf(err, errlen, "not a deliverable address: %.200s",
			 gw_notify_address_ok(rcpt) ? c->smtp_from : rcpt);
		return -2; /* permanent */
	}
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	subj64 = b64(lb_json_str(n, "subject"));
	f = open_memstream(&msg, &len);
	if (!f || !subj64) {
		if (f)
			fclose(f);
		free(msg);
		free(subj64);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fprintf(f, "Date: %s\r\nFrom: lockbox <%s>\r\nTo: <%s>\r\nMessage-ID: %s\r\n"
		   "Subject: =?UTF-8?B?%s?=\r\nMIME-Version: 1.0\r\n"
		   "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n"
		   "Auto-Submitted: auto-generated\r\nX-Lockbox-Event: %s\r\n",
		date, c->smtp_from, rcpt, lb_json_str(n, "message_id"), subj64,
		lb_json_str(n, "event"));
	if (lb_json_str(n, "request"))
		fprintf(f, "X-Lockbox-Request: %s\r\n", lb_json_str(n, "request"));
	fprintf(f, "\r\n%s", lb_json_str(n, "body"));
	fclose(f);
	free(subj64);
	up = (struct upload){msg, len, 0};
	snprintf(rcptbuf, sizeof(rcptbuf), "<%s>", rcpt);
	to = curl_slist_append(NULL, rcptbuf);
	h = curl_easy_init();
	if (!h || !to) {
		curl_slist_free_all(to);
		if (h)
			curl_easy_cleanup(h);
		free(msg);
		snprintf(err, errlen, "curl init failed");
		return -1;
	}
	snprintf(rcptbuf, sizeof(rcptbuf), "<%s>", c->smtp_from);
	curl_easy_setopt(h, CURLOPT_URL, c->smtp_url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, rcptbuf);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, to);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &up);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, NOTIFY_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	if (c->smtp_starttls)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (c->smtp_ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->smtp_ca_file);
	if (c->smtp_user) {
		curl_easy_setopt(h, CURLOPT_USERNAME, c->smtp_user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->smtp_password ? c->smtp_password : "");
	}
	rc = curl_easy_perform(h);
	curl_slist_free_all(to);
	curl_easy_cleanup(h);
	free(msg);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "smtp: %s", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

static int send_webhook(struct gw *gw, const json_t *n, char *err, size_t errlen)
{
	const struct gw_config *c = &gw->cfg;
	const char *body = lb_json_str(n, "body");
	char sig[65], hdr[128], idh[128];
	struct curl_slist *hs = NULL;
	long status = 0;
	CURL *h = curl_easy_init();
	CURLcode rc;

	if (!h) {
		snprintf(err, errlen, "curl init failed");
		return -1;
	}
	lb_hmac_sha256_hex(c->webhook_secret, strlen(c->webhook_secret), body, strlen(body), sig);
	snprintf(hdr, sizeof(hdr), "X-Lockbox-Signature: sha256=%s", sig);
	snprintf(idh, sizeof(idh), "X-Lockbox-Delivery: %s", lb_json_str(n, "id"));
	hs = curl_slist_append(hs, "Content-Type: application/json");
	hs = curl_slist_append(hs, hdr);
	hs = curl_slist_append(hs, idh);
	snprintf(idh, sizeof(idh), "X-Lockbox-Event: %s", lb_json_str(n, "event"));
	hs = curl_slist_append(hs, idh);
	curl_easy_setopt(h, CURLOPT_URL, lb_json_str(n, "recipient"));
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hs);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "webhook: %s", curl_easy_strerror(rc));
		return -1;
	}
	if (status < 200 || status > 299) {
		snprintf(err, errlen, "webhook: HTTP %ld", status);
		return -1;
	}
	return 0;
}

struct outcome {
	struct gw *gw;
	const json_t *n;
	int result; /* 0 sent, -1 retry, -2 permanent */
	const char *err;
};

static enum gw_db record_outcome_body(struct gw_txn *t, void *arg)
{
	struct outcome *o = arg;
	struct gw_store *s = o->gw->store;
	int64_t attempts = 0, now = lb_time_now_ms(), delay;
	char ts[LB_TIME_BUFLEN], next[LB_TIME_BUFLEN];
	json_t *fields;
	enum gw_db rc;

	lb_json_int(o->n, "attempts", &attempts);
	attempts++;
	lb_time_format(now, ts, sizeof(ts));
	if (o->result == 0) {
		fields = json_pack("{s:s,s:I,s:s,s:n}", "state", "sent", "attempts",
				   (json_int_t)attempts, "sent_at", ts, "last_error");
	} else {
		int give_up = o->result == -2 ||
			      attempts >= (int64_t)o->gw->cfg.notify_max_attempts;
		delay = o->gw->cfg.notify_backoff << (attempts < 20 ? attempts - 1 : 19);
		if (delay > NOTIFY_BACKOFF_MAX_S)
			delay = NOTIFY_BACKOFF_MAX_S;
		lb_time_format(now + delay * 1000, next, sizeof(next));
		fields = json_pack("{s:s,s:I,s:s,s:s}", "state", give_up ? "failed" : "pending",
				   "attempts", (json_int_t)attempts, "next_attempt_at", next,
				   "last_error", o->err);
	}
	json_object_set_new(fields, "claimed_by", json_null());
	/* an invitation code stays in the outbox no longer than its delivery needs it */
	if (is_invitation(o->n) && !lb_str_eq(lb_json_str(fields, "state"), "pending"))
		json_object_set_new(fields, "body", json_string(GW_INVITATION_GONE));
	rc = s->update(s->cls, t, &gw_k_notifications, lb_json_str(o->n, "id"), fields);
	json_decref(fields);
	return rc;
}

/* A claimed notification is due again this long after its claim: longer than one delivery
 * may take, so only a gateway that died while sending it (or just after) leaves it to
 * another. */
#define NOTIFY_LEASE_MS (2 * NOTIFY_TIMEOUT_MS + 10000L)

struct claim {
	struct gw *gw;
	json_t *n; /* the claimed row (owned), NULL when nothing is due */
};

/* Claims the next due notification: one gateway at a time looks (the "outbox" lock), and the
 * claim moves next_attempt_at past the lease, so no other gateway sends it meanwhile. */
static enum gw_db claim_body(struct gw_txn *t, void *arg)
{
	struct claim *c = arg;
	struct gw_store *s = c->gw->store;
	char now[LB_TIME_BUFLEN], until[LB_TIME_BUFLEN];
	struct gw_filter f[2] = {{"state", GW_EQ, "pending"}, {"next_attempt_at", GW_LE, now}};
	int64_t now_ms = lb_time_now_ms(), next;
	json_t *items = NULL, *fields;
	int got = 0;
	enum gw_db rc;

	json_decref(c->n);
	c->n = NULL;
	if ((rc = s->lock(s->cls, t, "outbox", &got)) != GW_DB_OK || !got)
		return rc;
	lb_time_format(now_ms, now, sizeof(now));
	lb_time_format(now_ms + NOTIFY_LEASE_MS, until, sizeof(until));
	rc = s->list(s->cls, t, &gw_k_notifications, f, 2, 0, 1, 0, NULL, NULL, &items, &next);
	if (rc != GW_DB_OK || json_array_size(items) == 0) {
		json_decref(items);
		return rc;
	}
	c->n = json_incref(json_array_get(items, 0));
	json_decref(items);
	fields = json_pack("{s:s,s:s}", "next_attempt_at", until, "claimed_by", c->gw->instance);
	rc = s->update(s->cls, t, &gw_k_notifications, lb_json_str(c->n, "id"), fields);
	json_decref(fields);
	return rc;
}

static void deliver(struct gw *gw, const json_t *n)
{
	char err[512] = "";
	struct outcome o = {gw, n, 0, err};
	if (lb_str_eq(lb_json_str(n, "channel"), "email"))
		o.result = gw->cfg.smtp_url ? send_mail(gw, n, err, sizeof(err)) : -2;
	else
		o.result = gw->cfg.webhook_secret ? send_webhook(gw, n, err, sizeof(err)) : -2;
	if (o.result == -2 && !err[0])
		snprintf(err, sizeof(err), "the channel is no longer configured");
	if (o.result != 0)
		gw_log(o.result == -2 ? LOG_ERR : LOG_WARNING,
		       "notification %s (%s to %s) failed: %s%s", lb_json_str(n, "id"),
		       lb_json_str(n, "channel"), lb_json_str(n, "recipient"), err,
		       o.result == -2 ? " (giving up)" : " (will retry)");
	gw_metrics_notify(lb_json_str(n, "channel"), o.result);
	if (gw->store->run(gw->store->cls, 1, record_outcome_body, &o) != GW_DB_OK)
		gw_log(LOG_ERR, "notification %s: cannot record the outcome; it is sent again once "
				"its claim lapses", lb_json_str(n, "id"));
}

/* Delivers what is due, claiming one notification at a time; returns how many were
 * attempted. */
unsigned gw_notify_deliver_due(struct gw *gw)
{
	unsigned done = 0;
	while (done < NOTIFY_BATCH) {
		struct claim c = {gw, NULL};
		if (gw->store->run(gw->store->cls, 1, claim_body, &c) != GW_DB_OK || !c.n) {
			json_decref(c.n);
			break;
		}
		deliver(gw, c.n);
		json_decref(c.n);
		done++;
	}
	return done;
}

static pthread_mutex_t worker_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t worker_cond = PTHREAD_COND_INITIALIZER;
static int worker_stop;
static pthread_t worker_thread;
static int worker_running;

static void *worker(void *arg)
{
	struct gw *gw = arg;
	pthread_mutex_lock(&worker_lock);
	while (!worker_stop) {
		struct timespec ts;
		unsigned done;
		pthread_mutex_unlock(&worker_lock);
		done = gw_notify_deliver_due(gw);
		pthread_mutex_lock(&worker_lock);
		if (worker_stop || done >= NOTIFY_BATCH)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += gw->cfg.notify_interval; /* one config value, in seconds */
		pthread_cond_timedwait(&worker_cond, &worker_lock, &ts);
	}
	pthread_mutex_unlock(&worker_lock);
	return NULL;
}

void gw_notify_kick(void)
{
	pthread_mutex_lock(&worker_lock);
	pthread_cond_signal(&worker_cond);
	pthread_mutex_unlock(&worker_lock);
}

/* What this gateway's previous process claimed and never finished (it was killed while
 * sending) is due again now, not when the claim's lease lapses. */
static enum gw_db release_body(struct gw_txn *t, void *arg)
{
	struct gw *gw = arg;
	struct gw_store *s = gw->store;
	struct gw_filter f[2] = {{"state", GW_EQ, "pending"}, {"claimed_by", GW_EQ, gw->instance}};
	char now[LB_TIME_BUFLEN];
	json_t *items = NULL, *n, *fields;
	int64_t next;
	size_t i;
	enum gw_db rc;

	lb_time_format(lb_time_now_ms(), now, sizeof(now));
	rc = s->list(s->cls, t, &gw_k_notifications, f, 2, 0, GW_LIST_MAX, 0, NULL, NULL, &items,
		     &next);
	fields = json_pack("{s:s,s:n}", "next_attempt_at", now, "claimed_by");
	json_array_foreach(items, i, n) {
		if (rc != GW_DB_OK)
			break;
		rc = s->update(s->cls, t, &gw_k_notifications, lb_json_str(n, "id"), fields);
	}
	json_decref(fields);
	json_decref(items);
	return rc;
}

int gw_notify_start(struct gw *gw)
{
	if (!gw->cfg.smtp_url && gw->cfg.webhook_url.n == 0) {
		gw_log(LOG_INFO, "notifications are off (no smtp_url, no webhook_url)");
		return 0;
	}
	if (gw->store->run(gw->store->cls, 1, release_body, gw) != GW_DB_OK)
		gw_log(LOG_WARNING, "notifications: cannot hand back this gateway's earlier claims; "
				    "they are sent once their claims lapse");
	if (pthread_create(&worker_thread, NULL, worker, gw) != 0)
		return -1;
	worker_running = 1;
	return 0;
}

void gw_notify_stop(void)
{
	if (!worker_running)
		return;
	pthread_mutex_lock(&worker_lock);
	worker_stop = 1;
	pthread_cond_signal(&worker_cond);
	pthread_mutex_unlock(&worker_lock);
	pthread_join(worker_thread, NULL);
	worker_running = 0;
}

enum MHD_Result gw_notifications_list(struct gw_req *r)
{
	struct gw_store *s = r->gw->store;
	struct gw_filter f = {"request", GW_EQ, gw_query(r, "request")};
	size_t limit, i;
	int64_t cursor, next;
	json_t *items, *n;
	enum gw_db rc;

	if (gw_parse_page(r, &limit, &cursor) != 0)
		return MHD_YES;
	rc = s->list(s->cls, NULL, &gw_k_notifications, &f, f.val ? 1 : 0, cursor, limit, 0, NULL, NULL,
		     &items, &next);
	if (rc != GW_DB_OK)
		return gw_reply_db(r, rc, "notification");
	/* a provider admin reading an undelivered invitation would hold the customer's code */
	json_array_foreach(items, i, n) {
		if (is_invitation(n) && !lb_str_eq(lb_json_str(n, "body"), GW_INVITATION_GONE))
			json_object_set_new(n, "body", json_string("(withheld: it holds a one-time "
								   "invitation code)"));
	}
	return gw_reply_page(r, items, next);
}
