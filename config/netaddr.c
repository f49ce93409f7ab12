/*
 * netaddr.c — addresses, ranges and the forwarded client (see netaddr.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netaddr.h"

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int is_v4(const netaddr *a) { return memcmp(a->b, v4_mapped, 12) == 0; }

/* text[0..len) without surrounding blanks, in buf; 0, or -1 when too long. */
static int trimmed(const char *text, size_t len, char *buf, size_t n)
{
    while (len && (*text == ' ' || *text == '\t')) text++, len--;
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t')) len--;
    if (len == 0 || len >= n) return -1;
    memcpy(buf, text, len);
    buf[len] = 0;
    return 0;
}

int netaddr_parse(const char *text, size_t len, netaddr *out)
{
    char buf[64];
    if (trimmed(text, len, buf, sizeof buf) < 0) return -1;
    char *s = buf;
    size_t n = strlen(s);
    if (s[0] == '[') {   /* [v6] */
        if (s[n - 1] != ']') return -1;
        s[n - 1] = 0;
        s++;
        if (!strchr(s, ':')) return -1;
    }
    struct in_addr a4;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memcpy(out->b, v4_mapped, 12);
        memcpy(out->b + 12, &a4, 4);
        return 0;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, s, &a6) == 1) {
        memcpy(out->b, &a6, 16);
        return 0;
    }
    return -1;
}

int netaddr_from_sockaddr(const struct sockaddr *sa, netaddr *out)
{
    if (!sa) return -1;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        memcpy(out->b, v4_mapped, 12);
        memcpy(out->b + 12, &s4->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        memcpy(out->b, &s6->sin6_addr, 16);
        return 0;
    }
    return -1;
}

void netaddr_format(const netaddr *a, char *buf, size_t n)
{
    char text[INET6_ADDRSTRLEN] = "?";
    if (is_v4(a))
        inet_ntop(AF_INET, a->b + 12, text, sizeof text);
    else
        inet_ntop(AF_INET6, a->b, text, sizeof text);
    snprintf(buf, n, "%s", text);
}

static void mask(netaddr *a, int prefix)
{
    for (int i = 0; i < 16; i++) {
        int bits = prefix - 8 * i;
        unsigned char m = bits >= 8 ? 0xff : bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
        a->b[i] &= m;
    }
}

int netaddr_ranges_parse(const char *text, netaddr_range *out, int max, char *err, size_t errlen)
{
    int n = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, ",");
        const char *end = p + len;
        const char *slash = memchr(p, '/', len);
        size_t alen = slash ? (size_t)(slash - p) : len;
        netaddr_range r;
        char item[80];
        snprintf(item, sizeof item, "%.*s", (int)(len < 64 ? len : 64), p);
        if (netaddr_parse(p, alen, &r.addr) < 0) {
            /* an empty item (",," or a trailing comma) is only blanks */
            size_t blanks = strspn(p, " \t");
            if (blanks >= len && !slash) {
                p = *end ? end + 1 : end;
                continue;
            }
            snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address or range", item);
            return -1;
        }
        int v4 = is_v4(&r.addr);
        r.prefix = 128;
        if (slash) {
            char num[8];
            char *stop;
            if (trimmed(slash + 1, (size_t)(end - slash - 1), num, sizeof num) < 0 ||
                num[0] < '0' || num[0] > '9') {
                snprintf(err, errlen, "'%s': the prefix length after '/' is missing", item);
                return -1;
            }
            long bits = strtol(num, &stop, 10);
            if (*stop || bits < 0 || bits > (v4 ? 32 : 128)) {
                snprintf(err, errlen, "'%s': the prefix length must be 0 to %d", item, v4 ? 32 : 128);
                return -1;
            }
            r.prefix = (int)bits + (v4 ? 96 : 0);
        }
        mask(&r.addr, r.prefix);
        if (n >= max) {
            snprintf(err, errlen, "more than %d addresses or ranges", max);
            return -1;
        }
        out[n++] = r;
        p = *end ? end + 1 : end;
    }
    return n;
}

int netaddr_in_ranges(const netaddr_range *r, int n, const netaddr *a)
{
    for (int i = 0; i < n; i++) {
        netaddr m = *a;
        mask(&m, r[i].prefix);
        if (memcmp(m.b, r[i].addr.b, 16) == 0) return 1;
    }
    return 0;
}

int netaddr_client(const netaddr_range *r, int n, const netaddr *peer, const char *xff,
                   const char *xri, netaddr *client)
{
    *client = *peer;
    if (!netaddr_in_ranges(r, n, peer)) return 0;
    if (xff && xff[strspn(xff, " \t,")]) {
        /* from the right: each hop trusted so far vouches for the one before */
        size_t end = strlen(xff);
        while (end > 0) {
            size_t start = end;
            while (start > 0 && xff[start - 1] != ',') start--;
            netaddr hop;
            if (netaddr_parse(xff + start, end - start, &hop) == 0) {
                *client = hop;
                if (!netaddr_in_ranges(r, n, &hop)) return 1;
            } else if (strspn(xff + start, " \t") < end - start) {
                return 1;   /* not an address: the last trusted hop is all we know */
            }
            end = start ? start - 1 : 0;
        }
        return 1;
    }
    netaddr real;
    if (xri && netaddr_parse(xri, strlen(xri), &real) == 0) *client = real;
    return 1;
}

/* Everything netaddr_public refuses. */
static const char *const not_public =
    "0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, "
    "192.0.0.0/24, 192.0.2.0/24, 192.168.0.0/16, 198.18.0.0/15, 198.51.100.0/24, "
    "203.0.113.0/24, 224.0.0.0/4, 240.0.0.0/4, ::/96, 64:ff9b::/96, 100::/64, 2001:db8::/32, "
    "fc00::/7, fe80::/10, ff00::/8";

int netaddr_public(const netaddr *a)
{
    netaddr_range r[32];
    char err[128];
    int n = netaddr_ranges_parse(not_public, r, 32, err, sizeof err);
    return n > 0 && !netaddr_in_ranges(r, n, a);
}
