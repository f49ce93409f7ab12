/*
 * router.c — the life of one request: a request id, the base path taken
 * off, CORS, the route table lookup (404 for unknown paths, 405 with Allow
 * for a known path and wrong method, OPTIONS answered from the table),
 * the handler, and at the end one access-log line and the request metrics,
 * labelled with the route template rather than the raw path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "internal.h"
#include "log.h"
#include "routes.h"

/* ================================================================ routes */

/* Match path against a template; the {id} segment is copied to id (empty
 * string when the template has none; cut at idlen - 1, which a buffer one
 * longer than a job id turns into "malformed"). */
static int route_match(const char *tmpl, const char *path, char *id, size_t idlen)
{
    id[0] = 0;
    while (*tmpl && *path) {
        if (strncmp(tmpl, "{id}", 4) == 0) {
            size_t n = strcspn(path, "/");
            if (n == 0) return 0;
            snprintf(id, idlen, "%.*s", (int)n, path);
            tmpl += 4;
            path += n;
            continue;
        }
        if (*tmpl != *path) return 0;
        tmpl++;
        path++;
    }
    return *tmpl == 0 && *path == 0;
}

/* The paths a process of role worker serves (it has no API): those of an
 * orchestrator. */
static const char *const worker_paths[] = {"/healthz", "/readyz", "/metrics"};

/* 1 when this process serves route r (its role allows it). */
static int route_served(const api *a, const api_route *r)
{
    if (strcmp(a->d.cfg->role, "worker") != 0) return 1;
    for (size_t i = 0; i < sizeof worker_paths / sizeof worker_paths[0]; i++)
        if (strcmp(r->path, worker_paths[i]) == 0) return 1;
    return 0;
}

/* The methods the path answers to ("GET, HEAD, DELETE, OPTIONS"); 0 when
 * no route has this path. */
static int allowed_methods(const api *a, const char *path, char *buf, size_t n)
{
    char id[JOB_ID_LEN + 2];
    int found = 0;
    buf[0] = 0;
    for (size_t i = 0; i < api_n_routes; i++) {
        if (!route_served(a, &api_routes[i]) || !route_match(api_routes[i].path, path, id, sizeof id))
            continue;
        size_t k = strlen(buf);
        snprintf(buf + k, n - k, "%s%s", found ? ", " : "", api_routes[i].method);
        if (strcmp(api_routes[i].method, "GET") == 0) {
            k = strlen(buf);
            snprintf(buf + k, n - k, ", HEAD");
        }
        found = 1;
    }
    if (found) {
        size_t k = strlen(buf);
        snprintf(buf + k, n - k, ", OPTIONS");
    }
    return found;
}

static const api_route *route_find(const api *a, const char *method, const char *path, char *id,
                                   size_t idlen)
{
    if (strcmp(method, "HEAD") == 0) method = "GET";
    for (size_t i = 0; i < api_n_routes; i++)
        if (strcmp(api_routes[i].method, method) == 0 && route_served(a, &api_routes[i]) &&
            route_match(api_routes[i].path, path, id, idlen))
            return &api_routes[i];
    return NULL;
}

/* ================================================================ request set-up */

/* The client's X-Request-Id when it is sane, else 16 random hex digits. */
static void request_id(api_request *rq)
{
    const char *in = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Request-Id");
    if (in && *in && strlen(in) < sizeof rq->request_id &&
        strspn(in, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") ==
            strlen(in)) {
        snprintf(rq->request_id, sizeof rq->request_id, "%s", in);
        return;
    }
    unsigned char r[8] = {0};
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        unsigned long long t = (unsigned long long)(api_clock() * 1e9);
        memcpy(r, &t, sizeof r);
    }
    for (int i = 0; i < 8; i++) sprintf(rq->request_id + 2 * i, "%02x", r[i]);
}

/* Take the base path off the URL; a URL without it is taken as is (a proxy
 * may already have stripped it). Returns 1 when the URL was the base path
 * itself without its trailing '/' (GET / then redirects to it with the '/',
 * so that the page's relative links resolve under the prefix). */
static int strip_base(const api *a, const char *url, char *out, size_t n)
{
    size_t b = strlen(a->base);
    int bare = 0;
    if (b && strncmp(url, a->base, b) == 0 && (url[b] == '/' || url[b] == 0)) {
        bare = url[b] == 0;
        url += b;
    }
    snprintf(out, n, "%s", *url ? url : "/");
    return bare;
}

/* 1 when the raw request target (path and query, still percent-encoded)
 * has a control byte, as is or encoded (%00-%1F, %7F): libmicrohttpd
 * decodes the path before the router sees it, and a decoded NUL would cut
 * it short ("/v1/jobs/<id>%00/x" would act on the job). */
static int target_has_control(const char *uri)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    for (const unsigned char *p = (const unsigned char *)uri; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) return 1;
        if (*p != '%' || !p[1] || !strchr(hex, p[1]) || !p[2] || !strchr(hex, p[2])) continue;
        char h[3] = {(char)p[1], (char)p[2], 0};
        unsigned long v = strtoul(h, NULL, 16);
        if (v < 0x20 || v == 0x7f) return 1;
    }
    return 0;
}

/* What api_uri_log hands api_access for a target with control bytes (a
 * marker, not an allocation: a request libmicrohttpd answers itself never
 * reaches api_access or api_completed). */
static char bad_target_marker;

void *api_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    return uri && target_has_control(uri) ? &bad_target_marker : NULL;
}

/* 1 when origin is in the configured CORS list ("*" allows any). */
static int origin_allowed(const api *a, const char *origin)
{
    const char *list = a->d.cfg->cors_origins;
    if (!origin || !*list) return 0;
    if (strcmp(list, "*") == 0) return 1;
    size_t olen = strlen(origin);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m && p[m - 1] == ' ') m--;
        if (m && m == olen && strncmp(p, origin, m) == 0) return 1;
        p += n;
    }
    return 0;
}

/* The first element of a header that a proxy may have made a list. */
static void first_element(const char *v, char *out, size_t n)
{
    v += strspn(v, " \t");
    size_t k = strcspn(v, ", \t");
    snprintf(out, n, "%.*s", (int)(k < n ? k : n - 1), v);
}

/* An authority ("host[:port]") without the scheme's default port. */
static size_t authority_len(const char *scheme, const char *auth, size_t n)
{
    const char *def = strcasecmp(scheme, "https") == 0 ? ":443" : ":80";
    size_t d = strlen(def);
    if (n > d && strncmp(auth + n - d, def, d) == 0) return n - d;
    return n;
}

/* 1 when origin is the request's own: scheme://Host, where a trusted proxy
 * tells the scheme (X-Forwarded-Proto) and may tell the host
 * (X-Forwarded-Host); a request that reached nstd directly is plain http. */
static int same_origin(api_request *rq, const char *origin)
{
    char scheme[16] = "http", host[256] = "";
    const char *v;
    if (rq->via_proxy &&
        (v = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Forwarded-Proto")))
        first_element(v, scheme, sizeof scheme);
    if (rq->via_proxy &&
        (v = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Forwarded-Host")))
        first_element(v, host, sizeof host);
    if (!host[0] && (v = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Host")))
        first_element(v, host, sizeof host);
    size_t sl = strlen(scheme);
    if (!host[0] || strncasecmp(origin, scheme, sl) != 0 || strncmp(origin + sl, "://", 3) != 0)
        return 0;
    const char *auth = origin + sl + 3;
    size_t al = authority_len(scheme, auth, strlen(auth));
    size_t hl = authority_len(scheme, host, strlen(host));
    return al == hl && al > 0 && strncasecmp(auth, host, al) == 0;
}

/* Seconds a browser may cache a preflight answer. */
#define CORS_MAX_AGE_S "600"

/* OPTIONS: a CORS preflight when the request names an Origin, else the
 * plain list of allowed methods. */
static enum MHD_Result answer_options(api_request *rq, const char *allow)
{
    const char *origin = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Origin");
    if (origin) {
        if (!rq->cors_origin)
            return reply_error(rq, 403, "origin_not_allowed", NULL,
                               "origin '%.200s' is not allowed (CORS)", origin);
        const char *hdrs = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                                       "Access-Control-Request-Headers");
        reply_header(rq, "Access-Control-Allow-Methods", allow);
        reply_header(rq, "Access-Control-Allow-Headers",
                     hdrs && *hdrs ? hdrs : "Authorization, Content-Type, X-Request-Id");
        reply_header(rq, "Access-Control-Max-Age", CORS_MAX_AGE_S);
    }
    reply_header(rq, "Allow", allow);
    return reply_bytes(rq, 204, NULL, NULL, 0);
}

/* Retry-After of a 429 too_many_connections: the client's other requests
 * (event streams, uploads) have to end first. */
#define CONNECTIONS_RETRY_AFTER_S "5"

/* A route that needs a token (its row's auth), with a tokens file: 401
 * without a listed token, 429 over its rate; else rq->who. 1 when
 * answered. */
static int authenticate(api_request *rq, enum MHD_Result *ret)
{
    int retry;
    const char *h = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Authorization");
    switch (auth_check(rq->api->auth, h, &rq->who, &retry)) {
    case AUTH_OK: return 0;
    case AUTH_MISSING:
        reply_header(rq, "WWW-Authenticate", "Bearer realm=\"nstd\"");
        *ret = reply_error(rq, 401, "unauthorized", NULL,
                           "this route needs a token: Authorization: Bearer <token>");
        return 1;
    case AUTH_INVALID:
        reply_header(rq, "WWW-Authenticate", "Bearer realm=\"nstd\", error=\"invalid_token\"");
        *ret = reply_error(rq, 401, "unauthorized", NULL,
                           "the bearer token is not valid (Authorization: Bearer <token>)");
        return 1;
    case AUTH_RATE_LIMITED: {
        char s[16];
        snprintf(s, sizeof s, "%d", retry);
        reply_header(rq, "Retry-After", s);
        *ret = reply_error(rq, 429, "rate_limited", NULL,
                           "token %s made more than %d requests in a minute; retry in %d s",
                           rq->who.name, rq->who.rate_limit, retry);
        return 1;
    }
    }
    return 0;
}

/* A user's token reaches only its own jobs: another's job is not found,
 * with the same answer as a job that does not exist. 1 when answered. */
static int foreign_job(api_request *rq, enum MHD_Result *ret)
{
    if (!rq->who.known || rq->who.role == TOKEN_ADMIN || !rq->id[0]) return 0;
    job_info info;
    if (jobs_get(rq->api->d.jobs, rq->id, &info) < 0) return 0;   /* the handler says so */
    int mine = strcmp(info.owner, rq->who.name) == 0;
    job_info_free(&info);
    if (mine) return 0;
    *ret = reply_jobs_error(rq, JOBS_ENOTFOUND);
    return 1;
}

/* Everything decided from the headers, once api_access has looked up
 * rq->route (see there for which call of a request this is). */
static enum MHD_Result dispatch(api_request *rq)
{
    char allow[128];
    const char *origin = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Origin");
    if (origin_allowed(rq->api, origin)) rq->cors_origin = origin;

    if (rq->bad_path)
        return reply_error(rq, 400, "bad_path", NULL,
                           "the request path or query has a control character "
                           "(such as %%00 or %%0A)");
    if (rq->over_limit) {
        reply_header(rq, "Retry-After", CONNECTIONS_RETRY_AFTER_S);
        return reply_error(rq, 429, "too_many_connections", NULL,
                           "client %s already has %d requests open "
                           "(max_connections_per_ip, GET /v1/info)",
                           rq->client_text, rq->api->d.cfg->max_connections_per_ip);
    }
    if (rq->rate_wait) {
        char s[16];
        if (rq->route) rq->route_name = rq->route->path;
        snprintf(s, sizeof s, "%d", rq->rate_wait);
        reply_header(rq, "Retry-After", s);
        return reply_error(rq, 429, "rate_limited", NULL,
                           "client %s is over %d requests per second (rate_limit and "
                           "rate_burst, GET /v1/info); retry in %d s",
                           rq->client_text, rq->api->d.cfg->rate_limit, rq->rate_wait);
    }

    int known = allowed_methods(rq->api, rq->path, allow, sizeof allow);
    if (!rq->route) {
        if (!known)
            return reply_error(rq, 404, "not_found", NULL, "no route for %.200s", rq->path);
        for (size_t i = 0; i < api_n_routes; i++) {   /* the template, for metrics */
            char id[JOB_ID_LEN + 2];
            if (route_match(api_routes[i].path, rq->path, id, sizeof id)) {
                rq->route_name = api_routes[i].path;
                break;
            }
        }
        if (strcmp(rq->method, "OPTIONS") == 0) return answer_options(rq, allow);
        reply_header(rq, "Allow", allow);
        return reply_error(rq, 405, "method_not_allowed", NULL,
                           "%s is not allowed on %.200s (allowed: %s)", rq->method, rq->path,
                           allow);
    }
    rq->route_name = rq->route->path;
    /* Cross-site requests: a page elsewhere may make a browser send a form
     * POST (no preflight) or, once preflighted, a DELETE; its Origin says
     * where it comes from. A request without Origin (curl, scripts) and one
     * from the page this server serves (same origin) go through. */
    if (origin && strcmp(rq->route->method, "GET") != 0 && !rq->cors_origin &&
        !same_origin(rq, origin))
        return reply_error(rq, 403, "origin_not_allowed", NULL,
                           "origin '%.200s' may not %s here (not this server's origin, "
                           "not in cors_origins)", origin, rq->route->method);
    enum MHD_Result ret;
    if (rq->route->auth && authenticate(rq, &ret)) return ret;
    if (rq->id[0] && !job_id_valid(rq->id))
        return reply_error(rq, 404, "not_found", "id",
                           "malformed job id '%.40s' (expected 32 hex digits)", rq->id);
    if (rq->route->auth && foreign_job(rq, &ret)) return ret;
    return rq->route->fn(rq, NULL, NULL);
}

/* ================================================================ MHD callbacks */

enum MHD_Result api_access(void *cls, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **req_cls)
{
    api *a = cls;
    api_request *rq = *req_cls;
    int bad_path = 0;
    if (rq == (void *)&bad_target_marker) {   /* from api_uri_log */
        rq = NULL;
        bad_path = 1;
    }
    if (!rq) {
        /* A request without a body is answered from the second call on:
         * libmicrohttpd closes the connection after a response queued in
         * the first (it cannot know yet that no body follows), which broke
         * keep-alive for every request and, under load, made clients
         * reconnect faster than closed connections left the per-IP count.
         * A request to a body route is routed at once, so that its limits
         * (413, 429) are answered before "100 Continue" and the upload. */
        rq = calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        *req_cls = rq;
        rq->api = a;
        rq->conn = conn;
        rq->method = method;
        rq->t0 = api_clock();
        rq->route_name = "other";
        request_id(rq);
        rq->at_base = strip_base(a, url, rq->path, sizeof rq->path);
        rq->bad_path = bad_path;
        client_resolve(rq);
        int got = client_acquire(a->clients, CLIENT_REQUESTS, &rq->client,
                                 a->d.cfg->max_connections_per_ip);
        rq->client_counted = got == 1;
        rq->over_limit = got == 0;
        rq->route = bad_path ? NULL : route_find(a, rq->method, rq->path, rq->id, sizeof rq->id);
        /* The request rate, before any work of the route: a refused body
         * route is answered at once (before "100 Continue"), any other
         * request on the next call like every answer without a body, so
         * that the connection stays open and a refusal stays cheap. */
        if (a->rate && !bad_path && !rq->over_limit && !(rq->route && rq->route->exempt))
            rq->rate_wait = ratelimit_take(a->rate, &rq->client, rq->t0, &rq->rate_run);
        if (bad_path || rq->over_limit) {   /* answered at once: no body is read */
            rq->dispatched = 1;
            return dispatch(rq);
        }
        if (!rq->route || !rq->route->body) return MHD_YES;
        rq->dispatched = 1;
        return dispatch(rq);
    }
    if (!rq->dispatched) {       /* a route without a body, or none */
        /* A body nobody asked for is read and dropped (up to
         * max_discard_bytes) and the answer given at its end: a client
         * still sending it would see the connection closed instead of the
         * answer (as for an early refusal of a submit). */
        if (*upload_data_size) {
            rq->dropped += (long)*upload_data_size;
            *upload_data_size = 0;
            if (rq->dropped <= a->d.cfg->max_discard_bytes) return MHD_YES;
        }
        rq->dispatched = 1;
        return dispatch(rq);
    }
    if (rq->answered || !rq->route || !rq->route->body) {
        *upload_data_size = 0;   /* a body nobody asked for is dropped */
        if (!rq->answered)
            return reply_error(rq, 500, "internal_error", NULL, "no response");
        return MHD_YES;
    }
    return rq->route->fn(rq, upload_data, upload_data_size);
}

void api_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                   enum MHD_RequestTerminationCode toe)
{
    api *a = cls;
    api_request *rq = *req_cls;
    if (!rq) return;
    *req_cls = NULL;
    double secs = api_clock() - rq->t0;
    if (rq->status && a->d.metrics)
        metrics_request(a->d.metrics, rq->route_name, rq->method, rq->status, secs);
    /* A client over its rate has the first refusal of a run logged, and
     * the count of the run on its next request that goes on: a flood
     * writes about two lines per rate_limit of time, not one per request
     * (the metrics count every request). */
    int quiet = rq->rate_wait && rq->rate_run > 1;
    cJSON *f = quiet ? NULL : cJSON_CreateObject();   /* out of memory: no log line */
    if (f) {
        cJSON_AddStringToObject(f, "method", rq->method);
        cJSON_AddStringToObject(f, "path", rq->path);
        cJSON_AddStringToObject(f, "route", rq->route_name);
        cJSON_AddNumberToObject(f, "status", rq->status);
        cJSON_AddNumberToObject(f, "duration_ms", (double)(long long)(secs * 1e6) / 1e3);
        cJSON_AddStringToObject(f, "request_id", rq->request_id);
        cJSON_AddStringToObject(f, "client", rq->client_text);
        if (rq->via_proxy) cJSON_AddStringToObject(f, "proxy", rq->peer_text);
        if (rq->who.known) cJSON_AddStringToObject(f, "token", rq->who.name);   /* its name */
        cJSON_AddNumberToObject(f, "bytes", (double)rq->bytes);
        if (!rq->rate_wait && rq->rate_run > 0)
            cJSON_AddNumberToObject(f, "rate_limited", (double)rq->rate_run);
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            cJSON_AddBoolToObject(f, "aborted", 1);
        log_event("info", "request", f);
    }
    if (rq->client_counted) client_release(a->clients, CLIENT_REQUESTS, &rq->client);
    if (rq->state_free) rq->state_free(rq->state);
    for (int i = 0; i < rq->n_headers; i++) {
        free(rq->headers[i][0]);
        free(rq->headers[i][1]);
    }
    free(rq);
}

/* ================================================================ api object */

int api_create(api **out, const api_deps *deps)
{
    api *a = calloc(1, sizeof *a);
    if (!a) {
        tokens_free(deps->tokens);
        return -1;
    }
    a->d = *deps;
    snprintf(a->base, sizeof a->base, "%s", deps->cfg->base_path);
    size_t n = strlen(a->base);
    while (n && a->base[n - 1] == '/') a->base[--n] = 0;
    atomic_init(&a->shutting_down, false);
    char err[128];
    a->n_trusted = netaddr_ranges_parse(deps->cfg->trusted_proxies, a->trusted,
                                        NETADDR_MAX_RANGES, err, sizeof err);
    if (auth_create(&a->auth, deps->tokens, deps->cfg->tokens_file,
                    deps->cfg->token_queue_quota, deps->cfg->token_rate_limit) < 0) {
        free(a);
        return -1;
    }
    a->d.tokens = NULL;   /* the auth's now */
    const nstd_config *cfg = deps->cfg;
    if (a->n_trusted < 0 || client_table_create(&a->clients) < 0) {   /* config.c checked it */
        auth_free(a->auth);
        free(a);
        return -1;
    }
    if ((cfg->rate_limit > 0 && ratelimit_create(&a->rate, cfg->rate_limit, cfg->rate_burst,
                                                 cfg->rate_limit_clients) < 0) ||
        events_start(a) < 0) {
        ratelimit_free(a->rate);
        client_table_free(a->clients);
        auth_free(a->auth);
        free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void api_begin_shutdown(api *a)
{
    atomic_store(&a->shutting_down, true);
    events_stop(a);
}

void api_free(api *a)
{
    if (!a) return;
    events_free(a);
    ratelimit_free(a->rate);
    client_table_free(a->clients);
    auth_free(a->auth);
    free(a);
}

int api_reload_tokens(api *a, size_t *n, char *err, size_t errlen)
{
    return auth_reload(a->auth, n, err, errlen);
}
