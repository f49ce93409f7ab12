/*
 * test_metrics.c — the Prometheus exposition: every family has its HELP and
 * TYPE lines before its samples, counters count, histogram buckets are
 * cumulative with +Inf equal to _count, label values are escaped, full
 * label tables overflow visibly, and concurrent updates are not lost.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "test.h"

/* ================================================================ a small parser */

typedef struct {
    char name[128];
    char labels[512]; /* inside the braces, "" when none */
    double value;
} sample;

#define MAX_SAMPLES 4096

typedef struct {
    sample s[MAX_SAMPLES];
    int n;
    char help[64][128]; /* family names with a HELP line, then a TYPE line */
    char type[64][32];
    int n_families;
} exposition;

/* Parse the text; every malformed line is a failed check. */
static void parse(const char *text, exposition *x)
{
    memset(x, 0, sizeof *x);
    const char *line = text;
    while (*line) {
        const char *nl = strchr(line, '\n');
        CHECK(nl != NULL, "last line lacks a newline");
        if (!nl) break;
        char buf[1024];
        snprintf(buf, sizeof buf, "%.*s", (int)(nl - line), line);
        line = nl + 1;
        char name[128], type[32];
        if (strncmp(buf, "# HELP ", 7) == 0) {
            CHECK(sscanf(buf + 7, "%127s", name) == 1 && strlen(buf) > 8 + strlen(name),
                  "bad HELP: %s", buf);
            CHECK(x->n_families < 64, "too many families");
            if (x->n_families < 64) snprintf(x->help[x->n_families], 128, "%s", name);
            continue;
        }
        if (strncmp(buf, "# TYPE ", 7) == 0) {
            CHECK(sscanf(buf + 7, "%127s %31s", name, type) == 2, "bad TYPE: %s", buf);
            CHECK(x->n_families < 64 && strcmp(x->help[x->n_families], name) == 0,
                  "TYPE %s without HELP just before", name);
            CHECK(!strcmp(type, "counter") || !strcmp(type, "gauge") || !strcmp(type, "histogram"),
                  "type %s", type);
            if (x->n_families < 64) snprintf(x->type[x->n_families++], 32, "%s", type);
            continue;
        }
        CHECK(buf[0] != '#', "unexpected comment: %s", buf);
        CHECK(x->n < MAX_SAMPLES, "too many samples");
        if (x->n >= MAX_SAMPLES) break;
        sample *s = &x->s[x->n++];
        size_t n = strcspn(buf, "{ ");
        snprintf(s->name, sizeof s->name, "%.*s", (int)n, buf);
        const char *rest = buf + n;
        if (*rest == '{') {
            const char *close = strstr(rest, "} ");
            CHECK(close != NULL, "unterminated labels: %s", buf);
            if (!close) continue;
            snprintf(s->labels, sizeof s->labels, "%.*s", (int)(close - rest - 1), rest + 1);
            rest = close + 1;
        }
        char *end;
        s->value = strtod(rest + 1, &end);
        CHECK(*rest == ' ' && end != rest + 1 && *end == 0, "bad sample: %s", buf);

        /* a sample belongs to the family declared last */
        const char *fam = x->n_families ? x->help[x->n_families - 1] : "";
        size_t fl = strlen(fam);
        CHECK(fl && strncmp(s->name, fam, fl) == 0 &&
                  (s->name[fl] == 0 || !strcmp(s->name + fl, "_bucket") ||
                   !strcmp(s->name + fl, "_sum") || !strcmp(s->name + fl, "_count")),
              "sample %s outside its family %s", s->name, fam);
    }
}

static const sample *find(const exposition *x, const char *name, const char *labels)
{
    for (int i = 0; i < x->n; i++)
        if (!strcmp(x->s[i].name, name) && !strcmp(x->s[i].labels, labels)) return &x->s[i];
    return NULL;
}

static double value(const exposition *x, const char *name, const char *labels)
{
    const sample *s = find(x, name, labels);
    CHECK(s != NULL, "no sample %s{%s}", name, labels);
    return s ? s->value : -1;
}

/* Every histogram series: buckets non-decreasing, ending with +Inf equal to
 * _count. Returns the number of series checked. */
static int check_histograms(const exposition *x)
{
    int series = 0;
    for (int i = 0; i < x->n; i++) {
        const sample *s = &x->s[i];
        size_t nl = strlen(s->name);
        if (nl < 7 || strcmp(s->name + nl - 7, "_bucket") != 0) continue;
        const char *le = strstr(s->labels, "le=\"");
        CHECK(le != NULL, "bucket without le: %s{%s}", s->name, s->labels);
        if (!le || strcmp(le, "le=\"+Inf\"") != 0) continue;
        /* s is the +Inf bucket: walk back over the series' buckets */
        series++;
        char base[128], series_labels[512];
        snprintf(base, sizeof base, "%.*s", (int)(nl - 7), s->name);
        size_t ll = (size_t)(le - s->labels);
        snprintf(series_labels, sizeof series_labels, "%.*s", (int)(ll ? ll - 1 : 0), s->labels);
        double next = s->value, prev_le = 1e300;
        int buckets = 1;
        for (int j = i - 1; j >= 0 && !strcmp(x->s[j].name, s->name) &&
                            !strncmp(x->s[j].labels, s->labels, ll);
             j--, buckets++) {
            double b = strtod(strstr(x->s[j].labels, "le=\"") + 4, NULL);
            CHECK(x->s[j].value <= next, "%s{%s} = %g > next bucket %g: not cumulative",
                  x->s[j].name, x->s[j].labels, x->s[j].value, next);
            CHECK(b < prev_le, "le not ascending in %s{%s}", x->s[j].name, x->s[j].labels);
            next = x->s[j].value;
            prev_le = b;
        }
        CHECK(buckets >= 2, "%s has only the +Inf bucket", base);
        char name[160];
        snprintf(name, sizeof name, "%s_count", base);
        CHECK(value(x, name, series_labels) == s->value, "%s{%s}: +Inf %g != _count", base,
              series_labels, s->value);
        snprintf(name, sizeof name, "%s_sum", base);
        CHECK(find(x, name, series_labels) != NULL, "%s{%s} lacks _sum", base, series_labels);
    }
    return series;
}

/* ================================================================ tests */

static exposition x;

static void render(metrics *m)
{
    char *text = metrics_render(m);
    CHECK(text != NULL, "render failed");
    if (text) parse(text, &x);
    free(text);
}

static void test_empty(void)
{
    metrics *m = metrics_create();
    render(m);
    static const char *families[] = {
        "nstd_http_requests_total",  "nstd_http_request_duration_seconds",
        "nstd_jobs_total",           "nstd_jobs",
        "nstd_queue_depth",          "nstd_iteration_duration_seconds",
        "nstd_job_duration_seconds", "nstd_build_info",
        "nstd_http_clients",
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        int found = 0;
        for (int j = 0; j < x.n_families; j++) found |= !strcmp(x.help[j], families[i]);
        CHECK(found, "no HELP/TYPE for %s", families[i]);
    }
    CHECK(value(&x, "nstd_jobs_total", "state=\"failed\"") == 0, "jobs_total starts at 0");
    CHECK(value(&x, "nstd_iteration_duration_seconds_count", "") == 0, "empty histogram");
    check_histograms(&x);
    metrics_free(m);
}

static void test_events(void)
{
    metrics *m = metrics_create();
    metrics_request(m, "/v1/jobs/{id}", "GET", 200, 0.002);
    metrics_request(m, "/v1/jobs/{id}", "GET", 200, 0.02);
    metrics_request(m, "/v1/jobs/{id}", "GET", 200, 2.0);
    metrics_request(m, "/v1/jobs/{id}", "GET", 404, 0.0001);
    metrics_request(m, "/v1/jobs", "POST", 202, 0.3);
    metrics_request(m, "/v1/jobs", "POST", 429, 50.0); /* beyond the last bound */
    for (int i = 0; i < 100; i++) metrics_iteration(m, 0.001 * i * i);
    metrics_job_finished(m, JOB_SUCCEEDED, 30);
    metrics_job_finished(m, JOB_SUCCEEDED, 90);
    metrics_job_finished(m, JOB_FAILED, 2);
    metrics_job_finished(m, JOB_RUNNING, 1);   /* not a final state: overflow */
    metrics_set_jobs(m, (const int[JOB_NSTATES]){3, 1, 7, 2, 4});
    metrics_set_queue_depth(m, 3);
    metrics_set_http_clients(m, 7);
    render(m);

    CHECK(value(&x, "nstd_http_requests_total",
                "route=\"/v1/jobs/{id}\",method=\"GET\",status=\"200\"") == 3,
          "GET 200 count");
    CHECK(value(&x, "nstd_http_requests_total",
                "route=\"/v1/jobs/{id}\",method=\"GET\",status=\"404\"") == 1,
          "GET 404 count");
    CHECK(value(&x, "nstd_http_requests_total",
                "route=\"/v1/jobs\",method=\"POST\",status=\"429\"") == 1,
          "POST 429 count");

    const char *d = "nstd_http_request_duration_seconds_bucket";
    CHECK(value(&x, d, "route=\"/v1/jobs/{id}\",le=\"0.001\"") == 1, "le 0.001");
    CHECK(value(&x, d, "route=\"/v1/jobs/{id}\",le=\"0.0025\"") == 2, "le 0.0025");
    CHECK(value(&x, d, "route=\"/v1/jobs/{id}\",le=\"0.025\"") == 3, "le 0.025");
    CHECK(value(&x, d, "route=\"/v1/jobs/{id}\",le=\"1\"") == 3, "le 1");
    CHECK(value(&x, d, "route=\"/v1/jobs/{id}\",le=\"2.5\"") == 4, "le 2.5");
    CHECK(value(&x, d, "route=\"/v1/jobs/{id}\",le=\"+Inf\"") == 4, "le +Inf");
    CHECK(value(&x, d, "route=\"/v1/jobs\",le=\"30\"") == 1, "POST le 30");
    CHECK(value(&x, d, "route=\"/v1/jobs\",le=\"+Inf\"") == 2, "POST le +Inf");
    CHECK_CLOSE(value(&x, "nstd_http_request_duration_seconds_sum", "route=\"/v1/jobs/{id}\""),
                2.0221, 1e-12);
    CHECK(value(&x, "nstd_http_request_duration_seconds_count", "route=\"/v1/jobs\"") == 2,
          "POST count");

    CHECK(value(&x, "nstd_iteration_duration_seconds_count", "") == 100, "iterations");
    CHECK(value(&x, "nstd_iteration_duration_seconds_bucket", "le=\"0.01\"") == 4,
          "iterations le 0.01 (i*i <= 10: 0..3)");
    CHECK(value(&x, "nstd_jobs_total", "state=\"succeeded\"") == 2, "succeeded");
    CHECK(value(&x, "nstd_jobs_total", "state=\"failed\"") == 1, "failed");
    CHECK(value(&x, "nstd_jobs_total", "state=\"canceled\"") == 0, "canceled");
    CHECK(find(&x, "nstd_jobs_total", "state=\"exploded\"") == NULL, "unknown state rendered");
    CHECK(value(&x, "nstd_metrics_overflow_total", "") == 1, "unknown state not in overflow");
    CHECK(value(&x, "nstd_job_duration_seconds_count", "") == 3, "job durations");
    CHECK_CLOSE(value(&x, "nstd_job_duration_seconds_sum", ""), 122, 1e-12);
    CHECK(value(&x, "nstd_jobs", "state=\"queued\"") == 3, "queued gauge");
    CHECK(value(&x, "nstd_jobs", "state=\"canceled\"") == 4, "canceled gauge");
    CHECK(value(&x, "nstd_queue_depth", "") == 3, "queue depth");
    CHECK(value(&x, "nstd_http_clients", "") == 7, "http clients");

    CHECK(check_histograms(&x) == 4, "histogram series: 2 routes, iterations, jobs");
    metrics_free(m);
}

static void test_escaping(void)
{
    metrics *m = metrics_create();
    metrics_request(m, "/a\"b\\c\nd", "GET", 200, 0.1);
    metrics_request(m, NULL, NULL, 500, 0.1);
    char *text = metrics_render(m);
    CHECK(strstr(text, "route=\"/a\\\"b\\\\c\\nd\",method=\"GET\""), "escaping:\n%s", text);
    CHECK(strstr(text, "route=\"\",method=\"\",status=\"500\""), "empty labels");
    free(text);
    render(m);
    check_histograms(&x);
    metrics_free(m);
}

static void test_overflow(void)
{
    metrics *m = metrics_create();
    for (int i = 0; i < 1000; i++) metrics_request(m, "/v1/jobs", "GET", 100 + i, 0.01);
    render(m);
    int series = 0;
    for (int i = 0; i < x.n; i++) series += !strcmp(x.s[i].name, "nstd_http_requests_total");
    CHECK(series > 0 && series < 1000, "%d request series", series);
    CHECK(value(&x, "nstd_metrics_overflow_total", "") == 1000 - series, "overflow count");
    CHECK(value(&x, "nstd_http_request_duration_seconds_count", "route=\"/v1/jobs\"") == 1000,
          "duration histogram counts every request");
    metrics_free(m);
}

#define THREADS 4
#define PER_THREAD 20000

static void *hammer(void *arg)
{
    metrics *m = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_request(m, "/healthz", "GET", 200, 0.0005);
        metrics_iteration(m, 0.5);
    }
    return NULL;
}

static void test_threads(void)
{
    metrics *m = metrics_create();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, hammer, m);
    for (int i = 0; i < 50; i++) free(metrics_render(m));
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    render(m);
    CHECK(value(&x, "nstd_http_requests_total", "route=\"/healthz\",method=\"GET\",status=\"200\"") ==
              THREADS * PER_THREAD,
          "lost updates");
    CHECK(value(&x, "nstd_iteration_duration_seconds_count", "") == THREADS * PER_THREAD,
          "lost iterations");
    check_histograms(&x);
    metrics_free(m);
}

int main(void)
{
    TEST_RUN(test_empty);
    TEST_RUN(test_events);
    TEST_RUN(test_escaping);
    TEST_RUN(test_overflow);
    TEST_RUN(test_threads);
    return TEST_EXIT();
}
