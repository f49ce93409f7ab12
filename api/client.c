/*
 * client.c — who a request is from, and how much each client holds open.
 *
 * The client is the peer's address, unless the peer is one of the
 * configured trusted_proxies: then it is the rightmost address of
 * X-Forwarded-For that is not a trusted proxy (else X-Real-IP), see
 * netaddr_client. Behind a proxy every request has the proxy's address, so
 * libmicrohttpd's per-IP limit would count every user together; instead:
 *
 *   - requests in flight are counted per client (an event stream is in
 *     flight for as long as it is open) and a client at
 *     max_connections_per_ip gets 429 too_many_connections (router.c);
 *   - when trusted proxies are configured, the daemon's own per-IP socket
 *     limit is off and httpd.c applies it here instead, to every peer but
 *     the trusted proxies (a proxy multiplexes many clients over its
 *     sockets; the per-client count above bounds each of them).
 *
 * Both counts live in one hash table of (kind, address) → count under a
 * mutex; an entry is freed when its count drops to 0.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define CLIENT_BUCKETS 1024

typedef struct client_entry {
    netaddr addr;
    int kind;                   /* CLIENT_REQUESTS or CLIENT_SOCKETS */
    int count;
    struct client_entry *next;
} client_entry;

struct client_table {
    pthread_mutex_t mu;
    int n_clients;              /* entries of kind CLIENT_REQUESTS */
    client_entry *buckets[CLIENT_BUCKETS];
};

static unsigned bucket_of(const netaddr *a, int kind)
{
    unsigned h = 2166136261u ^ (unsigned)kind;   /* FNV-1a */
    for (int i = 0; i < 16; i++) h = (h ^ a->b[i]) * 16777619u;
    return h % CLIENT_BUCKETS;
}

int client_table_create(client_table **out)
{
    client_table *t = calloc(1, sizeof *t);
    if (!t || pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void client_table_free(client_table *t)
{
    if (!t) return;
    for (int i = 0; i < CLIENT_BUCKETS; i++) {
        for (client_entry *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

int client_acquire(client_table *t, int kind, const netaddr *a, int limit)
{
    unsigned b = bucket_of(a, kind);
    int rc = 1;
    pthread_mutex_lock(&t->mu);
    client_entry *e = t->buckets[b];
    while (e && (e->kind != kind || memcmp(&e->addr, a, sizeof *a) != 0)) e = e->next;
    if (e && limit > 0 && e->count >= limit) {
        rc = 0;
    } else if (e) {
        e->count++;
    } else if ((e = calloc(1, sizeof *e)) != NULL) {
        e->addr = *a;
        e->kind = kind;
        e->count = 1;
        e->next = t->buckets[b];
        t->buckets[b] = e;
        if (kind == CLIENT_REQUESTS) t->n_clients++;
    } else {
        rc = -1;   /* out of memory: not counted, not refused */
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void client_release(client_table *t, int kind, const netaddr *a)
{
    unsigned b = bucket_of(a, kind);
    pthread_mutex_lock(&t->mu);
    for (client_entry **pp = &t->buckets[b]; *pp; pp = &(*pp)->next) {
        client_entry *e = *pp;
        if (e->kind != kind || memcmp(&e->addr, a, sizeof *a) != 0) continue;
        if (--e->count <= 0) {
            *pp = e->next;
            if (kind == CLIENT_REQUESTS) t->n_clients--;
            free(e);
        }
        break;
    }
    pthread_mutex_unlock(&t->mu);
}

int client_count(client_table *t, int kind, const netaddr *a)
{
    unsigned b = bucket_of(a, kind);
    int n = 0;
    pthread_mutex_lock(&t->mu);
    for (client_entry *e = t->buckets[b]; e; e = e->next)
        if (e->kind == kind && memcmp(&e->addr, a, sizeof *a) == 0) n = e->count;
    pthread_mutex_unlock(&t->mu);
    return n;
}

int client_distinct(client_table *t)
{
    pthread_mutex_lock(&t->mu);
    int n = t->n_clients;
    pthread_mutex_unlock(&t->mu);
    return n;
}

/* ================================================================ one request */

typedef struct {
    char buf[2048];
    size_t len;
} joined;

/* Every X-Forwarded-For header, joined with commas (a proxy may add its own
 * line instead of extending the client's). */
static enum MHD_Result join_xff(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    joined *j = cls;
    (void)kind;
    if (!value || strcasecmp(key, "X-Forwarded-For") != 0) return MHD_YES;
    size_t n = strlen(value);
    if (j->len + n + 2 > sizeof j->buf) {   /* too long: keep the rightmost hops */
        j->len = 0;
        if (n + 1 > sizeof j->buf) value += n - (sizeof j->buf - 2), n = sizeof j->buf - 2;
    }
    if (j->len) j->buf[j->len++] = ',';
    memcpy(j->buf + j->len, value, n);
    j->len += n;
    j->buf[j->len] = 0;
    return MHD_YES;
}

void client_resolve(api_request *rq)
{
    const api *a = rq->api;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    netaddr peer;
    if (!ci || netaddr_from_sockaddr(ci->client_addr, &peer) < 0) {
        memset(&peer, 0, sizeof peer);   /* not an IP socket: :: */
    }
    rq->client = peer;
    netaddr_format(&peer, rq->peer_text, sizeof rq->peer_text);
    rq->via_proxy = 0;
    if (a->n_trusted && netaddr_in_ranges(a->trusted, a->n_trusted, &peer)) {
        joined j = {.len = 0};
        j.buf[0] = 0;
        MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, join_xff, &j);
        const char *xri = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Real-IP");
        rq->via_proxy = netaddr_client(a->trusted, a->n_trusted, &peer, j.len ? j.buf : NULL,
                                       xri, &rq->client);
    }
    netaddr_format(&rq->client, rq->client_text, sizeof rq->client_text);
}
