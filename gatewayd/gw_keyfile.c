/* lockbox-gatewayd: the secret key files (checkpoint_key_file, totp_key_file): made once,
 * atomically, and refused when someone else may read them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "gw.h"

int gw_keyfile_create(const char *path, const char *key, const void *data, size_t len,
		      char *err, size_t errlen)
{
	char tmp[600];
	int fd, rc = -1;

	/* written to a private temporary file and linked into place, so that gateways starting
	 * at once never read a half-written key nor overwrite one another's */
	snprintf(tmp, sizeof(tmp), "%s.new.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0) {
		snprintf(err, errlen, "%s: cannot create %.512s: %s", key, tmp, strerror(errno));
		goto out;
	}
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: cannot write %.512s", key, tmp);
		goto out;
	}
	if (link(tmp, path) != 0) {
		if (errno == EEXIST)
			rc = 1; /* another gateway made it first: use that one */
		else
			snprintf(err, errlen, "%s: cannot create %.512s: %s", key, path,
				 strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int gw_keyfile_open(const char *path, const char *key, const char *if_read, char *err,
		    size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		if (errno == ENOENT)
			return -2;
		snprintf(err, errlen, "%s: cannot open %.512s: %s", key, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %.512s is not a regular file", key, path);
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s: %.512s is readable by others (mode %04o); chmod 600 it%s",
			 key, path, (unsigned)(st.st_mode & 07777), if_read);
		close(fd);
		return -1;
	}
	return fd;
}
