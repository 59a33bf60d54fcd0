/* lockbox-gatewayd: the `listen` URL (https://ADDR:PORT, or http:// on loopback only). */
#ifndef LOCKBOX_GW_LISTEN_H
#define LOCKBOX_GW_LISTEN_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

struct gw_listen {
	int tls;
	int ipv6;
	char host[64];
	unsigned port;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

/* 0, or -1 with WHY. Only numeric addresses (and "localhost") are accepted, so the gateway
 * never depends on DNS to decide where it listens. */
int gw_listen_parse(const char *url, struct gw_listen *l, char *why, size_t len);

#endif
