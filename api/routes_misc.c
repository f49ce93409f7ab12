/*
 * routes_misc.c — the service routes: GET / (the web page, or for clients
 * that ask for JSON a pointer to the API description), /v1/info, /healthz,
 * /readyz, /metrics, /v1/openapi.json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "openapi.h"

/* ================================================================ GET / */

/* What the page may load: only this server (its fetches, event stream and
 * images), blob: URLs for the thumbnails of chosen files, an empty data:
 * icon (so browsers do not ask for /favicon.ico, outside any base path), and
 * its own inline script and style; no other origin, no framing. */
#define PAGE_CSP                                                                         \
    "default-src 'self'; img-src 'self' blob: data:; script-src 'unsafe-inline'; "      \
    "style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/* How specifically the media range (n bytes) matches type: 2 when it is
 * the type itself ("text/html"), 1 for the type's wildcard ("text/" and a
 * star), 0 for the range of all types (star, slash, star), -1 not at all. */
static int range_match(const char *range, size_t n, const char *type)
{
    size_t major = strcspn(type, "/");
    if (n == strlen(type) && strncasecmp(range, type, n) == 0) return 2;
    if (n == major + 2 && strncasecmp(range, type, major) == 0 && range[major] == '/' &&
        range[major + 1] == '*')
        return 1;
    if (n == 3 && strncmp(range, "*/*", 3) == 0) return 0;
    return -1;
}

/* The q parameter among a media range's parameters [p, end) ("; q=0.5");
 * 1 when there is none. */
static double range_q(const char *p, const char *end)
{
    double q = 1;
    for (; p < end; p++) {
        if (*p != ';') continue;
        const char *v = p + 1 + strspn(p + 1, " \t");
        if ((v[0] == 'q' || v[0] == 'Q') && v[1] == '=') q = strtod(v + 2, NULL);
    }
    return q;
}

/* The q-value an Accept header gives a media type: that of the most
 * specific range matching it (RFC 9110 §12.5.1); 0 when none matches, 1
 * for every type when there is no header. */
static double accept_q(const char *accept, const char *type)
{
    if (!accept || !*accept) return 1;
    double q = 0;
    int best = -1;
    for (const char *p = accept; *p;) {
        size_t len = strcspn(p, ",");                 /* one element: range;params */
        const char *range = p + strspn(p, " \t");
        size_t n = strcspn(range, ",; \t");
        int m = range_match(range, n, type);
        if (m > best) {
            best = m;
            q = range_q(range + n, p + len);
        }
        p += len + (p[len] == ',');
    }
    return q;
}

/* The JSON answer of GET /: name, version and where the API description is. */
static enum MHD_Result root_json(api_request *rq)
{
    char link[512];
    view_link(rq->api, link, sizeof link, "/v1/openapi.json");
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "name", "nstd");
    cJSON_AddStringToObject(body, "version", NST_VERSION);
    cJSON_AddStringToObject(body, "description", "neural style transfer as an HTTP service");
    cJSON_AddStringToObject(body, "openapi", link);
    return reply_json(rq, 200, body);
}

/* The page (api/web/index.html). Its links are relative ("v1/jobs"), so
 * it must be loaded from a URL ending in '/': the bare base path ("/nst")
 * redirects to "/nst/", as nginx does for a prefix location. */
static enum MHD_Result root_page(api_request *rq)
{
    if (rq->at_base) {
        char loc[512];
        view_link(rq->api, loc, sizeof loc, "/");
        reply_header(rq, "Location", loc);
        return reply_bytes(rq, 301, NULL, NULL, 0);
    }
    reply_header(rq, "Cache-Control", "no-cache");   /* a new build's page at once */
    reply_header(rq, "Content-Security-Policy", PAGE_CSP);
    reply_header(rq, "X-Content-Type-Options", "nosniff");
    return reply_static(rq, 200, "text/html; charset=utf-8", api_web_page, api_web_page_len);
}

/* GET /: the web page for browsers (and anything that does not prefer
 * JSON); the JSON pointer for clients whose Accept prefers
 * application/json to text/html. */
enum MHD_Result h_root(api_request *rq, const char *data, size_t *size)
{
    const char *accept = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Accept");
    reply_header(rq, "Vary", "Accept");
    if (accept_q(accept, "application/json") > accept_q(accept, "text/html"))
        return root_json(rq);
    return root_page(rq);
}

/* ================================================================ service */

enum MHD_Result h_info(api_request *rq, const char *data, size_t *size)
{
    const api_deps *d = &rq->api->d;
    const nstd_config *cfg = d->cfg;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "version", NST_VERSION);
    cJSON *m = cJSON_AddObjectToObject(body, "model");
    cJSON_AddStringToObject(m, "name", nst_model_name(d->model));
    cJSON_AddBoolToObject(m, "pretrained", nst_model_pretrained(d->model));

    cJSON *limits = config_limits_json(cfg);
    cJSON_AddItemToObject(body, "limits", limits ? limits : cJSON_CreateNull());
    cJSON_AddStringToObject(body, "webhooks", webhooks_enabled(d->hooks) ? "signed" : "disabled");
    cJSON_AddStringToObject(body, "access", auth_enabled(rq->api->auth) ? "bearer" : "open");

    nst_params p;
    api_params_default(rq->api, &p);
    char *defaults = nst_params_to_json(&p);
    cJSON *dj = defaults ? cJSON_Parse(defaults) : NULL;
    free(defaults);
    cJSON_AddItemToObject(body, "defaults", dj ? dj : cJSON_CreateNull());
    cJSON_AddNumberToObject(body, "workers", cfg->workers);
    return reply_json(rq, 200, body);
}

enum MHD_Result h_healthz(api_request *rq, const char *data, size_t *size)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", "ok");
    return reply_json(rq, 200, body);
}

/* Ready when a model is loaded, the store is writable and has its free
 * space, the queue has room and no shutdown is under way; otherwise 503
 * with the reasons. */
enum MHD_Result h_readyz(api_request *rq, const char *data, size_t *size)
{
    const api_deps *d = &rq->api->d;
    cJSON *reasons = cJSON_CreateArray();
    if (!reasons) return MHD_NO;   /* out of memory: as reply_json does */
    if (!d->model) cJSON_AddItemToArray(reasons, cJSON_CreateString("no model loaded"));
    if (!store_writable(d->store))
        cJSON_AddItemToArray(reasons, cJSON_CreateString(
                                          store_shared(d->store)
                                              ? "the job store (Redis) cannot be reached"
                                              : "the data directory is not writable"));
    unsigned long long have;
    if (jobs_space_low(d->jobs, &have)) {
        char why[160];
        snprintf(why, sizeof why, "the job store has %llu bytes free, under min_free_disk (%ld)",
                 have, d->cfg->min_free_disk);
        cJSON_AddItemToArray(reasons, cJSON_CreateString(why));
    }
    jobs_stats st;
    jobs_get_stats(d->jobs, &st);
    /* a worker process takes jobs; it does not queue them */
    if (st.queued >= st.queue_size && strcmp(d->cfg->role, "worker") != 0)
        cJSON_AddItemToArray(reasons, cJSON_CreateString("the job queue is full"));
    if (atomic_load(&rq->api->shutting_down) || !st.accepting)
        cJSON_AddItemToArray(reasons, cJSON_CreateString("shutting down"));
    int ready = cJSON_GetArraySize(reasons) == 0;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", ready ? "ready" : "not_ready");
    cJSON_AddItemToObject(body, "reasons", reasons);
    return reply_json(rq, ready ? 200 : 503, body);
}

enum MHD_Result h_metrics(api_request *rq, const char *data, size_t *size)
{
    metrics_set_http_clients(rq->api->d.metrics, client_distinct(rq->api->clients));
    jobs_stats st;
    jobs_get_stats(rq->api->d.jobs, &st);   /* with a shared store: the cluster's gauges */
    char *text = metrics_render(rq->api->d.metrics);
    if (!text) return reply_error(rq, 500, "internal_error", NULL, "metrics unavailable");
    return reply_bytes(rq, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
}

enum MHD_Result h_openapi(api_request *rq, const char *data, size_t *size)
{
    char *doc = api_openapi_render(rq->api->base);   /* servers: the base path */
    if (!doc) return reply_error(rq, 500, "internal_error", NULL, "out of memory");
    return reply_bytes(rq, 200, "application/json", doc, strlen(doc));
}
