/*
 * netaddr.h — IP addresses and address ranges for the trusted_proxies
 * setting: parsing "10.0.0.0/8, 127.0.0.1, ::1, fd00::/8" (config.c
 * validates the setting with it, the HTTP layer matches peers against it),
 * and finding the real client of a request that came through trusted
 * proxies from its X-Forwarded-For / X-Real-IP headers.
 *
 * Every address is kept as 16 bytes: IPv6 as is, IPv4 as the IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d), so one list and one comparison serve both
 * and a dual-stack socket's mapped peer matches an IPv4 range.
 */
#ifndef NSTD_NETADDR_H
#define NSTD_NETADDR_H

#include <stddef.h>

struct sockaddr;

typedef struct {
    unsigned char b[16];
} netaddr;

typedef struct {
    netaddr addr;   /* masked to its prefix */
    int prefix;     /* 0..128, counted on the 16-byte form */
} netaddr_range;

/* Most ranges trusted_proxies may list. */
#define NETADDR_MAX_RANGES 64
/* Longest text netaddr_format writes, with its NUL. */
#define NETADDR_TEXT 48

/* An IPv4 or IPv6 address in text (exactly len bytes; surrounding spaces
 * and tabs are ignored, an IPv6 one may be in brackets). 0, or -1. */
int netaddr_parse(const char *text, size_t len, netaddr *out);
/* A socket address (AF_INET or AF_INET6). 0, or -1 for another family. */
int netaddr_from_sockaddr(const struct sockaddr *sa, netaddr *out);
/* Dotted quad for IPv4 (mapped) addresses, else the IPv6 text. */
void netaddr_format(const netaddr *a, char *buf, size_t n);

/* A comma-separated list of addresses and CIDR ranges ("" is none).
 * Returns how many (at most max), or -1 with what is wrong in err. */
int netaddr_ranges_parse(const char *text, netaddr_range *out, int max, char *err, size_t errlen);
/* 1 when a is in one of the n ranges. */
int netaddr_in_ranges(const netaddr_range *r, int n, const netaddr *a);

/* 1 when a is a public unicast address; 0 for loopback, private (RFC 1918,
 * fc00::/7), shared (100.64/10), link-local, unspecified, multicast,
 * reserved and documentation ranges, and NAT64 (64:ff9b::/96, which may
 * reach private IPv4). */
int netaddr_public(const netaddr *a);

/* The client of a request from peer: peer itself unless it is in the
 * trusted ranges; then the rightmost address of X-Forwarded-For (xff, may
 * be NULL) that is not trusted, walking from the right over trusted hops
 * (the leftmost hop when all are trusted, the last trusted one when a hop
 * is not an address); without X-Forwarded-For, X-Real-IP (xri, may be NULL)
 * when it is an address. Returns 1 when peer was trusted, else 0. */
int netaddr_client(const netaddr_range *r, int n, const netaddr *peer, const char *xff,
                   const char *xri, netaddr *client);

#endif
