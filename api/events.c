/*
 * events.c — GET /v1/jobs/{id}/events: a job's progress as Server-Sent
 * Events, until the job ends.
 *
 *   event: progress   data: <job object>   after every change of the job
 *   event: end        data: <job object>   once the job is finished; then the
 *                                          stream closes
 *   : keep-alive                           a comment after 15 s of silence (less
 *                                          when the connection timeout is shorter)
 *
 * A stream whose job has nothing new parks its connection (MHD suspend) so
 * it holds no HTTP thread. The pump thread sleeps on the job manager's
 * change notification (at most a second) and then resumes every parked
 * stream; each one looks at its job's version and either writes an event or
 * parks again. If the job is deleted, the stream ends with an `end` event
 * whose data is an error object. The pump wakes the submits held for
 * their job too (wait.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Silence before a keep-alive comment: HEARTBEAT_S, or half the connection
 * timeout when that is shorter, but at least HEARTBEAT_MIN_S. */
#define HEARTBEAT_S 15.0
#define HEARTBEAT_MIN_S 1.0
/* The pump wakes the parked streams at least this often (heartbeats). */
#define PUMP_WAKE_MS 1000
#define SSE_BLOCK 8192   /* MHD's buffer for one read of the stream */

struct sse_stream {
    api *api;
    struct MHD_Connection *conn;
    char id[JOB_ID_LEN + 1];
    unsigned long sent_version;   /* the job version last sent; 0: none yet */
    int parked;                   /* suspended, waiting for the pump (sse_mu) */
    int ended;                    /* the final event is out */
    double last_write;            /* monotonic */
    char *pending;                /* event text not yet handed to MHD */
    size_t pending_len, pending_off;
    long long *bytes;             /* the request's byte count (access log) */
    sse_stream *next;
};

/* "event: NAME\nid: N\ndata: JSON\n\n", malloc'd; body consumed. */
static char *event_text(const char *name, unsigned long id, cJSON *body)
{
    char *json = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!json) return NULL;
    size_t n = strlen(json) + strlen(name) + 64;
    char *text = malloc(n);
    if (text) snprintf(text, n, "event: %s\nid: %lu\ndata: %s\n\n", name, id, json);
    free(json);
    return text;
}

/* Seconds of silence before a keep-alive comment: HEARTBEAT_S, or less
 * when the connection timeout would close an idle stream sooner. */
static double heartbeat_s(const api *a)
{
    double t = a->d.cfg->connection_timeout / 2.0;
    return t < HEARTBEAT_MIN_S ? HEARTBEAT_MIN_S : t < HEARTBEAT_S ? t : HEARTBEAT_S;
}

/* The next thing to send, or NULL when there is nothing new. */
static char *next_event(sse_stream *s)
{
    api *a = s->api;
    job_info info;
    if (jobs_get(a->d.jobs, s->id, &info) < 0) {
        s->ended = 1;
        return event_text("end", s->sent_version + 1,
                          reply_error_body("not_found", "id", "the job was deleted"));
    }
    char *text = NULL;
    if (info.version != s->sent_version) {
        int final = job_state_final(info.state);
        text = event_text(final ? "end" : "progress", info.version, view_job(a, &info));
        s->sent_version = info.version;
        s->ended = final;
    } else if (api_clock() - s->last_write >= heartbeat_s(a)) {
        text = strdup(": keep-alive\n\n");
    }
    job_info_free(&info);
    return text;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_stream *s = cls;
    api *a = s->api;
    if (!s->pending) {
        if (s->ended || atomic_load(&a->shutting_down))
            return MHD_CONTENT_READER_END_OF_STREAM;
        s->pending = next_event(s);
        s->pending_len = s->pending ? strlen(s->pending) : 0;
        s->pending_off = 0;
        if (!s->pending) {
            pthread_mutex_lock(&a->sse_mu);
            if (!atomic_load(&a->shutting_down)) {
                s->parked = 1;
                MHD_suspend_connection(s->conn);
            }
            pthread_mutex_unlock(&a->sse_mu);
            return 0;
        }
    }
    size_t n = s->pending_len - s->pending_off;
    if (n > max) n = max;
    memcpy(buf, s->pending + s->pending_off, n);
    s->pending_off += n;
    if (s->pending_off == s->pending_len) {
        free(s->pending);
        s->pending = NULL;
    }
    s->last_write = api_clock();
    *s->bytes += (long long)n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    sse_stream *s = cls;
    api *a = s->api;
    pthread_mutex_lock(&a->sse_mu);
    for (sse_stream **pp = &a->streams; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            a->n_streams--;
            break;
        }
    }
    pthread_mutex_unlock(&a->sse_mu);
    free(s->pending);
    free(s);
}

enum MHD_Result h_job_events(api_request *rq, const char *data, size_t *size)
{
    api *a = rq->api;
    job_info info;
    int rc = jobs_get(a->d.jobs, rq->id, &info);
    if (rc < 0) return reply_jobs_error(rq, rc);
    job_info_free(&info);
    if (atomic_load(&a->shutting_down)) return reply_jobs_error(rq, JOBS_ESHUTDOWN);

    sse_stream *s = calloc(1, sizeof *s);
    if (!s) return MHD_NO;
    s->api = a;
    s->conn = rq->conn;
    memcpy(s->id, rq->id, sizeof s->id);
    s->last_write = api_clock();
    s->bytes = &rq->bytes;
    pthread_mutex_lock(&a->sse_mu);
    s->next = a->streams;
    a->streams = s;
    a->n_streams++;
    pthread_mutex_unlock(&a->sse_mu);
    reply_header(rq, "Cache-Control", "no-cache");
    reply_header(rq, "X-Accel-Buffering", "no");   /* reverse proxies: stream */
    return reply_stream(rq, 200, "text/event-stream", SSE_BLOCK, stream_read, s, stream_free);
}

/* ================================================================ pump */

/* Resume every parked stream (under sse_mu). */
static void wake_all(api *a)
{
    for (sse_stream *s = a->streams; s; s = s->next) {
        if (s->parked) {
            s->parked = 0;
            MHD_resume_connection(s->conn);
        }
    }
}

static void *pump_main(void *arg)
{
    api *a = arg;
    unsigned long seen = 0;
    while (!atomic_load(&a->pump_stop)) {
        jobs_wait_change(a->d.jobs, &seen, PUMP_WAKE_MS);
        pthread_mutex_lock(&a->sse_mu);
        wake_all(a);
        waiters_wake(a);
        pthread_mutex_unlock(&a->sse_mu);
    }
    return NULL;
}

int events_start(api *a)
{
    atomic_init(&a->pump_stop, false);
    if (pthread_mutex_init(&a->sse_mu, NULL) != 0) return -1;
    if (pthread_create(&a->pump, NULL, pump_main, a) != 0) {
        pthread_mutex_destroy(&a->sse_mu);
        return -1;
    }
    return 0;
}

/* End every stream: parked ones are resumed and see shutting_down; so are
 * held submits (wait.c), which are answered. */
void events_stop(api *a)
{
    pthread_mutex_lock(&a->sse_mu);
    wake_all(a);
    waiters_wake(a);
    pthread_mutex_unlock(&a->sse_mu);
}

void events_free(api *a)
{
    atomic_store(&a->pump_stop, true);
    jobs_wake_watchers(a->d.jobs);
    pthread_join(a->pump, NULL);
    pthread_mutex_destroy(&a->sse_mu);
}

int api_open_streams(api *a)
{
    pthread_mutex_lock(&a->sse_mu);
    int n = a->n_streams + a->n_waiters;
    pthread_mutex_unlock(&a->sse_mu);
    return n;
}
