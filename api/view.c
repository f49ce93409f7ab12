/*
 * view.c — how jobs look on the wire: the job object of DESIGN §4, written
 * once and used by POST /v1/jobs, GET /v1/jobs/{id}, the list and the event
 * stream. Its fields are the rows of the job record's table (server/job.h)
 * that have a view key, at that key, plus what is computed here (percent,
 * links). Times are RFC 3339 in UTC, null when unset; fields that do not
 * apply (position when not queued, error when not failed, losses before the
 * first iteration, eta when unknown, the owner of a job submitted without a
 * token) are null rather than absent, so every
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

void view_link(const api *a, char *buf, size_t n, const char *fmt, ...)
{
    size_t k = (size_t)snprintf(buf, n, "%s", a->base);
    if (k >= n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, n - k, fmt, ap);
    va_end(ap);
}

/* Whether the view shows field f's value (else null). */
static int view_shows(const job_info *in, const job_field *f)
{
    switch (f->view) {
    case JOB_V_ALWAYS: return 1;
    case JOB_V_QUEUED: return in->state == JOB_QUEUED;
    case JOB_V_LOSS: return in->has_loss && isfinite(*(const double *)JOB_FIELD_PTR(in, f));
    case JOB_V_KNOWN: return *(const double *)JOB_FIELD_PTR(in, f) >= 0;
    case JOB_V_FAILED: return in->state == JOB_FAILED;
    case JOB_V_SET: return ((const char *)JOB_FIELD_PTR(in, f))[0] != 0;
    case JOB_V_NONE: break;
    }
    return 0;
}

/* Field f's value as the view shows it: times in RFC 3339, numbers rounded
 * to the row's digits, the rest as the record has them. */
static cJSON *view_value(const job_info *in, const job_field *f)
{
    const double *v = JOB_FIELD_PTR(in, f);
    if (f->kind == JOB_F_TIME) return time_value(*v);
    if (f->kind == JOB_F_NUM && f->digits >= 0) {
        double scale = pow(10, f->digits);
        return cJSON_CreateNumber(round(*v * scale) / scale);
    }
    return job_field_json(in, f);
}

cJSON *view_job(const api *a, const job_info *in)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    for (size_t i = 0; i < job_n_fields; i++) {
        const job_field *f = &job_fields[i];
        if (f->view == JOB_V_NONE) continue;
        int shown = view_shows(in, f);
        const char *leaf;
        if (f->view == JOB_V_FAILED && !shown) {
            /* the field's whole object is null: "error": null */
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)strcspn(f->view_key, "/"), f->view_key);
            if (!cJSON_GetObjectItemCaseSensitive(o, key)) cJSON_AddNullToObject(o, key);
            continue;
        }
        cJSON *parent = job_json_parent(o, f->view_key, 1, &leaf);
        if (parent) cJSON_AddItemToObject(parent, leaf, shown ? view_value(in, f) : cJSON_CreateNull());
    }
    /* what the view computes from the fields */
    cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "progress");
    double pct = in->iterations > 0 ? 100.0 * in->iteration / in->iterations : 0;
    if (in->stop_reason[0]) pct = 100;   /* ended before its planned iterations, or at them */
    if (p) cJSON_AddNumberToObject(p, "percent", round(pct * 10) / 10);

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

cJSON *api_job_json(void *user, const job_info *job)
{
    return view_job(user, job);
}

const char *view_query(api_request *rq, const char *key)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}
