/*
 * wait.c — `Prefer: wait=N` (RFC 7240) on POST /v1/jobs: the answer is held
 * until the new job has ended or N seconds (at most max_wait) have passed.
 *
 * A held request parks its connection (MHD suspend), as an idle event
 * stream does, so it holds no HTTP thread. The event streams' pump thread
 * (events.c) resumes every parked request after any change of a job, and
 * at least once a second; MHD then calls the request's handler again,
 * which looks at the job and the clock and either answers or parks again.
 * On shutdown the held requests are resumed and answered at once.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* ================================================================ the header */

/* The value of a "wait" preference in one Prefer header, or -1 when it has
 * none (or not a number). Preferences are comma-separated, each a token
 * with an optional "=value" and ";parameters"; unknown ones are ignored. */
static long wait_in(const char *v)
{
    long found = -1;
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',') v++;
        size_t n = strcspn(v, "=,; \t");
        int is_wait = n == 4 && strncasecmp(v, "wait", 4) == 0;
        v += n;
        while (*v == ' ' || *v == '\t') v++;
        if (*v == '=') {
            v++;
            while (*v == ' ' || *v == '\t') v++;
            int quoted = *v == '"';
            if (quoted) v++;
            const char *d = v;
            long s = 0;
            while (isdigit((unsigned char)*v) && s < 1000000) s = s * 10 + (*v++ - '0');
            if (quoted && *v == '"') v++;
            int clean = v > d && (*v == 0 || *v == ',' || *v == ';' || *v == ' ' || *v == '\t');
            if (is_wait && clean && found < 0) found = s;
        }
        v += strcspn(v, ",");   /* the rest of this preference (parameters) */
    }
    return found;
}

typedef struct {
    long seconds;
} prefer_scan;

static enum MHD_Result scan_prefer(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    prefer_scan *p = cls;
    if (key && strcasecmp(key, "Prefer") == 0 && p->seconds < 0) p->seconds = wait_in(value);
    return MHD_YES;
}

int wait_preference(api_request *rq)
{
    long max = rq->api->d.cfg->max_wait;
    if (max <= 0) return 0;
    prefer_scan p = {-1};
    MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, scan_prefer, &p);
    if (p.seconds <= 0) return 0;
    return (int)(p.seconds < max ? p.seconds : max);
}

/* ================================================================ holding */

void wait_begin(api *a, api_waiter *w, struct MHD_Connection *conn, const char *id, int seconds)
{
    memset(w, 0, sizeof *w);
    w->conn = conn;
    snprintf(w->id, sizeof w->id, "%s", id);
    w->deadline = api_clock() + seconds;
    pthread_mutex_lock(&a->sse_mu);
    w->next = a->waiters;
    a->waiters = w;
    a->n_waiters++;
    w->listed = 1;
    pthread_mutex_unlock(&a->sse_mu);
}

int wait_park(api *a, api_waiter *w)
{
    job_info info;
    int final = 1;
    if (jobs_get(a->d.jobs, w->id, &info) == 0) {
        final = job_state_final(info.state);
        job_info_free(&info);
    }
    if (final || api_clock() >= w->deadline) return 0;
    pthread_mutex_lock(&a->sse_mu);
    int parked = !atomic_load(&a->shutting_down);
    if (parked) {
        w->parked = 1;
        MHD_suspend_connection(w->conn);
    }
    pthread_mutex_unlock(&a->sse_mu);
    return parked;
}

void wait_end(api *a, api_waiter *w)
{
    if (!w->listed) return;
    pthread_mutex_lock(&a->sse_mu);
    for (api_waiter **pp = &a->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            a->n_waiters--;
            break;
        }
    }
    w->listed = 0;
    pthread_mutex_unlock(&a->sse_mu);
}

void waiters_wake(api *a)
{
    for (api_waiter *w = a->waiters; w; w = w->next) {
        if (w->parked) {
            w->parked = 0;
            MHD_resume_connection(w->conn);
        }
    }
}
