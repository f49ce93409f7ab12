/*
 * webhook_allow.h — the webhook_allow setting: which webhook targets are
 * permitted although their address is not public (loopback, private,
 * link-local …, netaddr_public). A comma-separated list of IPv4/IPv6
 * addresses, CIDR ranges and host names: "127.0.0.1, 10.0.0.0/8, fd00::/8,
 * hooks.internal". A public address is always permitted; another one only
 * when a range lists it or the URL's host is a listed name (compared
 * without case).
 */
#ifndef NSTD_WEBHOOK_ALLOW_H
#define NSTD_WEBHOOK_ALLOW_H

#include <stddef.h>

#include "netaddr.h"

struct sockaddr;

#define WEBHOOK_ALLOW_MAX_HOSTS 16
#define WEBHOOK_ALLOW_HOST_MAX 254   /* bytes of a host name */

typedef struct {
    netaddr_range ranges[NETADDR_MAX_RANGES];
    int n_ranges;
    char hosts[WEBHOOK_ALLOW_MAX_HOSTS][WEBHOOK_ALLOW_HOST_MAX + 1];
    int n_hosts;
} webhook_allow;

/* Parse the setting ("" is none). 0, or -1 with what is wrong in err. */
int webhook_allow_parse(const char *text, webhook_allow *out, char *err, size_t errlen);

/* 1 when a webhook to host (the URL's host name) may connect to sa. */
int webhook_allow_permits(const webhook_allow *w, const char *host, const struct sockaddr *sa);

#endif
