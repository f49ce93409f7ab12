/*
 * reply.c — every response leaves through here: the headers all answers
 * carry (X-Request-Id, CORS), JSON and byte bodies, and the one writer of
 * the error model {"error":{"code","message","field"}}; and the monotonic
 * clock requests and streams time themselves with.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "routes.h"

/* Retry-After of a 429: when a worker is expected to be free, within
 * [RETRY_AFTER_MIN_S, RETRY_AFTER_MAX_S]; RETRY_AFTER_DEFAULT_S when there is
 * no estimate, and for a 503 while shutting down (a restart takes about
 * that long). */
#define RETRY_AFTER_MIN_S 1
#define RETRY_AFTER_MAX_S 600
#define RETRY_AFTER_DEFAULT_S 5

double api_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void reply_header(api_request *rq, const char *name, const char *value)
{
    if (rq->n_headers >= API_MAX_HEADERS) return;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {   /* out of memory: the answer goes without it */
        free(n);
        free(v);
        return;
    }
    rq->headers[rq->n_headers][0] = n;
    rq->headers[rq->n_headers][1] = v;
    rq->n_headers++;
}

enum MHD_Result reply_send(api_request *rq, int status, struct MHD_Response *r, long long bytes)
{
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "X-Request-Id", rq->request_id);
    if (rq->cors_origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", rq->cors_origin);
        MHD_add_response_header(r, "Access-Control-Expose-Headers",
                                "Location, Retry-After, X-Request-Id, WWW-Authenticate");
    }
    if (rq->api->d.cfg->cors_origins[0]) MHD_add_response_header(r, "Vary", "Origin");
    for (int i = 0; i < rq->n_headers; i++)
        MHD_add_response_header(r, rq->headers[i][0], rq->headers[i][1]);
    rq->status = status;
    rq->bytes = bytes;
    rq->answered = 1;
    enum MHD_Result ret = MHD_queue_response(rq->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A body from a buffer MHD frees (MUST_FREE) or leaves alone (PERSISTENT). */
static enum MHD_Result reply_buffer(api_request *rq, int status, const char *content_type,
                                    void *data, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(data);
        return MHD_NO;
    }
    if (content_type) MHD_add_response_header(r, "Content-Type", content_type);
    return reply_send(rq, status, r, (long long)len);
}

enum MHD_Result reply_bytes(api_request *rq, int status, const char *content_type, void *data,
                            size_t len)
{
    return data ? reply_buffer(rq, status, content_type, data, len, MHD_RESPMEM_MUST_FREE)
                : reply_buffer(rq, status, content_type, (void *)"", 0, MHD_RESPMEM_PERSISTENT);
}

enum MHD_Result reply_static(api_request *rq, int status, const char *content_type,
                             const void *data, size_t len)
{
    return reply_buffer(rq, status, content_type, (void *)data, len, MHD_RESPMEM_PERSISTENT);
}

enum MHD_Result reply_stream(api_request *rq, int status, const char *content_type,
                             size_t block, MHD_ContentReaderCallback read, void *cls,
                             MHD_ContentReaderFreeCallback free_cls)
{
    if (strcmp(rq->method, MHD_HTTP_METHOD_HEAD) == 0) {
        /* MHD would still end a chunked body with its closing chunk, which
         * a client reading the HEAD answer takes as the next response. */
        free_cls(cls);
        return reply_static(rq, status, content_type, "", 0);
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, block, read, cls, free_cls);
    if (!r) {
        free_cls(cls);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", content_type);
    return reply_send(rq, status, r, 0);
}

enum MHD_Result reply_json(api_request *rq, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) return MHD_NO;
    reply_header(rq, "Cache-Control", "no-store");
    return reply_bytes(rq, status, "application/json", text, strlen(text));
}

cJSON *reply_error_body(const char *code, const char *field, const char *message)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(body, "error");
    if (!e || !cJSON_AddStringToObject(e, "code", code) ||
        !cJSON_AddStringToObject(e, "message", message) ||
        !(field && field[0] ? cJSON_AddStringToObject(e, "field", field)
                            : cJSON_AddNullToObject(e, "field"))) {
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

enum MHD_Result reply_error(api_request *rq, int status, const char *code, const char *field,
                            const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return reply_json(rq, status, reply_error_body(code, field, message));
}

void reply_retry_after_jobs(api_request *rq)
{
    /* When a worker is expected to be free: the shortest running ETA. */
    jobs_stats st;
    jobs_get_stats(rq->api->d.jobs, &st);
    int secs = st.next_free_s < 0 ? RETRY_AFTER_DEFAULT_S : (int)ceil(st.next_free_s);
    char retry[16];
    snprintf(retry, sizeof retry, "%d",
             secs < RETRY_AFTER_MIN_S   ? RETRY_AFTER_MIN_S
             : secs > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S
                                        : secs);
    reply_header(rq, "Retry-After", retry);
}

enum MHD_Result reply_jobs_error(api_request *rq, int code)
{
    switch (code) {
    case JOBS_ENOTFOUND:
        return reply_error(rq, 404, "not_found", "id", "no job with id '%s'", rq->id);
    case JOBS_EFULL:
        reply_retry_after_jobs(rq);
        return reply_error(rq, 429, "queue_full", NULL,
                           "the job queue is full (%d jobs); retry later",
                           rq->api->d.cfg->queue_size);
    case JOBS_ESHUTDOWN: {
        char retry[16];
        snprintf(retry, sizeof retry, "%d", RETRY_AFTER_DEFAULT_S);
        reply_header(rq, "Retry-After", retry);
        return reply_error(rq, 503, "shutting_down", NULL, "the server is shutting down");
    }
    case JOBS_ECORRUPT:
        return reply_error(rq, 500, "result_corrupt", NULL,
                           "the stored result of job '%s' is damaged; the job is marked failed",
                           rq->id);
    case JOBS_EUNAVAILABLE: {
        char retry[16];
        snprintf(retry, sizeof retry, "%d", RETRY_AFTER_MIN_S);
        reply_header(rq, "Retry-After", retry);
        return reply_error(rq, 503, "store_unavailable", NULL,
                           "the job store cannot be reached; retry later");
    }
    case JOBS_ENOSPACE: {
        char retry[16];
        snprintf(retry, sizeof retry, "%d", RETRY_AFTER_DEFAULT_S);
        reply_header(rq, "Retry-After", retry);
        return reply_error(rq, 507, "insufficient_storage", NULL,
                           "the job store is short of space (min_free_disk %ld bytes); retry later",
                           rq->api->d.cfg->min_free_disk);
    }
    case JOBS_ESTATE:
        return reply_error(rq, 409, "not_finished", NULL,
                           "job '%s' has not succeeded; its result is not available", rq->id);
    case JOBS_ENOFILE: /* only a preview is legitimately missing; a result is there once succeeded */
        if (strstr(rq->route->path, "/preview"))
            return reply_error(rq, 404, "no_preview", NULL, "job '%s' has no preview yet", rq->id);
        return reply_error(rq, 404, "not_found", NULL, "job '%s' has no such file", rq->id);
    default:
        return reply_error(rq, 500, "internal_error", NULL, "%s", jobs_strerror(code));
    }
}
