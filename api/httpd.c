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

#define CONNECTION_MEMORY (256 * 1024)
#define STREAMS_POLL_MS 20   /* how often httpd_stop looks whether the streams closed */

struct httpd {
    struct MHD_Daemon *d;
    api *api;
    int quiesced;
    MHD_socket listen_fd;       /* ours to close after MHD_stop_daemon once quiesced */
};

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
    h->d = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, api_access, a,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, api_completed, a,
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
