/*
 * routes_misc.c — the service routes: GET / (for now a pointer to the API
 * description), /v1/info, /healthz, /readyz, /metrics, /v1/openapi.json.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "openapi.h"

enum MHD_Result h_root(api_request *rq, const char *data, size_t *size)
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

enum MHD_Result h_info(api_request *rq, const char *data, size_t *size)
{
    const api_deps *d = &rq->api->d;
    const nstd_config *cfg = d->cfg;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "version", NST_VERSION);
    cJSON *m = cJSON_AddObjectToObject(body, "model");
    cJSON_AddStringToObject(m, "name", nst_model_name(d->model));
    cJSON_AddBoolToObject(m, "pretrained", nst_model_pretrained(d->model));

    cJSON *l = cJSON_AddObjectToObject(body, "limits");
    cJSON_AddNumberToObject(l, "max_upload_bytes", (double)cfg->max_upload_bytes);
    cJSON_AddNumberToObject(l, "max_image_size", cfg->max_image_size);
    cJSON_AddNumberToObject(l, "max_input_pixels", (double)cfg->max_input_pixels);
    cJSON_AddNumberToObject(l, "max_iterations", cfg->max_iterations);
    cJSON_AddNumberToObject(l, "max_styles", cfg->max_styles < NST_MAX_STYLES
                                                 ? cfg->max_styles : NST_MAX_STYLES);
    cJSON_AddNumberToObject(l, "queue_size", cfg->queue_size);
    cJSON_AddNumberToObject(l, "job_ttl_s", cfg->job_ttl);

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

/* Ready when a model is loaded, the store is writable, the queue has room
 * and no shutdown is under way; otherwise 503 with the reasons. */
enum MHD_Result h_readyz(api_request *rq, const char *data, size_t *size)
{
    const api_deps *d = &rq->api->d;
    cJSON *reasons = cJSON_CreateArray();
    if (!d->model) cJSON_AddItemToArray(reasons, cJSON_CreateString("no model loaded"));
    if (!store_writable(d->store))
        cJSON_AddItemToArray(reasons, cJSON_CreateString("the data directory is not writable"));
    jobs_stats st;
    jobs_get_stats(d->jobs, &st);
    if (st.queued >= st.queue_size)
        cJSON_AddItemToArray(reasons, cJSON_CreateString("the job queue is full"));
    if (rq->api->shutting_down || !st.accepting)
        cJSON_AddItemToArray(reasons, cJSON_CreateString("shutting down"));
    int ready = cJSON_GetArraySize(reasons) == 0;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", ready ? "ready" : "not_ready");
    cJSON_AddItemToObject(body, "reasons", reasons);
    return reply_json(rq, ready ? 200 : 503, body);
}

enum MHD_Result h_metrics(api_request *rq, const char *data, size_t *size)
{
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
