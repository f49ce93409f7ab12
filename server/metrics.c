/*
 * metrics.c — counters, gauges and histograms for an operator, rendered in
 * the Prometheus text exposition format 0.0.4 (see metrics.h for the list).
 *
 * Everything is fixed-size and allocated once in metrics_create: label sets
 * live in small tables (routes × methods × statuses seen in practice are a
 * few dozen). A label set beyond a table's capacity is not dropped silently:
 * it is counted in nstd_metrics_overflow_total so the operator sees it.
 * Label values are copied (truncated to their field) and escaped on output.
 * One mutex guards the whole record; every update is a few additions.
 *
 * Histograms keep per-bucket counts and make them cumulative (le) when
 * rendered, with +Inf equal to _count, as Prometheus expects.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "nst.h"

/* ================================================================ histograms */

#define MAX_BUCKETS 16

static const double request_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1,     2.5,  5,     10,   30};
static const double iteration_buckets[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                           2.5,  5,     10,   30,  60,   120};
static const double job_buckets[] = {1,   5,    10,   30,   60,   120,   300,
                                     600, 1200, 1800, 3600, 7200, 14400, 43200};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef struct {
    const double *bounds; /* upper bounds, ascending; +Inf implied */
    int n_bounds;
    unsigned long long bucket[MAX_BUCKETS + 1]; /* per bucket, last is (bounds[n-1], +Inf) */
    unsigned long long count;
    double sum;
} histogram;

static void histogram_init(histogram *h, const double *bounds, int n)
{
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->n_bounds = n;
}

static void histogram_observe(histogram *h, double v)
{
    if (!(v >= 0)) v = 0; /* NaN and negatives (clock steps) count as 0 */
    int i = 0;
    while (i < h->n_bounds && v > h->bounds[i]) i++;
    h->bucket[i]++;
    h->count++;
    h->sum += v;
}

/* ================================================================ the record */

#define MAX_REQUEST_SERIES 256
#define MAX_ROUTES 64
#define RENDER_FIRST_BYTES 16384   /* the exposition text's first buffer; it grows */

typedef struct {
    char route[96];
    char method[16];
    int status;
    unsigned long long count;
} request_series;

typedef struct {
    char route[96];
    histogram h;
} route_histogram;


struct metrics {
    pthread_mutex_t lock;
    double start_time; /* Unix seconds */
    request_series requests[MAX_REQUEST_SERIES];
    int n_requests;
    route_histogram durations[MAX_ROUTES];
    int n_durations;
    unsigned long long jobs_total[JOB_NSTATES]; /* by final state */
    histogram job_duration;
    histogram iteration_duration;
    int jobs[JOB_NSTATES];
    int queue_depth;
    int workers_alive;          /* -1: not known (no shared store) */
    int http_clients;
    unsigned long long overflow;
};

metrics *metrics_create(void)
{
    metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->start_time = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    m->workers_alive = -1;
    histogram_init(&m->job_duration, job_buckets, N_OF(job_buckets));
    histogram_init(&m->iteration_duration, iteration_buckets, N_OF(iteration_buckets));
    return m;
}

void metrics_free(metrics *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ================================================================ updates */

/* Copy a label value, "" for NULL, truncated to the field. */
static void copy_label(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

void metrics_request(metrics *m, const char *route, const char *method, int status,
                     double seconds)
{
    char r[96], meth[16];
    copy_label(r, sizeof r, route);
    copy_label(meth, sizeof meth, method);

    pthread_mutex_lock(&m->lock);
    request_series *rs = NULL;
    for (int i = 0; i < m->n_requests && !rs; i++)
        if (m->requests[i].status == status && strcmp(m->requests[i].route, r) == 0 &&
            strcmp(m->requests[i].method, meth) == 0)
            rs = &m->requests[i];
    if (!rs && m->n_requests < MAX_REQUEST_SERIES) {
        rs = &m->requests[m->n_requests++];
        memcpy(rs->route, r, sizeof r);
        memcpy(rs->method, meth, sizeof meth);
        rs->status = status;
    }
    if (rs)
        rs->count++;
    else
        m->overflow++;

    route_histogram *rh = NULL;
    for (int i = 0; i < m->n_durations && !rh; i++)
        if (strcmp(m->durations[i].route, r) == 0) rh = &m->durations[i];
    if (!rh && m->n_durations < MAX_ROUTES) {
        rh = &m->durations[m->n_durations++];
        memcpy(rh->route, r, sizeof r);
        histogram_init(&rh->h, request_buckets, N_OF(request_buckets));
    }
    if (rh)
        histogram_observe(&rh->h, seconds);
    else
        m->overflow++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_iteration(metrics *m, double seconds)
{
    pthread_mutex_lock(&m->lock);
    histogram_observe(&m->iteration_duration, seconds);
    pthread_mutex_unlock(&m->lock);
}

void metrics_job_finished(metrics *m, job_state state, double seconds)
{
    pthread_mutex_lock(&m->lock);
    if (job_state_final(state)) {
        m->jobs_total[state]++;
        histogram_observe(&m->job_duration, seconds);
    } else {
        m->overflow++;
    }
    pthread_mutex_unlock(&m->lock);
}

void metrics_set_jobs(metrics *m, const int counts[JOB_NSTATES])
{
    pthread_mutex_lock(&m->lock);
    memcpy(m->jobs, counts, sizeof m->jobs);
    pthread_mutex_unlock(&m->lock);
}

void metrics_set_queue_depth(metrics *m, int depth)
{
    pthread_mutex_lock(&m->lock);
    m->queue_depth = depth;
    pthread_mutex_unlock(&m->lock);
}

void metrics_set_workers_alive(metrics *m, int workers)
{
    pthread_mutex_lock(&m->lock);
    m->workers_alive = workers;
    pthread_mutex_unlock(&m->lock);
}

void metrics_set_http_clients(metrics *m, int clients)
{
    pthread_mutex_lock(&m->lock);
    m->http_clients = clients;
    pthread_mutex_unlock(&m->lock);
}

/* ================================================================ rendering */

/* The output text, grown as needed. On allocation failure it stops growing
 * and metrics_render returns NULL. */
typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...)
{
    if (o->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = (o->cap + (size_t)n + 1) * 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->failed = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
}

/* A label value with \, " and newline escaped, as the format requires. */
static const char *escape(const char *s, char *buf, size_t len)
{
    size_t n = 0;
    for (; *s && n + 3 < len; s++) {
        if (*s == '\\' || *s == '"') {
            buf[n++] = '\\';
            buf[n++] = *s;
        } else if (*s == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = 0;
    return buf;
}

/* A sample value: integers without a fraction, others round-trippable. */
static void format_value(char *buf, size_t len, double v)
{
    if (isinf(v)) {
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
    } else if (isnan(v)) {
        snprintf(buf, len, "NaN");
    } else {
        snprintf(buf, len, "%.15g", v);
        if (strtod(buf, NULL) != v) snprintf(buf, len, "%.17g", v);
    }
}

static void family(out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The samples of one histogram; labels is "" or `route="x",` (with the
 * trailing comma, so le can follow). */
static void render_histogram(out *o, const char *name, const char *labels, const histogram *h)
{
    unsigned long long cumulative = 0;
    char le[40], sum[40];
    for (int i = 0; i < h->n_bounds; i++) {
        cumulative += h->bucket[i];
        format_value(le, sizeof le, h->bounds[i]);
        put(o, "%s_bucket{%sle=\"%s\"} %llu\n", name, labels, le, cumulative);
    }
    cumulative += h->bucket[h->n_bounds];
    put(o, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, cumulative);
    format_value(sum, sizeof sum, h->sum);
    size_t n = strlen(labels);
    if (n) { /* drop the trailing comma for _sum and _count */
        put(o, "%s_sum{%.*s} %s\n", name, (int)n - 1, labels, sum);
        put(o, "%s_count{%.*s} %llu\n", name, (int)n - 1, labels, h->count);
    } else {
        put(o, "%s_sum %s\n%s_count %llu\n", name, sum, name, h->count);
    }
}

char *metrics_render(metrics *m)
{
    out o = {malloc(RENDER_FIRST_BYTES), 0, RENDER_FIRST_BYTES, 0};
    char e1[200], e2[40], labels[256], v[40];
    if (!o.p) return NULL;

    pthread_mutex_lock(&m->lock);

    family(&o, "nstd_build_info", "gauge", "Version of the running nstd; the value is always 1.");
    put(&o, "nstd_build_info{version=\"%s\"} 1\n", escape(NST_VERSION, e1, sizeof e1));

    family(&o, "nstd_start_time_seconds", "gauge", "Start time of the process, Unix seconds.");
    format_value(v, sizeof v, m->start_time);
    put(&o, "nstd_start_time_seconds %s\n", v);

    family(&o, "nstd_http_requests_total", "counter",
           "HTTP requests answered, by route template, method and status.");
    for (int i = 0; i < m->n_requests; i++) {
        const request_series *r = &m->requests[i];
        put(&o, "nstd_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
            escape(r->route, e1, sizeof e1), escape(r->method, e2, sizeof e2), r->status,
            r->count);
    }

    family(&o, "nstd_http_request_duration_seconds", "histogram",
           "Time to answer an HTTP request, by route template.");
    for (int i = 0; i < m->n_durations; i++) {
        snprintf(labels, sizeof labels, "route=\"%s\",",
                 escape(m->durations[i].route, e1, sizeof e1));
        render_histogram(&o, "nstd_http_request_duration_seconds", labels, &m->durations[i].h);
    }

    family(&o, "nstd_jobs_total", "counter", "Jobs that reached a final state, by that state.");
    for (int i = 0; i < JOB_NSTATES; i++)
        if (job_state_final((job_state)i))
            put(&o, "nstd_jobs_total{state=\"%s\"} %llu\n", job_state_name((job_state)i),
                m->jobs_total[i]);

    family(&o, "nstd_jobs", "gauge", "Jobs in the store now, by state.");
    for (int i = 0; i < JOB_NSTATES; i++)
        put(&o, "nstd_jobs{state=\"%s\"} %d\n", job_state_name((job_state)i), m->jobs[i]);

    family(&o, "nstd_queue_depth", "gauge", "Jobs waiting for a worker.");
    put(&o, "nstd_queue_depth %d\n", m->queue_depth);
    if (m->workers_alive >= 0) {
        family(&o, "nstd_workers_alive", "gauge",
               "Worker processes sharing the job store with a recent heartbeat.");
        put(&o, "nstd_workers_alive %d\n", m->workers_alive);
    }

    family(&o, "nstd_http_clients", "gauge",
           "Clients with requests open (event streams included), each counted once by its "
           "address: the forwarded one behind trusted proxies.");
    put(&o, "nstd_http_clients %d\n", m->http_clients);

    family(&o, "nstd_iteration_duration_seconds", "histogram",
           "Time of one optimisation iteration (forward and backward pass).");
    render_histogram(&o, "nstd_iteration_duration_seconds", "", &m->iteration_duration);

    family(&o, "nstd_job_duration_seconds", "histogram",
           "Time from a job's start to its final state.");
    render_histogram(&o, "nstd_job_duration_seconds", "", &m->job_duration);

    family(&o, "nstd_metrics_overflow_total", "counter",
           "Observations not recorded because a label table was full or a state unknown.");
    put(&o, "nstd_metrics_overflow_total %llu\n", m->overflow);

    pthread_mutex_unlock(&m->lock);

    if (o.failed) {
        free(o.p);
        return NULL;
    }
    return o.p;
}
