/*
 * jobs.c — the job manager (see jobs.h): job records, the bounded FIFO queue,
 * the worker threads that run nst_transfer, persistence of every transition
 * to job.json, reload at start-up, TTL expiry and orderly shutdown.
 *
 * Locking: one mutex (j->mu) guards every job record, the queue and the
 * counters; it is never held across disk or engine work. A second mutex
 * (j->io) serialises writes of job files and removal of job directories, so
 * the last job.json written is always the newest snapshot and nothing is
 * written into a directory after it was removed. Lock order: io, then mu.
 * Job records are reference-counted: the job table holds one reference, and
 * anyone using a record outside mu holds another.
 *
 * What this file is not: it has no HTTP knowledge; the API layer turns
 * job_info snapshots into JSON.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "jobs.h"
#include "log.h"

/* OpenBLAS's thread-count setter (declared here so the server needs no BLAS
 * headers). */

#define WORKER_NICE 10   /* workers and their threads yield to HTTP threads */

/* ================================================================ records */

struct job {
    char id[JOB_ID_LEN + 1];
    job_state state;
    unsigned long seq;          /* creation order, persisted */
    nst_params params;          /* immutable after creation */
    char *params_json;          /* nst_params_to_json(params), owned */
    char model[64];
    int n_styles;
    double created_at, started_at, finished_at;
    int position;               /* 1-based while queued */
    int iteration, iterations, has_loss;
    double loss_total, loss_content, loss_style, loss_tv;
    double elapsed_prev;        /* optimisation seconds of earlier runs */
    double elapsed_s, eta_s;
    int checkpoint_iteration;   /* iteration checkpoint.png holds; 0: none */
    int has_preview;
    char error_code[32];
    char error_message[256];
    unsigned long version;
    volatile int cancel;        /* read by the engine */
    int user_canceled;          /* the cancel came from DELETE, not shutdown */
    int removed;                /* gone from the table and the store */
    int refs;
    struct job *qnext;          /* queue link */
};

struct jobs {
    jobs_config cfg;
    store *st;
    metrics *mx;
    const nst_model *model;

    pthread_mutex_t mu;
    pthread_cond_t work_cv;     /* workers: the queue got a job, or stop */
    pthread_cond_t change_cv;   /* watchers: some job changed */
    pthread_mutex_t io;

    struct job **all;           /* every job, ascending seq */
    int n_all, cap_all;
    struct job *qhead, *qtail;
    int n_queued, n_running, reserved;
    unsigned long version, next_seq;
    int accepting, stopping;

    pthread_t *threads;
    int n_threads;
};

static const char *const state_names[JOB_NSTATES] = {
    "queued", "running", "succeeded", "failed", "canceled"};

const char *job_state_name(job_state s)
{
    return s >= 0 && s < JOB_NSTATES ? state_names[s] : "unknown";
}

static int state_from_name(const char *name)
{
    for (int i = 0; i < JOB_NSTATES; i++)
        if (name && strcmp(name, state_names[i]) == 0) return i;
    return -1;
}

static int state_final(job_state s)
{
    return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_CANCELED;
}

static double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

const char *jobs_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    case JOBS_ENOTFOUND: return "no such job";
    case JOBS_EFULL: return "the job queue is full";
    case JOBS_ESHUTDOWN: return "the server is shutting down";
    case JOBS_EIO: return "the job store failed";
    case JOBS_ENOMEM: return "out of memory";
    case JOBS_ESTATE: return "the job is not in a state that allows this";
    case JOBS_ENOFILE: return "the job has no such file yet";
    default: return "unknown error";
    }
}

/* A job's error code for a failed transfer, from the engine's code. */
static const char *failure_code(int rc)
{
    switch (rc) {
    case NST_ENOMEM: return "out_of_memory";
    case NST_EINVAL: return "invalid_params";
    case NST_EIO: return "io_error";
    case NST_EMODEL: return "model_error";
    case NST_EIMAGE: return "invalid_image";
    case NST_ETOOBIG: return "image_too_large";
    default: return "internal_error";
    }
}

static void job_free(struct job *jb)
{
    if (!jb) return;
    free(jb->params_json);
    free(jb);
}

/* Drop one reference (under mu). */
static void job_unref_locked(struct job *jb)
{
    if (--jb->refs == 0) job_free(jb);
}

static void job_unref(jobs *j, struct job *jb)
{
    pthread_mutex_lock(&j->mu);
    job_unref_locked(jb);
    pthread_mutex_unlock(&j->mu);
}

/* Record a change of jb (under mu): versions and watchers. */
static void job_bump(jobs *j, struct job *jb)
{
    jb->version++;
    j->version++;
    pthread_cond_broadcast(&j->change_cv);
}

static struct job *job_find(jobs *j, const char *id)
{
    for (int i = 0; i < j->n_all; i++)
        if (strcmp(j->all[i]->id, id) == 0) return j->all[i];
    return NULL;
}

/* Insert keeping ascending seq (under mu). The table takes jb's reference. */
static int table_insert(jobs *j, struct job *jb)
{
    if (j->n_all == j->cap_all) {
        int cap = j->cap_all ? 2 * j->cap_all : 64;
        struct job **a = realloc(j->all, cap * sizeof *a);
        if (!a) return JOBS_ENOMEM;
        j->all = a;
        j->cap_all = cap;
    }
    int i = j->n_all;
    while (i > 0 && j->all[i - 1]->seq > jb->seq) {
        j->all[i] = j->all[i - 1];
        i--;
    }
    j->all[i] = jb;
    j->n_all++;
    return 0;
}

static void table_remove(jobs *j, struct job *jb)
{
    for (int i = 0; i < j->n_all; i++) {
        if (j->all[i] == jb) {
            memmove(&j->all[i], &j->all[i + 1], (j->n_all - i - 1) * sizeof *j->all);
            j->n_all--;
            return;
        }
    }
}

/* ================================================================ queue */

/* Number the queued jobs 1…n; a job whose place changed is a change. */
static void queue_renumber(jobs *j)
{
    int pos = 1;
    for (struct job *q = j->qhead; q; q = q->qnext, pos++) {
        if (q->position != pos) {
            q->position = pos;
            job_bump(j, q);
        }
    }
}

static void queue_push(jobs *j, struct job *jb)
{
    jb->qnext = NULL;
    if (j->qtail) j->qtail->qnext = jb;
    else j->qhead = jb;
    j->qtail = jb;
    j->n_queued++;
    queue_renumber(j);
}

static struct job *queue_pop(jobs *j)
{
    struct job *jb = j->qhead;
    if (!jb) return NULL;
    j->qhead = jb->qnext;
    if (!j->qhead) j->qtail = NULL;
    jb->qnext = NULL;
    jb->position = 0;
    j->n_queued--;
    queue_renumber(j);
    return jb;
}

static void queue_unlink(jobs *j, struct job *jb)
{
    struct job **pp = &j->qhead, *prev = NULL;
    while (*pp && *pp != jb) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (!*pp) return;
    *pp = jb->qnext;
    if (j->qtail == jb) j->qtail = prev;
    jb->qnext = NULL;
    jb->position = 0;
    j->n_queued--;
    queue_renumber(j);
}

/* Push the per-state counts to the metrics (under mu). */
static void update_gauges(jobs *j)
{
    if (!j->mx) return;
    int n[JOB_NSTATES] = {0};
    for (int i = 0; i < j->n_all; i++) n[j->all[i]->state]++;
    metrics_set_jobs(j->mx, n[JOB_QUEUED], n[JOB_RUNNING], n[JOB_SUCCEEDED], n[JOB_FAILED],
                     n[JOB_CANCELED]);
    metrics_set_queue_depth(j->mx, j->n_queued);
}

/* ================================================================ snapshots */

static void snapshot(const struct job *jb, job_info *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->id, jb->id, sizeof out->id);
    out->state = jb->state;
    out->position = jb->state == JOB_QUEUED ? jb->position : 0;
    out->iteration = jb->iteration;
    out->iterations = jb->iterations;
    out->has_loss = jb->has_loss;
    out->loss_total = jb->loss_total;
    out->loss_content = jb->loss_content;
    out->loss_style = jb->loss_style;
    out->loss_tv = jb->loss_tv;
    out->elapsed_s = jb->elapsed_s;
    out->eta_s = jb->eta_s;
    out->params_json = jb->params_json ? strdup(jb->params_json) : NULL;
    snprintf(out->model, sizeof out->model, "%s", jb->model);
    out->created_at = jb->created_at;
    out->started_at = jb->started_at;
    out->finished_at = jb->finished_at;
    snprintf(out->error_code, sizeof out->error_code, "%s", jb->error_code);
    snprintf(out->error_message, sizeof out->error_message, "%s", jb->error_message);
    out->has_preview = jb->has_preview;
    out->version = jb->version;
}

void job_info_free(job_info *info)
{
    if (!info) return;
    free(info->params_json);
    info->params_json = NULL;
}

/* ================================================================ persistence */

/* job.json: the record the store keeps (under mu). Malloc'd text. */
static char *job_record(const struct job *jb)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", jb->id);
    cJSON_AddStringToObject(o, "state", job_state_name(jb->state));
    cJSON_AddNumberToObject(o, "seq", (double)jb->seq);
    cJSON *params = jb->params_json ? cJSON_Parse(jb->params_json) : NULL;
    cJSON_AddItemToObject(o, "params", params ? params : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "model", jb->model);
    cJSON_AddNumberToObject(o, "n_styles", jb->n_styles);
    cJSON_AddNumberToObject(o, "created_at", jb->created_at);
    cJSON_AddNumberToObject(o, "started_at", jb->started_at);
    cJSON_AddNumberToObject(o, "finished_at", jb->finished_at);
    cJSON_AddNumberToObject(o, "iteration", jb->iteration);
    cJSON_AddNumberToObject(o, "iterations", jb->iterations);
    if (jb->has_loss) {
        cJSON *l = cJSON_AddObjectToObject(o, "loss");
        cJSON_AddNumberToObject(l, "total", jb->loss_total);
        cJSON_AddNumberToObject(l, "content", jb->loss_content);
        cJSON_AddNumberToObject(l, "style", jb->loss_style);
        cJSON_AddNumberToObject(l, "tv", jb->loss_tv);
    }
    cJSON_AddNumberToObject(o, "elapsed_s", jb->elapsed_s);
    cJSON_AddNumberToObject(o, "checkpoint_iteration", jb->checkpoint_iteration);
    cJSON_AddBoolToObject(o, "has_preview", jb->has_preview);
    if (jb->error_code[0]) {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "code", jb->error_code);
        cJSON_AddStringToObject(e, "message", jb->error_message);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* Write job.json with the job as it is now. Caller holds a reference. */
static int job_persist(jobs *j, struct job *jb)
{
    int rc = 0;
    pthread_mutex_lock(&j->io);
    pthread_mutex_lock(&j->mu);
    char *text = jb->removed ? NULL : job_record(jb);
    pthread_mutex_unlock(&j->mu);
    if (text) {
        rc = store_write(j->st, jb->id, "job.json", text, strlen(text));
        if (rc < 0) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "job", jb->id);
            cJSON_AddStringToObject(f, "error", strerror(-rc));
            log_event("error", "job_persist_failed", f);
        }
        free(text);
    }
    pthread_mutex_unlock(&j->io);
    return rc < 0 ? JOBS_EIO : 0;
}

/* Write (data) or remove (data NULL) one file of a live job. */
static int job_file(jobs *j, struct job *jb, const char *name, const void *data, size_t len)
{
    int rc = 0;
    pthread_mutex_lock(&j->io);
    pthread_mutex_lock(&j->mu);
    int removed = jb->removed;
    pthread_mutex_unlock(&j->mu);
    if (!removed)
        rc = data ? store_write(j->st, jb->id, name, data, len) : store_unlink(j->st, jb->id, name);
    pthread_mutex_unlock(&j->io);
    return rc < 0 ? JOBS_EIO : 0;
}

static void job_log(const char *level, const char *event, const struct job *jb, cJSON *f)
{
    if (!f) f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "job", jb->id);
    log_event(level, event, f);
}

/* ================================================================ running a job */

typedef struct {
    jobs *j;
    struct job *jb;
    int resume_iteration;
    double last_t;              /* monotonic time of the previous callback */
} run_ctx;

/* The engine's progress callback: numbers, ETA, preview and checkpoint. */
static void on_progress(const nst_progress *p, void *user)
{
    run_ctx *rc = user;
    jobs *j = rc->j;
    struct job *jb = rc->jb;
    double t = now_mono();
    if (j->mx) metrics_iteration(j->mx, t - rc->last_t);
    rc->last_t = t;

    unsigned char *png = NULL;
    size_t len = 0;
    if (p->image && nst_image_encode_png(p->image, &png, &len) == 0) {
        if (job_file(j, jb, "preview.png", png, len) < 0 ||
            job_file(j, jb, "checkpoint.png", png, len) < 0) {
            free(png);
            png = NULL;
        }
    }

    pthread_mutex_lock(&j->mu);
    jb->iteration = p->iteration;
    if (p->iterations > 0) jb->iterations = p->iterations;
    jb->has_loss = 1;
    jb->loss_total = p->loss_total;
    jb->loss_content = p->loss_content;
    jb->loss_style = p->loss_style;
    jb->loss_tv = p->loss_tv;
    jb->elapsed_s = jb->elapsed_prev + p->elapsed_s;
    int done = p->iteration - rc->resume_iteration;
    if (done <= 0) done = p->iteration;
    double left = jb->iterations - jb->iteration;
    jb->eta_s = done > 0 ? p->elapsed_s / done * (left > 0 ? left : 0) : -1;
    if (png) {
        jb->has_preview = 1;
        jb->checkpoint_iteration = p->iteration;
    }
    job_bump(j, jb);
    pthread_mutex_unlock(&j->mu);

    if (png) job_persist(j, jb);   /* progress reaches disk with each preview */
    free(png);
}

/* Read and decode a stored image of job jb. */
static int load_image(jobs *j, const struct job *jb, const char *name, nst_image *img,
                      nst_error *err)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = store_read(j->st, jb->id, name, &data, &len);
    if (rc < 0)
        return nst_error_set(err, NST_EIO, name, "%s: cannot read the stored file: %s", name,
                             strerror(-rc));
    rc = nst_image_decode(data, len, j->cfg.max_input_pixels, img, err);
    free(data);
    return rc;
}

/* Decode the inputs and the checkpoint, run the transfer. Returns the
 * engine's code; *out holds the image on success. */
static int run_transfer(jobs *j, struct job *jb, nst_image *out, nst_error *err)
{
    nst_image content = {0}, resume = {0};
    nst_image styles[NST_MAX_STYLES];
    memset(styles, 0, sizeof styles);
    run_ctx ctx = {j, jb, 0, now_mono()};
    nst_callbacks cb = {.progress = on_progress, .user = &ctx, .cancel = &jb->cancel, .threads = j->cfg.job_threads};

    int rc = load_image(j, jb, "content", &content, err);
    for (int i = 0; rc == 0 && i < jb->n_styles; i++) {
        char name[32];
        snprintf(name, sizeof name, "style-%d", i);
        rc = load_image(j, jb, name, &styles[i], err);
    }
    pthread_mutex_lock(&j->mu);
    int ck = jb->checkpoint_iteration;
    pthread_mutex_unlock(&j->mu);
    if (rc == 0 && ck > 0) {
        nst_error ignored;
        if (load_image(j, jb, "checkpoint.png", &resume, &ignored) == 0) {
            cb.resume = &resume;
            cb.resume_iteration = ck;
            ctx.resume_iteration = ck;
        }
    }
    if (rc == 0)
        rc = nst_transfer(j->model, &jb->params, &content, styles, jb->n_styles, &cb, out, err);
    nst_image_free(&content);
    nst_image_free(&resume);
    for (int i = 0; i < jb->n_styles; i++) nst_image_free(&styles[i]);
    return rc;
}

/* After the engine returned: result, final state, persistence, metrics. */
static void finish_job(jobs *j, struct job *jb, int rc, nst_image *out, nst_error *err)
{
    pthread_mutex_lock(&j->mu);
    int user_canceled = jb->user_canceled;
    pthread_mutex_unlock(&j->mu);
    if (rc == NST_OK) {
        unsigned char *png = NULL;
        size_t len = 0;
        if (nst_image_encode_png(out, &png, &len) != 0)
            rc = nst_error_set(err, NST_ENOMEM, "", "could not encode the result");
        else if (job_file(j, jb, "result.png", png, len) < 0)
            rc = nst_error_set(err, NST_EIO, "", "could not store the result");
        free(png);
    } else if (rc == NST_ECANCELED && out->data && !user_canceled) {
        /* Shutdown: keep the newest image the engine left, if any. */
        unsigned char *png = NULL;
        size_t len = 0;
        if (nst_image_encode_png(out, &png, &len) == 0 &&
            job_file(j, jb, "checkpoint.png", png, len) == 0) {
            pthread_mutex_lock(&j->mu);
            jb->checkpoint_iteration = jb->iteration;
            pthread_mutex_unlock(&j->mu);
        }
        free(png);
    }

    pthread_mutex_lock(&j->mu);
    double now = now_wall();
    int counted = 0;            /* a user cancel was counted by jobs_delete */
    if (jb->user_canceled) {
        counted = 1;
    } else if (rc == NST_OK) {
        jb->state = JOB_SUCCEEDED;
        jb->iteration = jb->iterations;
        jb->eta_s = 0;
        jb->finished_at = now;
    } else if (rc == NST_ECANCELED) {
        /* Stopped by shutdown: queued again for the next start. */
        jb->state = JOB_QUEUED;
        jb->iteration = jb->checkpoint_iteration;
        jb->elapsed_prev = jb->elapsed_s;
        jb->eta_s = -1;
        counted = 1;
    } else {
        jb->state = JOB_FAILED;
        jb->finished_at = now;
        snprintf(jb->error_code, sizeof jb->error_code, "%s", failure_code(rc));
        snprintf(jb->error_message, sizeof jb->error_message, "%s",
                 err->message[0] ? err->message : nst_strerror(rc));
    }
    j->n_running--;
    job_state st = jb->state;
    double duration = jb->started_at > 0 ? now - jb->started_at : 0;
    job_bump(j, jb);
    update_gauges(j);
    pthread_mutex_unlock(&j->mu);

    job_persist(j, jb);
    if (state_final(st)) job_file(j, jb, "checkpoint.png", NULL, 0);
    if (!counted && j->mx) metrics_job_finished(j->mx, job_state_name(st), duration);

    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "state", job_state_name(st));
    cJSON_AddNumberToObject(f, "duration_s", duration);
    if (st == JOB_FAILED) cJSON_AddStringToObject(f, "error", jb->error_message);
    job_log(st == JOB_FAILED ? "warn" : "info",
            st == JOB_QUEUED ? "job_suspended" : "job_finished", jb, f);
}

/* A worker: take the oldest queued job, run it, repeat until shutdown. */
static void *worker_main(void *arg)
{
    jobs *j = arg;
    setpriority(PRIO_PROCESS, (id_t)gettid(), WORKER_NICE);
    for (;;) {
        pthread_mutex_lock(&j->mu);
        while (!j->stopping && !j->qhead) pthread_cond_wait(&j->work_cv, &j->mu);
        if (j->stopping) {
            pthread_mutex_unlock(&j->mu);
            break;
        }
        struct job *jb = queue_pop(j);
        jb->state = JOB_RUNNING;
        jb->cancel = 0;
        if (jb->started_at == 0) jb->started_at = now_wall();
        snprintf(jb->model, sizeof jb->model, "%s", nst_model_name(j->model));
        jb->refs++;
        j->n_running++;
        job_bump(j, jb);
        update_gauges(j);
        int resume = jb->checkpoint_iteration;
        pthread_mutex_unlock(&j->mu);

        job_persist(j, jb);
        cJSON *f = cJSON_CreateObject();
        if (resume > 0) cJSON_AddNumberToObject(f, "resume_iteration", resume);
        job_log("info", "job_started", jb, f);

        nst_image out = {0};
        nst_error err;
        memset(&err, 0, sizeof err);
        int rc = run_transfer(j, jb, &out, &err);
        finish_job(j, jb, rc, &out, &err);
        nst_image_free(&out);
        job_unref(j, jb);
    }
    return NULL;
}

/* Threads per job: as configured, or the cores shared out over the
 * workers. The engine starts them from the worker thread, so they inherit
 * its lower priority. */
static int job_threads(const jobs_config *cfg)
{
    if (cfg->job_threads > 0) return cfg->job_threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (int)(cores > 0 ? cores : 1) / (cfg->workers > 0 ? cfg->workers : 1);
    return n < 1 ? 1 : n;
}

/* ================================================================ reload */

static double num_field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Rebuild one job from its job.json. NULL (with a reason) when unusable. */
static struct job *job_from_record(jobs *j, const char *id, const char *text, size_t len,
                                   const char **why)
{
    cJSON *o = cJSON_ParseWithLength(text, len);
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *stv = cJSON_GetObjectItemCaseSensitive(o, "state");
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(o, "params");
    int st = state_from_name(cJSON_GetStringValue(stv));
    if (!cJSON_IsObject(o) || !cJSON_IsString(idv) || strcmp(idv->valuestring, id) != 0 ||
        st < 0 || !cJSON_IsObject(pv)) {
        *why = "malformed job.json";
        cJSON_Delete(o);
        return NULL;
    }
    struct job *jb = calloc(1, sizeof *jb);
    char *ptext = cJSON_PrintUnformatted(pv);
    nst_error err;
    nst_limits none = {0, 0};   /* accepted once; later limit changes do not apply */
    nst_params_default(&jb->params, j->model);
    if (!ptext || nst_params_parse(&jb->params, ptext, strlen(ptext), &none, &err) != 0) {
        *why = "stored params no longer valid";
        free(ptext);
        free(jb);
        cJSON_Delete(o);
        return NULL;
    }
    free(ptext);
    memcpy(jb->id, id, JOB_ID_LEN);
    jb->state = (job_state)st;
    jb->refs = 1;
    jb->seq = (unsigned long)num_field(o, "seq");
    jb->params_json = nst_params_to_json(&jb->params);
    snprintf(jb->model, sizeof jb->model, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "model"))
                 ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "model"))
                 : "");
    jb->n_styles = (int)num_field(o, "n_styles");
    if (jb->n_styles < 1 || jb->n_styles > NST_MAX_STYLES) jb->n_styles = 1;
    jb->created_at = num_field(o, "created_at");
    jb->started_at = num_field(o, "started_at");
    jb->finished_at = num_field(o, "finished_at");
    jb->iteration = (int)num_field(o, "iteration");
    jb->iterations = (int)num_field(o, "iterations");
    if (jb->iterations <= 0) jb->iterations = jb->params.iterations;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "loss");
    if (cJSON_IsObject(l)) {
        jb->has_loss = 1;
        jb->loss_total = num_field(l, "total");
        jb->loss_content = num_field(l, "content");
        jb->loss_style = num_field(l, "style");
        jb->loss_tv = num_field(l, "tv");
    }
    jb->elapsed_s = num_field(o, "elapsed_s");
    jb->checkpoint_iteration = (int)num_field(o, "checkpoint_iteration");
    jb->has_preview = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "has_preview"));
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    if (cJSON_IsObject(e)) {
        const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
        snprintf(jb->error_code, sizeof jb->error_code, "%s", c ? c : "internal_error");
        snprintf(jb->error_message, sizeof jb->error_message, "%s", m ? m : "");
    }
    jb->eta_s = state_final(jb->state) ? 0 : -1;
    cJSON_Delete(o);
    return jb;
}

static int cmp_seq(const void *a, const void *b)
{
    const struct job *x = *(struct job *const *)a, *y = *(struct job *const *)b;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    if (x->created_at != y->created_at) return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Load every job directory. Interrupted and queued jobs are queued again;
 * a directory without job.json is a submit that never completed (no client
 * was told about it) and is removed. */
static int reload(jobs *j)
{
    char **ids = NULL;
    int n = 0;
    if (store_list(j->st, &ids, &n) < 0) return JOBS_EIO;
    int requeued = 0, kept = 0;
    for (int i = 0; i < n; i++) {
        unsigned char *text = NULL;
        size_t len = 0;
        int rc = store_read(j->st, ids[i], "job.json", &text, &len);
        const char *why = NULL;
        struct job *jb = NULL;
        if (rc == -ENOENT) {
            store_remove(j->st, ids[i]);
            why = "incomplete submit removed";
        } else if (rc < 0) {
            why = "job.json unreadable";
        } else {
            jb = job_from_record(j, ids[i], (const char *)text, len, &why);
        }
        free(text);
        if (!jb) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "job", ids[i]);
            cJSON_AddStringToObject(f, "reason", why);
            log_event("warn", "job_skipped", f);
            continue;
        }
        if (!state_final(jb->state)) {
            if (jb->checkpoint_iteration > 0 && !store_exists(j->st, jb->id, "checkpoint.png"))
                jb->checkpoint_iteration = 0;
            jb->state = JOB_QUEUED;
            jb->iteration = jb->checkpoint_iteration;
            jb->elapsed_prev = jb->elapsed_s;
            requeued++;
        }
        if (table_insert(j, jb) < 0) {
            job_free(jb);
            continue;
        }
        kept++;
    }
    store_ids_free(ids, n);
    if (j->n_all > 1) qsort(j->all, j->n_all, sizeof *j->all, cmp_seq);
    for (int i = 0; i < j->n_all; i++) {
        if (j->all[i]->seq >= j->next_seq) j->next_seq = j->all[i]->seq + 1;
        if (j->all[i]->state == JOB_QUEUED) queue_push(j, j->all[i]);
    }
    update_gauges(j);
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "jobs", kept);
    cJSON_AddNumberToObject(f, "requeued", requeued);
    log_event("info", "jobs_reloaded", f);
    return 0;
}

/* ================================================================ public API */

int jobs_start(jobs **out, const jobs_config *cfg, store *st, metrics *mx,
               const nst_model *model, char *err, size_t errlen)
{
    *out = NULL;
    jobs *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return JOBS_ENOMEM;
    }
    j->cfg = *cfg;
    if (j->cfg.workers < 1) j->cfg.workers = 1;
    j->st = st;
    j->mx = mx;
    j->model = model;
    j->accepting = 1;
    j->next_seq = 1;
    pthread_mutex_init(&j->mu, NULL);
    pthread_mutex_init(&j->io, NULL);
    pthread_cond_init(&j->work_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->change_cv, &ca);
    pthread_condattr_destroy(&ca);

    if (reload(j) < 0) {
        snprintf(err, errlen, "cannot list the job store");
        jobs_free(j);
        return JOBS_EIO;
    }
    j->cfg.job_threads = job_threads(&j->cfg);
    j->threads = calloc(j->cfg.workers, sizeof *j->threads);
    for (int i = 0; j->threads && i < j->cfg.workers; i++) {
        if (pthread_create(&j->threads[i], NULL, worker_main, j) != 0) break;
        j->n_threads++;
    }
    if (j->n_threads == 0) {
        snprintf(err, errlen, "cannot start worker threads");
        jobs_free(j);
        return JOBS_ENOMEM;
    }
    *out = j;
    return 0;
}

static void new_id(char id[JOB_ID_LEN + 1])
{
    unsigned char r[JOB_ID_LEN / 2];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = getrandom(r + got, sizeof r - got, 0);
        if (k > 0) got += (size_t)k;
        else if (errno != EINTR) abort();   /* no randomness: ids would collide */
    }
    for (size_t i = 0; i < sizeof r; i++) sprintf(id + 2 * i, "%02x", r[i]);
}

int jobs_can_accept(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    int rc = !j->accepting ? JOBS_ESHUTDOWN
             : j->n_queued + j->reserved >= j->cfg.queue_size ? JOBS_EFULL : 0;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int jobs_submit(jobs *j, const nst_params *p, const job_blob *content, const job_blob *styles,
                int n_styles, job_info *out)
{
    if (n_styles < 1 || n_styles > NST_MAX_STYLES) return JOBS_ESTATE;
    struct job *jb = calloc(1, sizeof *jb);
    if (!jb) return JOBS_ENOMEM;

    /* Reserve a queue slot first, so a full queue costs no disk writes. */
    pthread_mutex_lock(&j->mu);
    int rc = !j->accepting ? JOBS_ESHUTDOWN
             : j->n_queued + j->reserved >= j->cfg.queue_size ? JOBS_EFULL : 0;
    if (rc == 0) {
        j->reserved++;
        jb->seq = j->next_seq++;
    }
    pthread_mutex_unlock(&j->mu);
    if (rc < 0) {
        free(jb);
        return rc;
    }

    new_id(jb->id);
    jb->state = JOB_QUEUED;
    jb->refs = 1;
    jb->params = *p;
    jb->params_json = nst_params_to_json(p);
    snprintf(jb->model, sizeof jb->model, "%s", nst_model_name(j->model));
    jb->n_styles = n_styles;
    jb->created_at = now_wall();
    jb->iterations = p->iterations;
    jb->eta_s = -1;

    /* Inputs first, job.json last: a directory without job.json is an
     * unfinished submit that reload removes. Nobody else knows this job yet,
     * so no locks are needed. */
    rc = jb->params_json ? 0 : JOBS_ENOMEM;
    if (rc == 0 && store_write(j->st, jb->id, "content", content->data, content->len) < 0)
        rc = JOBS_EIO;
    for (int i = 0; rc == 0 && i < n_styles; i++) {
        char name[32];
        snprintf(name, sizeof name, "style-%d", i);
        if (store_write(j->st, jb->id, name, styles[i].data, styles[i].len) < 0) rc = JOBS_EIO;
    }
    if (rc == 0) {
        char *text = job_record(jb);
        if (!text || store_write(j->st, jb->id, "job.json", text, strlen(text)) < 0)
            rc = JOBS_EIO;
        free(text);
    }

    pthread_mutex_lock(&j->mu);
    j->reserved--;
    if (rc == 0) rc = table_insert(j, jb);
    if (rc == 0) {
        queue_push(j, jb);
        job_bump(j, jb);
        update_gauges(j);
        pthread_cond_signal(&j->work_cv);
        if (out) snapshot(jb, out);
    }
    pthread_mutex_unlock(&j->mu);

    if (rc < 0) {
        store_remove(j->st, jb->id);
        job_free(jb);
        return rc;
    }
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "styles", n_styles);
    cJSON_AddNumberToObject(f, "iterations", p->iterations);
    cJSON_AddNumberToObject(f, "image_size", p->image_size);
    job_log("info", "job_submitted", jb, f);
    return 0;
}

int jobs_get(jobs *j, const char *id, job_info *out)
{
    pthread_mutex_lock(&j->mu);
    struct job *jb = job_find(j, id);
    if (jb) snapshot(jb, out);
    pthread_mutex_unlock(&j->mu);
    return jb ? 0 : JOBS_ENOTFOUND;
}

int jobs_list(jobs *j, int offset, int limit, job_info **items, int *n, int *total)
{
    *items = NULL;
    *n = 0;
    pthread_mutex_lock(&j->mu);
    *total = j->n_all;
    int count = j->n_all - offset;
    if (count > limit) count = limit;
    if (count > 0) {
        *items = calloc(count, sizeof **items);
        if (!*items) {
            pthread_mutex_unlock(&j->mu);
            return JOBS_ENOMEM;
        }
        for (int k = 0; k < count; k++) snapshot(j->all[j->n_all - 1 - offset - k], &(*items)[k]);
        *n = count;
    }
    pthread_mutex_unlock(&j->mu);
    return 0;
}

void jobs_list_free(job_info *items, int n)
{
    for (int i = 0; i < n; i++) job_info_free(&items[i]);
    free(items);
}

int jobs_delete(jobs *j, const char *id, job_info *out)
{
    pthread_mutex_lock(&j->mu);
    struct job *jb = job_find(j, id);
    if (!jb) {
        pthread_mutex_unlock(&j->mu);
        return JOBS_ENOTFOUND;
    }
    int what;
    double now = now_wall();
    if (jb->state == JOB_QUEUED || jb->state == JOB_RUNNING) {
        what = jb->state == JOB_QUEUED ? JOBS_CANCELED : JOBS_CANCELING;
        if (jb->state == JOB_QUEUED) queue_unlink(j, jb);
        jb->cancel = 1;
        jb->user_canceled = 1;
        jb->state = JOB_CANCELED;
        jb->finished_at = now;
        jb->eta_s = 0;
        job_bump(j, jb);
        update_gauges(j);
    } else {
        what = JOBS_REMOVED;
        table_remove(j, jb);
        jb->removed = 1;
        job_bump(j, jb);
        update_gauges(j);
    }
    if (out) snapshot(jb, out);
    double duration = jb->started_at > 0 ? now - jb->started_at : 0;
    jb->refs++;
    if (what == JOBS_REMOVED) job_unref_locked(jb);   /* the table's reference */
    pthread_mutex_unlock(&j->mu);

    if (what == JOBS_REMOVED) {
        pthread_mutex_lock(&j->io);
        store_remove(j->st, id);
        pthread_mutex_unlock(&j->io);
        job_log("info", "job_deleted", jb, NULL);
    } else {
        job_persist(j, jb);
        if (what == JOBS_CANCELED) job_file(j, jb, "checkpoint.png", NULL, 0);
        if (j->mx) metrics_job_finished(j->mx, "canceled", duration);
        job_log("info", "job_canceled", jb, NULL);
    }
    job_unref(j, jb);
    return what;
}

/* Read one file of a job after a state check (under mu). */
static int read_job_file(jobs *j, const char *id, const char *name, int need_success,
                         unsigned char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    pthread_mutex_lock(&j->mu);
    struct job *jb = job_find(j, id);
    int rc = !jb ? JOBS_ENOTFOUND
             : need_success && jb->state != JOB_SUCCEEDED ? JOBS_ESTATE
             : !need_success && !jb->has_preview ? JOBS_ENOFILE : 0;
    pthread_mutex_unlock(&j->mu);
    if (rc < 0) return rc;
    rc = store_read(j->st, id, name, data, len);
    if (rc == -ENOENT) return JOBS_ENOFILE;
    return rc < 0 ? JOBS_EIO : 0;
}

int jobs_read_result(jobs *j, const char *id, unsigned char **data, size_t *len)
{
    return read_job_file(j, id, "result.png", 1, data, len);
}

int jobs_read_preview(jobs *j, const char *id, unsigned char **data, size_t *len)
{
    return read_job_file(j, id, "preview.png", 0, data, len);
}

void jobs_get_stats(jobs *j, jobs_stats *out)
{
    memset(out, 0, sizeof *out);
    out->next_free_s = -1;
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->n_all; i++) {
        const struct job *jb = j->all[i];
        switch (jb->state) {
        case JOB_QUEUED: out->queued++; break;
        case JOB_RUNNING:
            out->running++;
            if (jb->eta_s >= 0 && (out->next_free_s < 0 || jb->eta_s < out->next_free_s))
                out->next_free_s = jb->eta_s;
            break;
        case JOB_SUCCEEDED: out->succeeded++; break;
        case JOB_FAILED: out->failed++; break;
        case JOB_CANCELED: out->canceled++; break;
        default: break;
        }
    }
    out->queued = j->n_queued + j->reserved;
    out->queue_size = j->cfg.queue_size;
    out->workers = j->cfg.workers;
    out->accepting = j->accepting;
    pthread_mutex_unlock(&j->mu);
}

int jobs_wait_change(jobs *j, unsigned long *seen, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&j->mu);
    while (j->version == *seen)
        if (pthread_cond_timedwait(&j->change_cv, &j->mu, &dl) == ETIMEDOUT) break;
    int changed = j->version != *seen;
    *seen = j->version;
    pthread_mutex_unlock(&j->mu);
    return changed;
}

void jobs_wake_watchers(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    j->version++;   /* a change no job has: sleepers return, streams see nothing new */
    pthread_cond_broadcast(&j->change_cv);
    pthread_mutex_unlock(&j->mu);
}

int jobs_expire(jobs *j)
{
    double now = now_wall();
    struct job *gone[64];
    int n = 0;
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->n_all && n < 64;) {
        struct job *jb = j->all[i];
        if (state_final(jb->state) && jb->finished_at > 0 &&
            jb->finished_at + j->cfg.job_ttl <= now) {
            table_remove(j, jb);
            jb->removed = 1;
            job_bump(j, jb);
            gone[n++] = jb;   /* keeps the table's reference until removed */
        } else {
            i++;
        }
    }
    if (n) update_gauges(j);
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&j->io);
        store_remove(j->st, gone[i]->id);
        pthread_mutex_unlock(&j->io);
        job_log("info", "job_expired", gone[i], NULL);
        job_unref(j, gone[i]);
    }
    return n;
}

void jobs_shutdown(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    j->accepting = 0;
    j->stopping = 1;
    for (int i = 0; i < j->n_all; i++)
        if (j->all[i]->state == JOB_RUNNING) j->all[i]->cancel = 1;
    pthread_cond_broadcast(&j->work_cv);
    pthread_cond_broadcast(&j->change_cv);
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < j->n_threads; i++) pthread_join(j->threads[i], NULL);
    j->n_threads = 0;
}

void jobs_free(jobs *j)
{
    if (!j) return;
    jobs_shutdown(j);
    for (int i = 0; i < j->n_all; i++) job_unref_locked(j->all[i]);
    free(j->all);
    free(j->threads);
    pthread_mutex_destroy(&j->mu);
    pthread_mutex_destroy(&j->io);
    pthread_cond_destroy(&j->work_cv);
    pthread_cond_destroy(&j->change_cv);
    free(j);
}
