/*
 * worker.c — the job queue and the worker pool (see jobs_internal.h): a
 * worker takes the oldest queued job, claims it in the store, runs
 * nst_transfer on it with progress, previews and checkpoints going to the
 * store, and records how it ended. The job's webhook events (start,
 * progress, completed) are queued here, in the process that runs the job.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobs_internal.h"
#include "log.h"

#define SPACE_RETRY_MS 2000   /* how often a worker short of space looks again */
#define SHARED_PROGRESS_S 0.25   /* progress writes to a shared store, at most this often */

/* ================================================================ queue */

/* Number the queued jobs 1…n; a job whose place changed is a change. */
static void queue_renumber(jobs *j)
{
    int pos = 1;
    for (struct job *q = j->qhead; q; q = q->qnext, pos++) {
        if (q->rec.position != pos) {
            q->rec.position = pos;
            jobs_bump(j, q);
        }
    }
}

void jobs_queue_push(jobs *j, struct job *jb)
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
    jb->rec.position = 0;
    j->n_queued--;
    queue_renumber(j);
    return jb;
}

void jobs_queue_unlink(jobs *j, struct job *jb)
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
    jb->rec.position = 0;
    j->n_queued--;
    queue_renumber(j);
}

/* ================================================================ running a job */

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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
    case NST_EFORMAT: return "unsupported_image_format";
    case NST_ETOOBIG: return "image_too_large";
    default: return "internal_error";
    }
}

typedef struct {
    jobs *j;
    struct job *jb;
    int resume_iteration;
    double last_t;              /* monotonic time of the previous callback */
    double persisted_t;         /* … and of the last record written */
    double hook_t;              /* … and of the last progress webhook (webhooks_event) */
    double checkpoint_t;        /* … and of the last checkpoint (or the run's start) */
} run_ctx;

/* Whether img is larger than preview_max_size: its preview is then a
 * downscaled copy, and its full-size checkpoint is encoded on its own
 * schedule (checkpoint_interval_s), not at every preview. */
static int print_size(const jobs *j, const nst_image *img)
{
    int most = j->cfg.preview_max_size;
    return most > 0 && (img->w > most || img->h > most);
}

/* preview.png of a print-size job at img: a copy whose longest side is
 * preview_max_size. 1 when stored. */
static int store_small_preview(jobs *j, struct job *jb, const nst_image *img)
{
    nst_image small = {0};
    unsigned char *spng = NULL;
    size_t slen = 0;
    int ok = nst_image_fit(img, j->cfg.preview_max_size, &small) == NST_OK &&
             nst_image_encode_png(&small, &spng, &slen) == 0 &&
             jobs_blob(j, jb, "preview.png", spng, slen, 1) == 0;
    nst_image_free(&small);
    free(spng);
    return ok;
}

/* The engine's progress callback: numbers, ETA, preview and checkpoint.
 * An image the engine reports is the checkpoint to resume from. While it
 * fits preview_max_size it is stored each time, and its PNG is the preview
 * too when the job asked for previews (preview_every > 0). A larger one
 * (print_size) gets a downscaled preview each time and its full-size
 * checkpoint at most every checkpoint_interval_s (a full-size encode takes
 * seconds at print sizes), the last report's included: the result the
 * worker stores right after supersedes it. */
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
    int preview = jb->params.preview_every > 0, stored = 0, previewed = 0;
    if (p->image && print_size(j, p->image)) {
        previewed = preview && store_small_preview(j, jb, p->image);
        if (t - rc->checkpoint_t >= j->cfg.checkpoint_interval_s &&
            nst_image_encode_png(p->image, &png, &len) == 0)
            stored = jobs_blob(j, jb, "checkpoint.png", png, len, 1) == 0;
    } else if (p->image && nst_image_encode_png(p->image, &png, &len) == 0) {
        stored = jobs_blob(j, jb, "checkpoint.png", png, len, 1) == 0;
        previewed = stored && preview && jobs_blob(j, jb, "preview.png", png, len, 1) == 0;
    }
    free(png);
    if (stored) rc->checkpoint_t = t;

    pthread_mutex_lock(&j->mu);
    job_info *r = &jb->rec;
    r->iteration = p->iteration;
    if (p->iterations > 0) r->iterations = p->iterations;
    r->has_loss = 1;
    r->loss_total = p->loss_total;
    r->loss_content = p->loss_content;
    r->loss_style = p->loss_style;
    r->loss_tv = p->loss_tv;
    r->elapsed_s = jb->elapsed_prev + p->elapsed_s;
    if (p->stopped) snprintf(r->stop_reason, sizeof r->stop_reason, "%s", nst_stop_name(p->stopped));
    int done = p->iteration - rc->resume_iteration;
    if (done <= 0) done = p->iteration;
    double left = r->iterations - r->iteration;
    r->eta_s = done > 0 ? p->elapsed_s / done * (left > 0 ? left : 0) : -1;
    r->has_preview |= previewed;
    if (stored) r->checkpoint_iteration = p->iteration;
    jobs_bump(j, jb);
    if (r->webhook) webhooks_event(j->cfg.hooks, r, WEBHOOK_PROGRESS, &rc->hook_t);
    pthread_mutex_unlock(&j->mu);

    /* Progress reaches the store with each checkpoint; with a shared store,
     * where other processes read it, at least every SHARED_PROGRESS_S. */
    if (stored || previewed || (j->shared && t - rc->persisted_t >= SHARED_PROGRESS_S)) {
        rc->persisted_t = t;
        jobs_persist(j, jb, 1);
    }
}

/* Read and decode a stored image of job jb. */
static int load_image(jobs *j, const struct job *jb, const char *name, nst_image *img,
                      nst_error *err)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = store_blob_get(j->st, jb->rec.id, name, &data, &len);
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
    nst_image styles[NST_MAX_STYLES], masks_img[NST_MAX_STYLES + 1];
    memset(styles, 0, sizeof styles);
    memset(masks_img, 0, sizeof masks_img);
    nst_masks masks = {.content = NULL};
    run_ctx ctx = {j, jb, 0, now_mono(), 0, 0, now_mono()};
    nst_callbacks cb = {.progress = on_progress, .user = &ctx, .cancel = &jb->cancel,
                        .threads = j->cfg.job_threads};

    int rc = load_image(j, jb, "content", &content, err);
    for (int i = 0; rc == 0 && i < jb->rec.n_styles; i++) {
        char name[32];
        snprintf(name, sizeof name, "style-%d", i);
        rc = load_image(j, jb, name, &styles[i], err);
    }
    for (int k = 0; rc == 0 && k <= NST_MAX_STYLES; k++) {
        if (!(jb->rec.masks >> k & 1)) continue;
        char name[32];
        jobs_mask_blob(k, name, sizeof name);
        rc = load_image(j, jb, name, &masks_img[k], err);
        if (k < NST_MAX_STYLES) masks.style[k] = &masks_img[k];
        else masks.content = &masks_img[k];
    }
    pthread_mutex_lock(&j->mu);
    int ck = jb->rec.checkpoint_iteration;
    pthread_mutex_unlock(&j->mu);
    if (rc == 0 && ck > 0) {
        nst_error ignored;
        if (load_image(j, jb, "checkpoint.png", &resume, &ignored) == 0) {
            cb.resume = &resume;
            cb.resume_iteration = ck;
            ctx.resume_iteration = ck;
        }
    }
    if (rc == 0) {   /* the engine's share of max_job_memory, as the submit estimated it */
        nst_params p = jb->params;
        int wh[2 * (NST_MAX_STYLES + 1)] = {content.w, content.h};
        int mask_wh[2 * (NST_MAX_STYLES + 1)];
        const int *mwh = nst_transfer_sizes(styles, jb->rec.n_styles,
                                            jb->rec.masks ? &masks : NULL, wh + 2, mask_wh);
        jobs_memory(j->model, j->cfg.max_job_memory, &p, wh, jb->rec.n_styles, mwh, NULL, NULL);
        rc = nst_transfer_masked(j->model, &p, &content, styles, jb->rec.n_styles,
                                 jb->rec.masks ? &masks : NULL, &cb, out, err);
    }
    nst_image_free(&content);
    nst_image_free(&resume);
    for (int i = 0; i < jb->rec.n_styles; i++) nst_image_free(&styles[i]);
    for (int k = 0; k <= NST_MAX_STYLES; k++) nst_image_free(&masks_img[k]);
    return rc;
}

/* Encode img and store it as blob `name` of jb (fenced). */
static int store_png(jobs *j, struct job *jb, const char *name, const nst_image *img)
{
    unsigned char *png = NULL;
    size_t len = 0;
    int rc = nst_image_encode_png(img, &png, &len) != 0 ? JOBS_ENOMEM
                                                          : jobs_blob(j, jb, name, png, len, 1);
    free(png);
    return rc;
}

/* Wait until the store has min_free_disk free again, looking every
 * SPACE_RETRY_MS (and at every change of a job); after a write that found
 * the store full (pause_first), wait one period even if it looks free. 0
 * once it has room; -1 when the manager stops or jb (may be NULL) was
 * canceled meanwhile. Logs once. */
static int wait_for_space(jobs *j, struct job *jb, int pause_first)
{
    int logged = 0;
    for (int round = 0;; round++) {
        unsigned long long have = 0;
        int low = jobs_space_low(j, &have);
        if (!low && !(pause_first && round == 0)) return 0;
        if (!logged) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddNumberToObject(f, "free_bytes", (double)have);
            cJSON_AddNumberToObject(f, "min_free_disk", (double)j->cfg.min_free_disk);
            if (jb) jobs_log("warn", "job_waiting_for_space", jb, f);
            else log_event("warn", "workers_waiting_for_space", f);
            logged = 1;
        }
        struct timespec dl = jobs_deadline(SPACE_RETRY_MS);
        pthread_mutex_lock(&j->mu);
        int stop = j->stopping || (jb && jb->user_canceled);
        if (!stop) pthread_cond_timedwait(&j->change_cv, &j->mu, &dl);
        stop = j->stopping || (jb && jb->user_canceled);
        pthread_mutex_unlock(&j->mu);
        if (stop) return -1;
    }
}

/* After the engine returned: result, final state, persistence, metrics. A
 * result the store has no room for is kept and stored once there is room
 * (a shutdown meanwhile queues the job again from its last checkpoint). */
void jobs_finish(jobs *j, struct job *jb, int rc, nst_image *out, nst_error *err)
{
    pthread_mutex_lock(&j->mu);
    int user_canceled = jb->user_canceled, lost = jb->lost && !user_canceled;
    if (lost) j->n_running--;
    pthread_mutex_unlock(&j->mu);
    if (lost) {   /* the new owner writes from now on */
        jobs_log("warn", "job_lost", jb, NULL);
        return;
    }
    if (rc == NST_OK) {
        int src = store_png(j, jb, "result.png", out);
        while (src == JOBS_ENOSPACE && wait_for_space(j, jb, 1) == 0)
            src = store_png(j, jb, "result.png", out);
        if (src == JOBS_ENOSPACE) rc = NST_ECANCELED;   /* stopping: resume from the checkpoint */
        else if (src == JOBS_ENOMEM) rc = nst_error_set(err, NST_ENOMEM, "", "could not encode the result");
        else if (src < 0) rc = nst_error_set(err, NST_EIO, "", "could not store the result");
    } else if (rc == NST_ECANCELED && out->data && !user_canceled) {
        /* Shutdown: keep the newest image the engine left, if any. */
        if (store_png(j, jb, "checkpoint.png", out) == 0) {
            pthread_mutex_lock(&j->mu);
            jb->rec.checkpoint_iteration = jb->rec.iteration;
            pthread_mutex_unlock(&j->mu);
        }
    }

    pthread_mutex_lock(&j->mu);
    job_info *r = &jb->rec;
    double now = jobs_now();
    int counted = 0;            /* a user cancel was counted by jobs_delete */
    if (jb->user_canceled) {
        counted = 1;
    } else if (rc == NST_OK) {
        r->state = JOB_SUCCEEDED;
        r->eta_s = 0;
        r->finished_at = now;
    } else if (rc == NST_ECANCELED) {
        /* Stopped by shutdown: queued again for the next start. */
        r->state = JOB_QUEUED;
        r->iteration = r->checkpoint_iteration;
        jb->elapsed_prev = r->elapsed_s;
        r->eta_s = -1;
        counted = 1;
    } else {
        r->state = JOB_FAILED;
        r->finished_at = now;
        snprintf(r->error_code, sizeof r->error_code, "%s", failure_code(rc));
        snprintf(r->error_message, sizeof r->error_message, "%s",
                 err->message[0] ? err->message : nst_strerror(rc));
    }
    j->n_running--;
    job_state st = r->state;
    double duration = r->started_at > 0 ? now - r->started_at : 0;
    jobs_bump(j, jb);
    jobs_update_gauges(j);
    pthread_mutex_unlock(&j->mu);

    jobs_persist(j, jb, 1);
    if (job_state_final(st)) jobs_blob(j, jb, "checkpoint.png", NULL, 0, 1);
    if (job_state_final(st)) {   /* after the store has the final state */
        pthread_mutex_lock(&j->mu);
        if (jb->rec.webhook) webhooks_event(j->cfg.hooks, &jb->rec, WEBHOOK_COMPLETED, NULL);
        pthread_mutex_unlock(&j->mu);
    }
    if (!counted && j->mx) metrics_job_finished(j->mx, st, duration);

    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "state", job_state_name(st));
    cJSON_AddNumberToObject(f, "duration_s", duration);
    if (st == JOB_FAILED) cJSON_AddStringToObject(f, "error", r->error_message);
    jobs_log(st == JOB_FAILED ? "warn" : "info", st == JOB_QUEUED ? "job_suspended" : "job_finished",
             jb, f);
}

/* Mark the oldest queued job running (under mu, which it unlocks) and
 * claim it in the store. Returns the job with a reference for the worker,
 * or NULL: when the store says another worker has the job (-EBUSY) this
 * one leaves it alone and writes nothing; when the store fails, the job
 * fails with the reason. */
static struct job *take_job(jobs *j)
{
    struct job *jb = queue_pop(j);
    job_info *r = &jb->rec;
    job_state was = r->state;
    double started = r->started_at;
    r->state = JOB_RUNNING;
    atomic_store(&jb->cancel, 0);
    if (r->started_at == 0) r->started_at = jobs_now();
    snprintf(r->model, sizeof r->model, "%s", nst_model_name(j->model));
    r->attempts++;   /* runs started, counting resumes after a restart */
    jb->refs++;
    j->n_running++;
    jobs_bump(j, jb);
    jobs_update_gauges(j);
    job_info running;
    int rc = job_info_copy(&running, r) < 0 ? -ENOMEM : 0;
    pthread_mutex_unlock(&j->mu);

    pthread_mutex_lock(&j->io);
    store_fence fence = STORE_UNFENCED;
    if (rc == 0) {
        rc = store_claim(j->st, &running, &fence);
        job_info_free(&running);
    }
    pthread_mutex_unlock(&j->io);

    pthread_mutex_lock(&j->mu);
    jb->fence = fence;
    if (rc == -EBUSY) {   /* not ours: back to what it was, without a write */
        r->state = was;
        r->started_at = started;
        r->attempts--;
        j->n_running--;
        jobs_bump(j, jb);
        jobs_update_gauges(j);
    }
    pthread_mutex_unlock(&j->mu);
    if (rc == 0) return jb;

    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "error", strerror(-rc));
    jobs_log(rc == -EBUSY ? "warn" : "error", "job_claim_refused", jb, f);
    if (rc != -EBUSY) {
        nst_error err;
        nst_error_set(&err, NST_EIO, "", "the job store refused the job: %s", strerror(-rc));
        nst_image none = {0};
        jobs_finish(j, jb, NST_EIO, &none, &err);
    }
    jobs_unref(j, jb);
    return NULL;
}

/* The next job from this process's queue, claimed, with a reference for
 * the worker; NULL when there is none now; *stop when the manager stops. */
static struct job *next_local(jobs *j, int *stop)
{
    pthread_mutex_lock(&j->mu);
    while (!j->stopping && !j->qhead) pthread_cond_wait(&j->work_cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
    if (wait_for_space(j, NULL, 0) < 0) {
        *stop = 1;
        return NULL;
    }
    pthread_mutex_lock(&j->mu);
    if (j->stopping || !j->qhead) {
        *stop = j->stopping;
        pthread_mutex_unlock(&j->mu);
        return NULL;
    }
    return take_job(j);   /* unlocks mu */
}

/* The same from a shared store's queue. */
static struct job *next_shared(jobs *j, int *stop)
{
    pthread_mutex_lock(&j->mu);
    *stop = j->stopping;
    pthread_mutex_unlock(&j->mu);
    if (*stop) return NULL;
    if (wait_for_space(j, NULL, 0) < 0) {
        *stop = 1;
        return NULL;
    }
    return jobs_cluster_take(j);
}

/* A worker: take the oldest queued job, run it, repeat until shutdown. A
 * job starts only while the store has its free-space floor. */
static void *worker_main(void *arg)
{
    jobs *j = arg;
    for (;;) {
        int stop = 0;
        struct job *jb = j->shared ? next_shared(j, &stop) : next_local(j, &stop);
        if (stop) break;
        if (!jb) continue;
        pthread_mutex_lock(&j->mu);
        int resume = jb->rec.checkpoint_iteration;
        pthread_mutex_unlock(&j->mu);

        cJSON *f = cJSON_CreateObject();
        if (resume > 0) cJSON_AddNumberToObject(f, "resume_iteration", resume);
        jobs_log("info", "job_started", jb, f);
        pthread_mutex_lock(&j->mu);
        if (jb->rec.webhook) webhooks_event(j->cfg.hooks, &jb->rec, WEBHOOK_START, NULL);
        pthread_mutex_unlock(&j->mu);

        nst_image out = {0};
        nst_error err;
        memset(&err, 0, sizeof err);
        int rc = run_transfer(j, jb, &out, &err);
        jobs_finish(j, jb, rc, &out, &err);
        if (j->shared) {
            pthread_mutex_lock(&j->mu);
            int again = jb->rec.state == JOB_QUEUED;   /* suspended by a shutdown */
            pthread_mutex_unlock(&j->mu);
            jobs_cluster_release(j, jb, again);
        }
        nst_image_free(&out);
        jobs_unref(j, jb);
    }
    return NULL;
}

/* Threads per job: as configured, or the cores shared out over the
 * workers. The engine starts them from the worker thread, so they inherit
 * its lower priority. */
static int threads_per_job(const jobs_config *cfg)
{
    if (cfg->job_threads > 0) return cfg->job_threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (int)(cores > 0 ? cores : 1) / (cfg->workers > 0 ? cfg->workers : 1);
    return n < 1 ? 1 : n;
}

int jobs_workers_start(jobs *j, char *err, size_t errlen)
{
    j->cfg.job_threads = threads_per_job(&j->cfg);
    j->threads = calloc((size_t)j->cfg.workers, sizeof *j->threads);
    for (int i = 0; j->threads && i < j->cfg.workers; i++) {
        if (pthread_create(&j->threads[i], NULL, worker_main, j) != 0) break;
        j->n_threads++;
    }
    if (j->n_threads == 0) {
        snprintf(err, errlen, "cannot start worker threads");
        return JOBS_ENOMEM;
    }
    return 0;
}
