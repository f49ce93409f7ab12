/*
 * internal.h — what the files of api/ share: the api object, one request in
 * flight, the handler type, the reply helpers (the one error writer among
 * them), the job view and the event streams' lifecycle. The handlers are
 * declared where the route table names them (routes.c).
 * Not for use outside api/.
 */
#ifndef NSTD_API_INTERNAL_H
#define NSTD_API_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "auth.h"
#include "netaddr.h"
#include "ratelimit.h"

/* ================================================================ objects */

typedef struct sse_stream sse_stream;
typedef struct api_waiter api_waiter;
typedef struct client_table client_table;

struct api {
    api_deps d;
    char base[256];             /* base path without trailing slash ("" or "/nst") */
    /* Set once by api_begin_shutdown, read by every HTTP thread: refuse
     * new jobs and streams, end open streams. Sequentially consistent (the
     * default order of plain reads and writes of an atomic). */
    atomic_bool shutting_down;

    /* The event streams (events.c). The HTTP threads and the pump thread
     * share the list, its count and each stream's parked flag, all under
     * sse_mu; everything else of a stream belongs to its connection. */
    pthread_mutex_t sse_mu;
    sse_stream *streams;
    int n_streams;
    pthread_t pump;
    atomic_bool pump_stop;      /* api_free → pump thread; seq_cst (default) */
    /* Submits held for their job (wait.c), under sse_mu like the streams,
     * and woken by the same pump. */
    api_waiter *waiters;
    int n_waiters;

    /* Clients (client.c): the trusted proxies, parsed from the setting,
     * and the counts of requests in flight per client and of sockets per
     * peer (the latter kept by httpd.c when there are trusted proxies). */
    netaddr_range trusted[NETADDR_MAX_RANGES];
    int n_trusted;
    client_table *clients;

    /* Bearer tokens (auth.c): who may call the job routes. */
    api_auth *auth;
    /* Requests per second per client (ratelimit.c); NULL when rate_limit
     * is 0. */
    ratelimit *rate;
};

typedef struct api_request api_request;

/* A handler is called once with upload == NULL when the headers are in; a
 * handler that takes a body (route column `body`) is then called for every chunk and
 * a last time with *upload_size == 0. It answers with one of the reply_*
 * functions, or returns MHD_YES to wait for more body. */
typedef enum MHD_Result api_handler_fn(api_request *rq, const char *upload,
                                       size_t *upload_size);
typedef api_handler_fn *api_handler;

/* A row of the route table (routes.h). */
typedef struct api_route api_route;

#define API_MAX_HEADERS 8

struct api_request {
    api *api;
    struct MHD_Connection *conn;
    const char *method;         /* MHD's, valid for the request */
    char path[1024];            /* the URL path after the base path */
    int at_base;                /* the URL was the base path itself, without the
                                   trailing '/' ("/nst"; never when no base path) */
    const api_route *route;     /* NULL until matched */
    const char *route_name;     /* template for metrics and logs */
    char id[JOB_ID_LEN + 2];    /* the {id} segment, "" when none (one longer
                                   than an id, so an overlong one shows) */
    char request_id[65];
    netaddr client;             /* the real client (client.c) */
    char client_text[NETADDR_TEXT];
    char peer_text[NETADDR_TEXT];   /* the socket's peer (a proxy, or the client) */
    int via_proxy;              /* the peer is a trusted proxy */
    int client_counted;         /* holds one of the client's requests in flight */
    int over_limit;             /* the client was at its limit: 429 */
    int rate_wait;              /* over its request rate: 429, Retry-After this (s) */
    long rate_run;              /* refused: its place in the client's refusals in a row
                                   (only the first is logged); else the refusals just
                                   before it (logged as rate_limited) */
    int bad_path;               /* the raw request target has control bytes: 400 */
    long dropped;               /* bytes of a body the route does not take, dropped */
    auth_principal who;         /* the token's owner, once a route that needs one
                                   passed (who.known 0 without tokens) */
    const char *cors_origin;    /* the Origin to echo, NULL when none/refused */
    double t0;                  /* monotonic start */
    int status;                 /* answered status, 0 until answered */
    long long bytes;            /* response body bytes */
    int answered;
    int dispatched;             /* routed (see api_access) */
    int n_headers;              /* extra response headers set by the handler */
    char *headers[API_MAX_HEADERS][2];
    void *state;                /* the handler's per-request state… */
    void (*state_free)(void *); /* …and how to free it */
};

/* ================================================================ replies (reply.c) */

/* Add a response header to the reply the handler is about to send (copied). */
void reply_header(api_request *rq, const char *name, const char *value);
/* Queue r with status, adding the request id, CORS and handler headers.
 * Takes r. bytes is the body size for the access log. */
enum MHD_Result reply_send(api_request *rq, int status, struct MHD_Response *r, long long bytes);
/* A JSON body (consumed). */
enum MHD_Result reply_json(api_request *rq, int status, cJSON *body);
/* The error model's object, {"error":{"code","message","field"}}; field
 * NULL or "" gives null. Caller owns it; NULL when out of memory. */
cJSON *reply_error_body(const char *code, const char *field, const char *message);
/* An answer with the error model's body (reply_error_body). */
enum MHD_Result reply_error(api_request *rq, int status, const char *code, const char *field,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A body of bytes; data is malloc'd and taken (freed by MHD). */
enum MHD_Result reply_bytes(api_request *rq, int status, const char *content_type, void *data,
                            size_t len);
/* A body of bytes that live as long as the program (not copied, not freed). */
enum MHD_Result reply_static(api_request *rq, int status, const char *content_type,
                             const void *data, size_t len);
/* A body of unknown length that read(cls, …) produces as it goes, chunked
 * (block: its buffer size); free_cls(cls) when done. To HEAD only the
 * headers, without starting the stream: cls is freed at once. Every
 * streamed route answers through here. */
enum MHD_Result reply_stream(api_request *rq, int status, const char *content_type,
                             size_t block, MHD_ContentReaderCallback read, void *cls,
                             MHD_ContentReaderFreeCallback free_cls);
/* Retry-After for an answer that waits for a worker: when the first
 * running job is expected to end (a default when unknown). */
void reply_retry_after_jobs(api_request *rq);
/* An error for a negative jobs_* code. */
enum MHD_Result reply_jobs_error(api_request *rq, int code);

/* ================================================================ views (view.c) */

/* The job object of DESIGN §4 — the one view POST, GET, the list and the
 * event stream share. Caller owns the result. */
cJSON *view_job(const api *a, const job_info *info);
/* The base path + a formatted path, into buf. */
void view_link(const api *a, char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A query-string argument, NULL when absent. */
const char *view_query(api_request *rq, const char *key);

/* ================================================================ params (routes_jobs.c) */

/* The parameters a job gets when it names none: the model's defaults,
 * within this server's limits (image_size, iterations). GET /v1/info shows
 * these; POST /v1/jobs starts from them. */
void api_params_default(const api *a, nst_params *p);

/* ================================================================ web page */

/* api/web/index.html, compiled in by the build (api/web/embed.cmake). */
extern const unsigned char api_web_page[];
extern const size_t api_web_page_len;

/* ================================================================ clients (client.c) */

enum { CLIENT_REQUESTS, CLIENT_SOCKETS };   /* what a client_table count counts */

int client_table_create(client_table **out);
void client_table_free(client_table *t);
/* Count one more of kind for a unless limit (> 0) is reached: 1 counted,
 * 0 refused (at the limit), -1 out of memory (neither). */
int client_acquire(client_table *t, int kind, const netaddr *a, int limit);
void client_release(client_table *t, int kind, const netaddr *a);
int client_count(client_table *t, int kind, const netaddr *a);
/* Clients with requests in flight. */
int client_distinct(client_table *t);
/* rq->client, client_text, peer_text and via_proxy from the connection and
 * its headers. */
void client_resolve(api_request *rq);

/* ================================================================ time (reply.c) */

/* Monotonic seconds, for durations. */
double api_clock(void);

/* ================================================================ event streams (events.c) */

/* The streams' lock and pump thread, for api_create; 0 or -1. */
int events_start(api *a);
/* End every stream (api_begin_shutdown, after shutting_down is set). */
void events_stop(api *a);
/* Stop the pump thread and free what events_start made (api_free). */
void events_free(api *a);

/* ================================================================ held submits (wait.c) */

/* One request held for its job (Prefer: wait); the handler's to keep. */
struct api_waiter {
    struct MHD_Connection *conn;
    char id[JOB_ID_LEN + 1];
    double deadline;            /* monotonic */
    int parked;                 /* suspended (sse_mu) */
    int listed;                 /* in a->waiters */
    api_waiter *next;
};

/* The request's Prefer: wait=N in seconds, cut to max_wait; 0 when it has
 * none, or max_wait is 0. */
int wait_preference(api_request *rq);
/* Start holding the request for job id, at most seconds. */
void wait_begin(api *a, api_waiter *w, struct MHD_Connection *conn, const char *id,
                int seconds);
/* Park the request (1: the handler returns MHD_YES and is called again
 * when woken), or 0 when it is to be answered now: the job ended (or is
 * gone), the time is up, or the server is shutting down. */
int wait_park(api *a, api_waiter *w);
/* Stop holding (the request's end). */
void wait_end(api *a, api_waiter *w);
/* Resume every parked request (under sse_mu; the pump, and shutdown). */
void waiters_wake(api *a);

#endif
