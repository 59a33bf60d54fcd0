/* lockbox-gatewayd: parsing the `listen` URL. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_listen.h"

int gw_listen_parse(const char *url, struct gw_listen *l, char *why, size_t len)
{
	const char *p, *colon;
	char *end;
	size_t hl;
	long port;

	memset(l, 0, sizeof(*l));
	if (strncmp(url, "https://", 8) == 0) {
		l->tls = 1;
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else {
		snprintf(why, len, "'%s' must start with https:// (or http:// on loopback)", url);
		return -1;
	}
	if (*p == '[') {
		const char *close = strchr(p, ']');
		if (!close || close[1] != ':') {
			snprintf(why, len, "'%s': write IPv6 as https://[::1]:8443", url);
			return -1;
		}
		hl = (size_t)(close - p - 1);
		if (hl >= sizeof(l->host))
			goto bad;
		memcpy(l->host, p + 1, hl);
		colon = close + 1;
		l->ipv6 = 1;
	} else {
		colon = strrchr(p, ':');
		if (!colon)
			goto bad;
		hl = (size_t)(colon - p);
		if (hl == 0 || hl >= sizeof(l->host))
			goto bad;
		memcpy(l->host, p, hl);
	}
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || (*end != '\0' && strcmp(end, "/") != 0) || port < 0 || port > 65535)
		goto bad;
	l->port = (unsigned)port;
	if (strcmp(l->host, "localhost") == 0)
		snprintf(l->host, sizeof(l->host), "127.0.0.1");
	if (l->ipv6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&l->addr;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)l->port);
		if (inet_pton(AF_INET6, l->host, &a->sin6_addr) != 1)
			goto bad;
		l->addrlen = sizeof(*a);
		if (!l->tls && !IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
			goto plain;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&l->addr;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)l->port);
		if (inet_pton(AF_INET, l->host, &a->sin_addr) != 1)
			goto bad;
		l->addrlen = sizeof(*a);
		if (!l->tls && (ntohl(a->sin_addr.s_addr) >> 24) != 127)
			goto plain;
	}
	return 0;
plain:
	snprintf(why, len, "plain http:// is only allowed on a loopback address; use https:// for %s",
		 l->host);
	return -1;
bad:
	snprintf(why, len, "'%s' is not https://ADDRESS:PORT with a numeric address", url);
	return -1;
}
