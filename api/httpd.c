/*
 * httpd.c — starting and stopping the libmicrohttpd daemon (see httpd.h).
 * Internal polling with a thread pool; suspend/resume is enabled for the
 * API's event streams. Uploads are streamed to the API in chunks, so the
 * per-connection memory limit only bounds headers and MHD's buffers.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"
#include "internal.h"

#define CONNECTION_MEMORY (256 * 1024)
#define STREAMS_POLL_MS 20   /* how often httpd_stop looks whether the streams closed */

struct httpd {
    struct MHD_Daemon *d;
    api *api;
    int quiesced;
    MHD_socket listen_fd;       /* ours to close after MHD_stop_daemon once quiesced */
};

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

/* Marks a connection whose socket is counted (its socket context). */
static char counted_marker;

static int peer_of(struct MHD_Connection *conn, netaddr *out)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci ? netaddr_from_sockaddr(ci->client_addr, out) : -1;
}

static enum MHD_Result accept_peer(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    api *a = cls;
    netaddr peer;
    (void)addrlen;
    int limit = a->d.cfg->max_connections_per_ip;
    if (limit <= 0 || netaddr_from_sockaddr(addr, &peer) < 0 ||
        netaddr_in_ranges(a->trusted, a->n_trusted, &peer))
        return MHD_YES;
    return client_count(a->clients, CLIENT_SOCKETS, &peer) < limit ? MHD_YES : MHD_NO;
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    api *a = cls;
    netaddr peer;
    if (peer_of(conn, &peer) < 0) return;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        if (!netaddr_in_ranges(a->trusted, a->n_trusted, &peer) &&
            client_acquire(a->clients, CLIENT_SOCKETS, &peer, 0) == 1)
            *socket_context = &counted_marker;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context == &counted_marker) {
        client_release(a->clients, CLIENT_SOCKETS, &peer);
        *socket_context = NULL;
    }
}

/* ================================================================ daemon */

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
    unsigned threads = cfg->http_threads > 1 ? (unsigned)cfg->http_threads : 1;
    int own_limit = a->n_trusted > 0;   /* sockets per peer counted here, see above */
    h->d = MHD_start_daemon(
        flags, (uint16_t)cfg->port, own_limit ? accept_peer : NULL, own_limit ? a : NULL,
        api_access, a,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, own_limit ? 0u : (unsigned)cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, api_completed, a,
        MHD_OPTION_NOTIFY_CONNECTION, own_limit ? notify_connection : NULL, a,
        MHD_OPTION_URI_LOG_CALLBACK, api_uri_log, a,
        MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "cannot listen on %s:%d (address in use or not available)",
                 cfg->bind, cfg->port);
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
    MHD_stop_daemon(h->d);
    if (h->listen_fd != MHD_INVALID_SOCKET) close(h->listen_fd);
    free(h);
}
