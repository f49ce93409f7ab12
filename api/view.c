/*
 * view.c — how jobs look on the wire: the job object of DESIGN §4, written
 * once and used by POST /v1/jobs, GET /v1/jobs/{id}, the list and the event
 * stream. Times are RFC 3339 in UTC, null when unset; fields that do not
 * apply (position when not queued, error when not failed, losses before the
 * first iteration, eta when unknown) are null rather than absent, so every
 * job object has the same keys.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static cJSON *time_value(double t)
{
    if (t <= 0) return cJSON_CreateNull();
    time_t secs = (time_t)t;
    int ms = (int)((t - (double)secs) * 1000.0);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return cJSON_CreateString(buf);
}

static cJSON *number_or_null(int known, double v)
{
    return known && isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

void view_link(const api *a, char *buf, size_t n, const char *fmt, ...)
{
    size_t k = (size_t)snprintf(buf, n, "%s", a->base);
    if (k >= n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, n - k, fmt, ap);
    va_end(ap);
}

cJSON *view_job(const api *a, const job_info *in)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", in->id);
    cJSON_AddStringToObject(o, "state", job_state_name(in->state));
    cJSON_AddItemToObject(o, "position", number_or_null(in->state == JOB_QUEUED, in->position));

    cJSON *p = cJSON_AddObjectToObject(o, "progress");
    cJSON_AddNumberToObject(p, "iteration", in->iteration);
    cJSON_AddNumberToObject(p, "iterations", in->iterations);
    double pct = in->iterations > 0 ? 100.0 * in->iteration / in->iterations : 0;
    cJSON_AddNumberToObject(p, "percent", round(pct * 10) / 10);
    cJSON *l = cJSON_AddObjectToObject(p, "loss");
    cJSON_AddItemToObject(l, "total", number_or_null(in->has_loss, in->loss_total));
    cJSON_AddItemToObject(l, "content", number_or_null(in->has_loss, in->loss_content));
    cJSON_AddItemToObject(l, "style", number_or_null(in->has_loss, in->loss_style));
    cJSON_AddItemToObject(l, "tv", number_or_null(in->has_loss, in->loss_tv));
    cJSON_AddNumberToObject(p, "elapsed_s", round(in->elapsed_s * 1000) / 1000);
    cJSON_AddItemToObject(p, "eta_s", number_or_null(in->eta_s >= 0, round(in->eta_s * 10) / 10));

    cJSON *params = in->params_json ? cJSON_Parse(in->params_json) : NULL;
    cJSON_AddItemToObject(o, "params", params ? params : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "model", in->model);
    cJSON_AddItemToObject(o, "created_at", time_value(in->created_at));
    cJSON_AddItemToObject(o, "started_at", time_value(in->started_at));
    cJSON_AddItemToObject(o, "finished_at", time_value(in->finished_at));
    if (in->state == JOB_FAILED) {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "code", in->error_code[0] ? in->error_code : "internal_error");
        cJSON_AddStringToObject(e, "message", in->error_message);
    } else {
        cJSON_AddNullToObject(o, "error");
    }

    char buf[512];
    cJSON *links = cJSON_AddObjectToObject(o, "links");
    view_link(a, buf, sizeof buf, "/v1/jobs/%s", in->id);
    cJSON_AddStringToObject(links, "self", buf);
    view_link(a, buf, sizeof buf, "/v1/jobs/%s/result", in->id);
    cJSON_AddStringToObject(links, "result", buf);
    view_link(a, buf, sizeof buf, "/v1/jobs/%s/preview", in->id);
    cJSON_AddStringToObject(links, "preview", buf);
    view_link(a, buf, sizeof buf, "/v1/jobs/%s/events", in->id);
    cJSON_AddStringToObject(links, "events", buf);
    return o;
}

const char *view_query(api_request *rq, const char *key)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}
