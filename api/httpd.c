/*
 * httpd.c — starting and stopping the libmicrohttpd daemon (see httpd.h).
 * Internal polling with a thread pool; suspend/resume is enabled for the
 * API's event streams. Uploads are streamed to the API in chunks, so the
 * per-connection memory limit only bounds headers and MHD's buffers.
 *
 * Connection accounting (ours, on top of MHD's idle timeout): every
 * connection is recorded from MHD's connect notification to its close, with
 * the phase it is in and since when. A reaper thread closes (shutdown(2);
 * MHD then sees the end of the stream and cleans up) a connection whose
 * request headers took longer than header_timeout, or whose body arrives
 * slower than min_upload_rate after that grace. Connections beyond
 * max_connections are still accepted, up to a reserve, and answered 503 with
 * Retry-After once their headers are in; MHD's own limit (max_connections +
 * the reserve, within the open-file limit) makes the rest wait in the listen
 * backlog. A request with conflicting Content-Length headers gets 400.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"
#include "internal.h"
#include "log.h"

#define CONNECTION_MEMORY (256 * 1024)
#define STREAMS_POLL_MS 20   /* how often httpd_stop looks whether the streams closed */

/* File descriptors kept out of the connection budget: the store, the
 * model, logs, MHD's epoll and inter-thread pipes, jobs' files. */
#define FD_RESERVE 128
#define FD_RESERVE_PER_THREAD 4
/* Connections beyond max_connections that are still accepted to be told
 * 503: at least this many, else an eighth of max_connections. */
#define OVERFLOW_MIN 16
#define REAP_PERIOD_MS 200
#define REAP_LOG_PERIOD_S 10.0    /* at most one log line per this, with counts */
#define OVER_CAPACITY_RETRY_S "5"

/* Where a connection is: waiting for a request's headers (since it was
 * accepted), receiving its body (since the headers), answering (no
 * deadline: MHD's idle timeout, or a suspended event stream), or idle
 * between keep-alive requests (since the last answer). */
enum { PH_HEADERS, PH_BODY, PH_ANSWER, PH_IDLE };

typedef struct conn_rec {
    struct conn_rec *prev, *next;
    MHD_socket fd;
    int phase;
    double since;               /* monotonic start of the phase */
    long long body;             /* body bytes of the current request */
    int refuse;                 /* over max_connections: 503 at the headers */
    int closing;                /* the reaper shut it down */
    int peer_counted;           /* its socket counts against its peer (below) */
    netaddr peer;
} conn_rec;

struct httpd {
    struct MHD_Daemon *d;
    api *api;
    int quiesced;
    MHD_socket listen_fd;       /* ours to close after MHD_stop_daemon once quiesced */

    double header_timeout, idle_timeout;
    double min_rate;            /* bytes/s, 0: none */
    int max_conns;
    int nice;                   /* http_nice: added to the HTTP threads' niceness */
    /* The connections: list, count and every record's fields, under mu
     * (MHD's threads and the reaper). */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    conn_rec *conns;
    int n_conns;
    int stopping;
    long reaped_headers, reaped_body, refused;  /* since the last log line */
    double last_log;
    pthread_t reaper;
    int reaper_started;
};

/* ================================================================ limits */

/* Raise the soft open-file limit to the hard one; the descriptors left
 * for connections. */
static long fd_budget(const nstd_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024 - FD_RESERVE;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = rl;
        up.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
    }
    long n = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1 << 24) ? (1 << 24)
                                                                     : (long)rl.rlim_cur;
    return n - FD_RESERVE - FD_RESERVE_PER_THREAD * (long)cfg->http_threads;
}

static long overflow_of(long max_conns)
{
    return max_conns / 8 > OVERFLOW_MIN ? max_conns / 8 : OVERFLOW_MIN;
}

int httpd_fit_limits(nstd_config *cfg, char *note, size_t notelen)
{
    note[0] = 0;
    long budget = fd_budget(cfg);
    long want = cfg->max_connections;
    if (want + overflow_of(want) <= budget) return 0;
    long fit = budget * 8 / 9;
    if (fit < OVERFLOW_MIN) fit = OVERFLOW_MIN;
    cfg->max_connections = (int)fit;
    snprintf(note, notelen,
             "max_connections lowered from %ld to %ld: the open-file limit leaves %ld "
             "descriptors for connections",
             want, fit, budget);
    return 1;
}

/* ================================================================ sockets per peer
 *
 * Without trusted proxies libmicrohttpd's own per-IP limit bounds the
 * sockets of each peer. With them that limit is off (it cannot spare the
 * proxies, which carry every user's requests over their sockets), and the
 * same limit is kept here for every other peer: the accept policy refuses a
 * peer at the limit, and the connection notifications count its sockets
 * (exactly: counted when a connection starts, released when it closes; the
 * accept policy only reads the count, so connections accepted at the same
 * moment by different threads may pass it together). Requests of the
 * proxies' clients are bounded per client by the router (429). */

static enum MHD_Result accept_peer(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    api *a = ((httpd *)cls)->api;
    netaddr peer;
    (void)addrlen;
    int limit = a->d.cfg->max_connections_per_ip;
    if (limit <= 0 || netaddr_from_sockaddr(addr, &peer) < 0 ||
        netaddr_in_ranges(a->trusted, a->n_trusted, &peer))
        return MHD_YES;
    return client_count(a->clients, CLIENT_SOCKETS, &peer) < limit ? MHD_YES : MHD_NO;
}

/* A new connection's socket counts against its peer, unless the peer is a
 * trusted proxy (only while trusted proxies are configured). */
static void peer_acquire(httpd *h, struct MHD_Connection *conn, conn_rec *r)
{
    api *a = h->api;
    if (a->n_trusted == 0) return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || netaddr_from_sockaddr(ci->client_addr, &r->peer) < 0) return;
    if (!netaddr_in_ranges(a->trusted, a->n_trusted, &r->peer) &&
        client_acquire(a->clients, CLIENT_SOCKETS, &r->peer, 0) == 1)
        r->peer_counted = 1;
}

/* ================================================================ priority
 *
 * The HTTP threads run http_nice steps nicer than the rest of the process
 * (the workers), so that under a flood of requests the jobs keep their
 * cores: the kernel then gives a busy HTTP thread about a tenth of the
 * share of a job's thread (at 10), while an idle server's requests still
 * get a core at once. libmicrohttpd starts its threads itself, so each
 * lowers its own priority on its first connection. */

static void thread_nice(const httpd *h)
{
    static _Thread_local int done;
    if (done || h->nice <= 0) return;
    done = 1;
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, (id_t)gettid());
    if (cur == -1 && errno) cur = 0;
    setpriority(PRIO_PROCESS, (id_t)gettid(), cur + h->nice > 19 ? 19 : cur + h->nice);
}

/* ================================================================ accounting */

static double now_s(void)
{
    return api_clock();
}

static conn_rec *rec_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    httpd *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        thread_nice(h);
        conn_rec *r = calloc(1, sizeof *r);
        if (!r) return;   /* out of memory: the connection goes unaccounted */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        r->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
        r->phase = PH_HEADERS;
        r->since = now_s();
        peer_acquire(h, conn, r);
        pthread_mutex_lock(&h->mu);
        r->refuse = h->n_conns >= h->max_conns;
        r->next = h->conns;
        if (h->conns) h->conns->prev = r;
        h->conns = r;
        h->n_conns++;
        pthread_mutex_unlock(&h->mu);
        *socket_context = r;
        return;
    }
    conn_rec *r = *socket_context;   /* closed: before MHD closes the socket */
    if (!r) return;
    *socket_context = NULL;
    pthread_mutex_lock(&h->mu);
    if (r->prev) r->prev->next = r->next;
    else h->conns = r->next;
    if (r->next) r->next->prev = r->prev;
    h->n_conns--;
    pthread_mutex_unlock(&h->mu);
    if (r->peer_counted) client_release(h->api->clients, CLIENT_SOCKETS, &r->peer);
    free(r);
}

/* 1 when a connection's deadline has passed (under mu). */
static int overdue(const httpd *h, const conn_rec *r, double now, int *body)
{
    double t = now - r->since;
    *body = 0;
    switch (r->phase) {
    case PH_HEADERS: return t > h->header_timeout;
    case PH_IDLE: return t > h->idle_timeout + h->header_timeout;
    case PH_BODY:
        *body = 1;
        return h->min_rate > 0 && t > h->header_timeout &&
               (double)r->body < h->min_rate * (t - h->header_timeout);
    default: return 0;
    }
}

static void log_reaped(httpd *h, double now)
{
    if (h->reaped_headers + h->reaped_body + h->refused == 0 ||
        now - h->last_log < REAP_LOG_PERIOD_S)
        return;
    cJSON *f = cJSON_CreateObject();
    if (f) {
        cJSON_AddNumberToObject(f, "closed_slow_headers", (double)h->reaped_headers);
        cJSON_AddNumberToObject(f, "closed_slow_body", (double)h->reaped_body);
        cJSON_AddNumberToObject(f, "refused_over_capacity", (double)h->refused);
        cJSON_AddNumberToObject(f, "connections", h->n_conns);
        log_event("warn", "slow_or_excess_connections", f);
    }
    h->reaped_headers = h->reaped_body = h->refused = 0;
    h->last_log = now;
}

static void *reaper_main(void *arg)
{
    httpd *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += REAP_PERIOD_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->wake, &h->mu, &ts);
        if (h->stopping) break;
        double now = now_s();
        for (conn_rec *r = h->conns; r; r = r->next) {
            int body;
            if (r->closing || r->fd == MHD_INVALID_SOCKET || !overdue(h, r, now, &body)) continue;
            /* The record lives until MHD's close notification, which takes
             * mu before MHD closes the socket: fd is still this connection's. */
            shutdown(r->fd, SHUT_RDWR);
            r->closing = 1;
            if (body) h->reaped_body++;
            else h->reaped_headers++;
        }
        log_reaped(h, now);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ================================================================ early answers */

/* An error answer of our own, before the API sees the request; the
 * connection is closed after it. */
static enum MHD_Result answer_early(struct MHD_Connection *conn, unsigned status,
                                    const char *code, const char *retry, const char *message)
{
    cJSON *body = reply_error_body(code, NULL, message);
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "Connection", "close");
    if (retry) MHD_add_response_header(r, "Retry-After", retry);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

typedef struct {
    const char *first;
    int conflict;
} length_scan;

static enum MHD_Result scan_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    length_scan *s = cls;
    if (!key || strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0) return MHD_YES;
    if (!s->first) s->first = value ? value : "";
    else if (strcmp(s->first, value ? value : "") != 0) s->conflict = 1;
    return MHD_YES;
}

/* MHD's access callback: the accounting around the API's (api_access). */
static enum MHD_Result httpd_access(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **req_cls)
{
    httpd *h = cls;
    conn_rec *r = rec_of(conn);
    int first = *req_cls == NULL;
    if (r) {
        pthread_mutex_lock(&h->mu);
        int refuse = first && r->refuse;
        if (first) {
            r->phase = PH_BODY;
            r->since = now_s();
            r->body = 0;
        } else if (*upload_data_size == 0) {
            r->phase = PH_ANSWER;
        } else {
            r->body += (long long)*upload_data_size;
        }
        if (refuse) h->refused++;
        pthread_mutex_unlock(&h->mu);
        if (refuse)
            return answer_early(conn, 503, "too_many_connections", OVER_CAPACITY_RETRY_S,
                                "the server has too many open connections; retry later");
    }
    if (first) {
        length_scan ls = {NULL, 0};
        MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_length, &ls);
        if (ls.conflict)
            return answer_early(conn, 400, "bad_request", NULL,
                                "conflicting Content-Length headers");
    }
    return api_access(h->api, conn, url, method, version, upload_data, upload_data_size,
                      req_cls);
}

static void httpd_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                            enum MHD_RequestTerminationCode toe)
{
    httpd *h = cls;
    api_completed(h->api, conn, req_cls, toe);
    conn_rec *r = rec_of(conn);
    if (!r) return;
    pthread_mutex_lock(&h->mu);
    r->phase = PH_IDLE;
    r->since = now_s();
    pthread_mutex_unlock(&h->mu);
}

int httpd_start(httpd **out, const nstd_config *cfg, api *a, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_AUTO;
    if (strchr(cfg->bind, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)cfg->port);
        if (inet_pton(AF_INET6, cfg->bind, &s6->sin6_addr) != 1) {
            snprintf(err, errlen, "--bind: '%s' is not an IP address", cfg->bind);
            return -1;
        }
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)cfg->port);
        if (inet_pton(AF_INET, cfg->bind, &s4->sin_addr) != 1) {
            snprintf(err, errlen, "--bind: '%s' is not an IP address", cfg->bind);
            return -1;
        }
    }
    httpd *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->api = a;
    h->header_timeout = cfg->header_timeout;
    h->idle_timeout = cfg->connection_timeout;
    h->min_rate = (double)cfg->min_upload_rate;
    h->max_conns = cfg->max_connections;
    h->nice = cfg->http_nice;
    long budget = fd_budget(cfg);
    long limit = cfg->max_connections + overflow_of(cfg->max_connections);
    if (limit > budget) limit = budget > cfg->max_connections ? budget : cfg->max_connections;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->wake, NULL);
    unsigned threads = cfg->http_threads > 1 ? (unsigned)cfg->http_threads : 1;
    int own_limit = a->n_trusted > 0;   /* sockets per peer counted here, see above */
    h->d = MHD_start_daemon(
        flags, (uint16_t)cfg->port, own_limit ? accept_peer : NULL, own_limit ? h : NULL,
        httpd_access, h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, own_limit ? 0u : (unsigned)cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, httpd_completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
        MHD_OPTION_URI_LOG_CALLBACK, api_uri_log, a,
        MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "cannot listen on %s:%d (address in use or not available)",
                 cfg->bind, cfg->port);
        pthread_cond_destroy(&h->wake);
        pthread_mutex_destroy(&h->mu);
        free(h);
        return -1;
    }
    h->reaper_started = pthread_create(&h->reaper, NULL, reaper_main, h) == 0;
    if (!h->reaper_started) {
        snprintf(err, errlen, "cannot start the connection reaper thread");
        MHD_stop_daemon(h->d);
        pthread_cond_destroy(&h->wake);
        pthread_mutex_destroy(&h->mu);
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

void httpd_quiesce(httpd *h)
{
    if (h && !h->quiesced) {
        h->listen_fd = MHD_quiesce_daemon(h->d);
        h->quiesced = 1;
    }
}

void httpd_stop(httpd *h, int wait_ms)
{
    if (!h) return;
    httpd_quiesce(h);
    api_begin_shutdown(h->api);
    struct timespec step = {0, STREAMS_POLL_MS * 1000000L};
    for (int waited = 0; api_open_streams(h->api) > 0 && waited < wait_ms; waited += STREAMS_POLL_MS)
        nanosleep(&step, NULL);
    if (h->reaper_started) {
        pthread_mutex_lock(&h->mu);
        h->stopping = 1;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->reaper, NULL);
    }
    MHD_stop_daemon(h->d);
    if (h->listen_fd != MHD_INVALID_SOCKET) close(h->listen_fd);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
