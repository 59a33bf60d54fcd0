/* lockbox-gatewayd: GET /healthz, whether the gateway can serve: the store answers, and
 * whether the audit chain is whole. */
#include "gw.h"

enum MHD_Result gw_healthz(struct gw_req *r)
{
	int64_t n;
	char broken[256];
	const char *why;
	enum gw_db rc = r->gw->store->count(r->gw->store->cls, NULL, &gw_k_tenants, &n);
	if (rc != GW_DB_OK)
		return gw_reply_error(r, "store_error", "the database does not answer");
	why = gw_checkpoint_broken(r->gw, broken, sizeof(broken));
	/* a broken audit chain is an alarm, not an outage: the answer stays 200 */
	return gw_reply_json(r, 200, json_pack("{s:s,s:s,s:s,s:s?}", "status", "ok", "version",
					       PACKAGE_VERSION, "audit_chain",
					       why ? "broken" : "ok", "audit_chain_reason", why));
}
