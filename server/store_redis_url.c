/*
 * store_redis_url.c — the Redis store's URL, parsed (see store_redis_url.h).
 * Only parsing: no lookups, no connection. Messages never quote the
 * password (nor the user part, which sits next to it).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "store_redis_url.h"

#define DB_MAX 1000000   /* far above any server's `databases`; refused there with its own message */

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(err, errlen, "store URL: ");
    if (n >= 0 && (size_t)n < errlen) vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* A decimal number of s[0..n) within [lo, hi]; -1 when not. */
static long number(const char *s, size_t n, long lo, long hi)
{
    if (n == 0 || n > 9) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= lo && v <= hi ? v : -1;
}

static int hex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* dst = s[0..n) with %XX decoded; -1 on a bad escape, a NUL or no room. */
static int decode(char *dst, size_t size, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int a = hex(s[i + 1]), b = a < 0 ? -1 : hex(s[i + 2]);
            if (a < 0 || b < 0) return -1;
            c = a * 16 + b;
            i += 2;
        }
        if (c == 0 || o + 1 >= size) return -1;
        dst[o++] = (char)c;
    }
    dst[o] = 0;
    return 0;
}

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

static int parse_tcp(const char *s, store_redis_url *u, char *err, size_t errlen)
{
    /* user:password@ — the last '@', since host, port and db have none */
    const char *at = strrchr(s, '@');
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        if (!colon)
            return fail(err, errlen, "credentials must be user:password@ or :password@");
        if (colon + 1 == at) return fail(err, errlen, "empty password before '@'");
        if (decode(u->user, sizeof u->user, s, (size_t)(colon - s)) < 0)
            return fail(err, errlen, "bad or too long user name (a %%XX escape?)");
        if (decode(u->password, sizeof u->password, colon + 1, (size_t)(at - colon - 1)) < 0)
            return fail(err, errlen, "bad or too long password (a %%XX escape?)");
        s = at + 1;
    }

    const char *h = s, *end;
    size_t hn;
    if (*s == '[') {   /* [IPv6] */
        end = strchr(s, ']');
        if (!end) return fail(err, errlen, "'[' without ']' around an IPv6 host");
        h = s + 1;
        hn = (size_t)(end - h);
        for (size_t i = 0; i < hn; i++)
            if (!(hex(h[i]) >= 0 || h[i] == ':' || h[i] == '.'))
                return fail(err, errlen, "bad character in IPv6 host");
        s = end + 1;
    } else {
        for (end = s; host_char(*end); end++) {}
        hn = (size_t)(end - s);
        s = end;
    }
    if (hn == 0) return fail(err, errlen, "no host");
    if (hn >= sizeof u->host) return fail(err, errlen, "host name too long");
    memcpy(u->host, h, hn);
    u->host[hn] = 0;

    u->port = STORE_REDIS_PORT;
    if (*s == ':') {
        size_t n = strcspn(s + 1, "/");
        long port = number(s + 1, n, 1, 65535);
        if (port < 0) return fail(err, errlen, "bad port '%.*s' (1-65535)", (int)(n > 16 ? 16 : n), s + 1);
        u->port = (int)port;
        s += 1 + n;
    }
    if (*s == '/') {
        size_t n = strlen(s + 1);
        long db = n ? number(s + 1, n, 0, DB_MAX) : 0;
        if (db < 0) return fail(err, errlen, "bad database number '%.*s' after '/'", (int)(n > 16 ? 16 : n), s + 1);
        u->db = (int)db;
        s += 1 + n;
    }
    if (*s) return fail(err, errlen, "unexpected '%c' after the host (expected :port or /db)", *s);
    return 0;
}

static int parse_unix(const char *s, store_redis_url *u, char *err, size_t errlen)
{
    if (*s != '/') return fail(err, errlen, "unix:// needs an absolute socket path (unix:///path)");
    size_t n = strcspn(s, "?");
    if (n < 2) return fail(err, errlen, "empty socket path");
    if (n >= sizeof u->path) return fail(err, errlen, "socket path longer than %zu bytes", sizeof u->path - 1);
    memcpy(u->path, s, n);
    u->path[n] = 0;
    s += n;
    if (*s == '?') {
        s++;
        if (strncmp(s, "db=", 3) != 0) return fail(err, errlen, "the only query is ?db=N");
        long db = number(s + 3, strlen(s + 3), 0, DB_MAX);
        if (db < 0) return fail(err, errlen, "bad database number in ?db=");
        u->db = (int)db;
    }
    return 0;
}

int store_redis_url_parse(const char *url, store_redis_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!url || !url[0]) return fail(err, errlen, "empty (expected redis://host[:port][/db] or unix:///path)");
    if (strncmp(url, "redis://", 8) == 0) return parse_tcp(url + 8, out, err, errlen);
    if (strncmp(url, "unix://", 7) == 0) {
        out->is_unix = 1;
        return parse_unix(url + 7, out, err, errlen);
    }
    size_t scheme = strcspn(url, ":");
    if (url[scheme] == ':' && !strncmp(url + scheme + 1, "//", 2) && scheme <= 16)
        return fail(err, errlen, "scheme '%.*s' is not redis:// or unix://", (int)scheme, url);
    return fail(err, errlen, "expected redis://host[:port][/db] or unix:///path");
}
