/*
 * webhook_allow.c — the webhook_allow setting (see webhook_allow.h).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "webhook_allow.h"

/* A host name: letters, digits, '-', '.' and '_'. */
static int host_name(const char *s, size_t n)
{
    if (n == 0 || n > WEBHOOK_ALLOW_HOST_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return 0;
    }
    return 1;
}

int webhook_allow_parse(const char *text, webhook_allow *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, ",");
        const char *next = p[len] ? p + len + 1 : p + len;
        while (len && (*p == ' ' || *p == '\t')) p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        char item[WEBHOOK_ALLOW_HOST_MAX + 2];
        if (len == 0) {
            p = next;
            continue;
        }
        if (len >= sizeof item) {
            snprintf(err, errlen, "'%.40s…' is too long for a host name", p);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = 0;
        netaddr_range r;
        char why[160];
        if (netaddr_ranges_parse(item, &r, 1, why, sizeof why) == 1) {
            if (out->n_ranges >= NETADDR_MAX_RANGES) {
                snprintf(err, errlen, "more than %d addresses or ranges", NETADDR_MAX_RANGES);
                return -1;
            }
            out->ranges[out->n_ranges++] = r;
        } else if (!strchr(item, '/') && !strchr(item, ':') && host_name(item, len)) {
            if (out->n_hosts >= WEBHOOK_ALLOW_MAX_HOSTS) {
                snprintf(err, errlen, "more than %d host names", WEBHOOK_ALLOW_MAX_HOSTS);
                return -1;
            }
            memcpy(out->hosts[out->n_hosts++], item, len + 1);
        } else {
            snprintf(err, errlen, "'%.64s' is not an IP address, a CIDR range or a host name",
                     item);
            return -1;
        }
        p = next;
    }
    return 0;
}

int webhook_allow_permits(const webhook_allow *w, const char *host, const struct sockaddr *sa)
{
    netaddr a;
    if (netaddr_from_sockaddr(sa, &a) < 0) return 0;
    if (netaddr_public(&a) || netaddr_in_ranges(w->ranges, w->n_ranges, &a)) return 1;
    for (int i = 0; host && i < w->n_hosts; i++)
        if (strcasecmp(host, w->hosts[i]) == 0) return 1;
    return 0;
}
