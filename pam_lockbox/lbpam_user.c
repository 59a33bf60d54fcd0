/* pam_lockbox: is a user gated (a member of gated_group)? NSS lookups with bounded buffers. */

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbpam.h"

#define LBPAM_NSS_BUF_MAX (1024 * 1024)
#define LBPAM_MAX_GROUPS 65536

/* getpwnam_r/getgrnam_r may report "not found" as one of these instead of 0 + NULL */
static int not_found(int rc)
{
	return rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM;
}

/* The error number of a get*nam_r call: some NSS layers (nss_wrapper, for one) answer a too
 * small buffer with -1 and errno ERANGE instead of returning ERANGE. A -1 without errno is an
 * error all the same, never "not found". */
static int nss_rc(int rc)
{
	if (rc >= 0)
		return rc;
	return errno ? errno : EIO;
}

/* The buffer of an NSS lookup made LEN bytes: an ERANGE answer is retried with a doubled one,
 * up to LBPAM_NSS_BUF_MAX. -1 (ERR set) when memory ran out; *BUF is freed by the caller. */
static int grow(char **buf, size_t len, char *err, size_t errlen)
{
	char *nb = realloc(*buf, len);
	if (!nb) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*buf = nb;
	return 0;
}

int lbpam_user_in_group(const char *user, const char *group, char *err, size_t errlen)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char *buf = NULL, *gbuf = NULL;
	size_t blen = 4096, glen = 4096;
	gid_t *groups = NULL;
	int ngroups = 64, rc, res = -1;

	for (rc = ERANGE; rc == ERANGE && glen <= LBPAM_NSS_BUF_MAX; glen *= 2) {
		if (grow(&gbuf, glen, err, errlen) != 0)
			goto out;
		errno = 0;
		rc = nss_rc(getgrnam_r(group, &gr, gbuf, glen, &grp));
	}
	if (not_found(rc))
		grp = NULL;
	else if (rc != 0) {
		snprintf(err, errlen, "looking up group %s: %s", group, strerror(rc));
		goto out;
	}
	if (!grp) {
		/* a typo in gated_group must not open the door: it is a config error (deny and
		 * log), never "nobody is gated" (DESIGN.md "Files and config") */
		snprintf(err, errlen, "gated_group %s does not exist: a config error, so gated "
			 "logins are denied", group);
		res = -2;
		goto out;
	}
	/* a listed member is a member: the group alone answers (one NSS lookup per login for
	 * the usual engineer, a supplementary member), even for a name the user database
	 * does not know (gated, so the agent is asked, and it denies) */
	for (char **m = gr.gr_mem; m && *m; m++) {
		if (strcmp(*m, user) == 0) {
			res = 1;
			goto out;
		}
	}
	for (rc = ERANGE; rc == ERANGE && blen <= LBPAM_NSS_BUF_MAX; blen *= 2) {
		if (grow(&buf, blen, err, errlen) != 0)
			goto out;
		errno = 0;
		rc = nss_rc(getpwnam_r(user, &pw, buf, blen, &pwp));
	}
	if (not_found(rc))
		pwp = NULL;
	else if (rc != 0) {
		snprintf(err, errlen, "looking up user: %s", strerror(rc));
		goto out;
	}
	if (!pwp) {
		res = 0; /* not a local/NSS user: not gated (sshd refuses them anyway) */
		goto out;
	}
	if (pw.pw_gid == gr.gr_gid) {
		res = 1;
		goto out;
	}
	/* not listed: ask for the user's groups through NSS, which also finds memberships a
	 * directory does not list in gr_mem (sssd with ignore_group_members, LDAP) */
	for (;;) {
		int n = ngroups;
		gid_t *ng = realloc(groups, (size_t)n * sizeof(*ng));
		if (!ng) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		groups = ng;
		if (getgrouplist(user, pw.pw_gid, groups, &n) >= 0) {
			res = 0;
			for (int i = 0; i < n; i++)
				if (groups[i] == gr.gr_gid)
					res = 1;
			goto out;
		}
		if (n <= ngroups || n > LBPAM_MAX_GROUPS) {
			snprintf(err, errlen, "getgrouplist failed");
			goto out;
		}
		ngroups = n;
	}
out:
	free(buf);
	free(gbuf);
	free(groups);
	return res;
}
