/*
 * jobs.c — the job manager's public calls (see jobs.h): start, submit,
 * reading, delete, change notification, shutdown.
 *
 * What this file is not: it has no HTTP knowledge; the API layer turns
 * job_info snapshots into JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs_internal.h"
#include "log.h"

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
    case JOBS_ENOSPACE: return "the job store is short of space";
    case JOBS_ECORRUPT: return "the stored file is damaged";
    case JOBS_EUNAVAILABLE: return "the job store cannot be reached";
    case JOBS_EKEYREUSED: return "the idempotency key was used with other inputs";
    default: return "unknown error";
    }
}

/* Copy a live job's record for a caller (under mu). With a shared store
 * the queue is not in this process: a queued job's place is counted from
 * the copies. */
static int snapshot(jobs *j, const struct job *jb, job_info *out)
{
    if (job_info_copy(out, &jb->rec) < 0) return JOBS_ENOMEM;
    if (j->shared && jb->rec.state == JOB_QUEUED) {
        out->position = 1;
        for (int i = 0; i < j->n_all && j->all[i]->rec.seq < jb->rec.seq; i++)
            out->position += j->all[i]->rec.state == JOB_QUEUED;
    }
    return 0;
}

/* With a shared store, read a job this process has no copy of yet (it was
 * created elsewhere a moment ago). */
static void ensure_copy(jobs *j, const char *id)
{
    if (!j->shared || !job_id_valid(id)) return;
    pthread_mutex_lock(&j->mu);
    int have = jobs_find(j, id) != NULL;
    pthread_mutex_unlock(&j->mu);
    if (!have) jobs_cluster_refresh(j, id);
}

/* ================================================================ start */

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
    j->shared = store_shared(st);
    if (j->cfg.workers < 1 && !j->shared) j->cfg.workers = 1;
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

    if ((j->shared ? jobs_cluster_start(j) : jobs_reload(j)) < 0) {
        snprintf(err, errlen, "cannot list the job store");
        jobs_free(j);
        return JOBS_EIO;
    }
    int rc = j->cfg.workers > 0 ? jobs_workers_start(j, err, errlen) : 0;
    if (rc < 0) {
        jobs_free(j);
        return rc;
    }
    *out = j;
    return 0;
}

/* ================================================================ submit */

/* Room for one more queued job (under mu)? 0, JOBS_ESHUTDOWN or JOBS_EFULL. */
static int can_accept_locked(jobs *j)
{
    return !j->accepting                                        ? JOBS_ESHUTDOWN
           : j->n_queued + j->reserved >= j->cfg.queue_size ? JOBS_EFULL
                                                                : 0;
}

int jobs_can_accept(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    int rc = j->shared ? (j->accepting ? 0 : JOBS_ESHUTDOWN) : can_accept_locked(j);
    pthread_mutex_unlock(&j->mu);
    if (rc == 0 && j->shared) {
        jobs_stats st = {0};
        rc = jobs_cluster_stats(j, &st);
        if (rc == 0 && st.queued >= j->cfg.queue_size) rc = JOBS_EFULL;
    }
    return rc;
}

/* A new job's record from its params (seq already set). */
static int job_init(jobs *j, struct job *jb, const nst_params *p, int n_styles, const char *owner,
                    const cJSON *webhook)
{
    job_info *r = &jb->rec;
    job_id_new(r->id);
    snprintf(r->owner, sizeof r->owner, "%s", owner ? owner : "");
    r->state = JOB_QUEUED;
    jb->refs = 1;
    jb->params = *p;
    char *text = nst_params_to_json(p);
    r->params = text ? cJSON_Parse(text) : NULL;
    free(text);
    snprintf(r->model, sizeof r->model, "%s", nst_model_name(j->model));
    r->n_styles = n_styles;
    r->created_at = jobs_now();
    r->iterations = p->iterations;
    r->eta_s = -1;
    r->webhook = webhook ? cJSON_Duplicate(webhook, 1) : NULL;
    return r->params && (r->webhook || !webhook) ? 0 : JOBS_ENOMEM;
}

void jobs_mask_blob(int k, char *name, size_t len)
{
    if (k < NST_MAX_STYLES) snprintf(name, len, "style-mask-%d", k);
    else snprintf(name, len, "content-mask");
}

int jobs_submit(jobs *j, const nst_params *p, const jobs_input *content, const jobs_input *styles,
                int n_styles, const jobs_request *req, job_info *out)
{
    static const jobs_request none = {0};
    if (!req) req = &none;
    const char *owner = req->owner, *idem_key = req->idem_key;
    if (n_styles < 1 || n_styles > NST_MAX_STYLES) return JOBS_ESTATE;
    if (idem_key && idem_key[0] && !jobs_idem_key_valid(idem_key)) return JOBS_ESTATE;
    struct job *jb = calloc(1, sizeof *jb);
    if (!jb) return JOBS_ENOMEM;
    int rc = job_init(j, jb, p, n_styles, owner, req->webhook);
    if (rc == 0 && idem_key && idem_key[0]) {
        snprintf(jb->rec.idem_key, sizeof jb->rec.idem_key, "%s", idem_key);
        rc = jobs_idem_digest(p, content, styles, n_styles, req, jb->rec.idem_digest);
    }
    /* An earlier job with the key answers before any limit applies. */
    job_info earlier;
    if (rc == 0) rc = jobs_idem_begin(j, jb, &earlier);
    if (rc == JOBS_REPLAYED || rc == JOBS_EKEYREUSED) {
        if (out) *out = earlier;
        else job_info_free(&earlier);
    }
    if (rc != 0) {
        jobs_job_free(jb);
        return rc;
    }

    /* Reserve a queue slot first, so a full queue costs no store writes.
     * A shared store's queue is counted there, and numbers the job. */
    rc = j->shared ? jobs_can_accept(j) : 0;
    pthread_mutex_lock(&j->mu);
    if (rc == 0 && !j->shared) rc = can_accept_locked(j);
    if (rc == 0) {
        j->reserved++;
        if (!j->shared) jb->rec.seq = j->next_seq++;
    } else {
        jobs_idem_end_locked(j, jb);
    }
    pthread_mutex_unlock(&j->mu);
    if (rc < 0) {
        jobs_idem_abandon(j, jb);
        jobs_job_free(jb);
        return rc;
    }

    /* Inputs first, the record last: a job without a record is an
     * unfinished submit that reload removes. Nobody else knows this job
     * yet, so no locks are needed. */
    const jobs_input *masks[NST_MAX_STYLES + 1] = {0}; /* as jobs_mask_blob numbers them */
    int n_masks = 0;
    for (int i = 0; req->style_masks && i < n_styles; i++)
        if (req->style_masks[i].len) masks[i] = &req->style_masks[i];
    if (req->content_mask && req->content_mask->len) masks[NST_MAX_STYLES] = req->content_mask;
    unsigned long long need = content->len, have = 0;
    for (int i = 0; i < n_styles; i++) need += styles[i].len;
    for (int k = 0; k <= NST_MAX_STYLES; k++) {
        if (!masks[k]) continue;
        need += masks[k]->len;
        jb->rec.masks |= 1 << k;
        n_masks++;
    }
    if (rc == 0 && store_free_space(j->st, &have) == 0 && have < j->cfg.min_free_disk + need)
        rc = JOBS_ENOSPACE;
    if (rc == 0)
        rc = jobs_store_code(store_blob_put(j->st, jb->rec.id, "content", content->data, content->len,
                                       STORE_UNFENCED));
    for (int i = 0; rc == 0 && i < n_styles; i++) {
        char name[32];
        snprintf(name, sizeof name, "style-%d", i);
        rc = jobs_store_code(store_blob_put(j->st, jb->rec.id, name, styles[i].data, styles[i].len,
                                       STORE_UNFENCED));
    }
    for (int k = 0; rc == 0 && k <= NST_MAX_STYLES; k++) {
        if (!masks[k]) continue;
        char name[32];
        jobs_mask_blob(k, name, sizeof name);
        rc = jobs_store_code(store_blob_put(j->st, jb->rec.id, name, masks[k]->data, masks[k]->len,
                                            STORE_UNFENCED));
    }
    if (rc == 0 && j->shared) {
        rc = store_enqueue(j->st, &jb->rec, j->cfg.queue_size);
        rc = rc == -EAGAIN ? JOBS_EFULL : jobs_store_code(rc);
    } else if (rc == 0) {
        rc = jobs_store_code(store_record_put(j->st, &jb->rec, STORE_UNFENCED));
    }

    pthread_mutex_lock(&j->mu);
    j->reserved--;
    /* With a shared store the feed may have brought a copy of the job
     * already (ours replaces it), or a worker of this process may run it
     * already (its job stays, ours goes). */
    struct job *taken = NULL;
    if (rc == 0 && j->shared) {
        struct job *copy = jobs_find(j, jb->rec.id);
        if (copy && copy->local_run) {
            taken = copy;
        } else if (copy) {
            jobs_table_remove(j, copy);
            jobs_unref_locked(copy);
        }
    }
    if (rc == 0 && !taken) rc = jobs_table_insert(j, jb);
    jobs_idem_end_locked(j, jb);   /* the key is the table's job's now, or free */
    if (rc == 0) {
        struct job *now = taken ? taken : jb;
        if (!j->shared) jobs_queue_push(j, jb);
        jobs_bump(j, now);
        jobs_update_gauges(j);
        pthread_cond_signal(&j->work_cv);
        if (out && snapshot(j, now, out) < 0) memset(out, 0, sizeof *out);
    }
    char id[JOB_ID_LEN + 1];   /* the table's job may be replaced by a fresher copy now */
    snprintf(id, sizeof id, "%s", jb->rec.id);
    pthread_mutex_unlock(&j->mu);
    if (rc == 0 && taken) jobs_job_free(jb);

    if (rc < 0) {
        if (rc == JOBS_ENOSPACE) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddNumberToObject(f, "free_bytes", (double)have);
            cJSON_AddNumberToObject(f, "needed_bytes", (double)(need + j->cfg.min_free_disk));
            log_event("warn", "job_refused_no_space", f);
        }
        if (jb->rec.id[0]) store_job_remove(j->st, jb->rec.id);
        jobs_idem_abandon(j, jb);
        jobs_job_free(jb);
        return rc;
    }
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "styles", n_styles);
    if (n_masks) cJSON_AddNumberToObject(f, "masks", n_masks);
    cJSON_AddNumberToObject(f, "iterations", p->iterations);
    cJSON_AddNumberToObject(f, "image_size", p->image_size);
    if (owner && owner[0]) cJSON_AddStringToObject(f, "owner", owner);
    if (idem_key && idem_key[0]) cJSON_AddBoolToObject(f, "idempotency_key", 1);
    cJSON_AddStringToObject(f, "job", id);
    log_event("info", "job_submitted", f);
    return 0;
}

/* ================================================================ reading */

int jobs_space_low(jobs *j, unsigned long long *free_bytes)
{
    unsigned long long have = 0;
    int low = store_free_space(j->st, &have) == 0 && have < j->cfg.min_free_disk;
    if (free_bytes) *free_bytes = have;
    return low;
}

int jobs_get(jobs *j, const char *id, job_info *out)
{
    ensure_copy(j, id);
    pthread_mutex_lock(&j->mu);
    struct job *jb = jobs_find(j, id);
    int rc = jb ? snapshot(j, jb, out) : JOBS_ENOTFOUND;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* Whether the filter sees a job's record. */
static int filter_sees(const jobs_filter *f, const job_info *r)
{
    return !f || ((!f->owner || strcmp(f->owner, r->owner) == 0) &&
                  (!f->states || (f->states & (1u << r->state))));
}

int jobs_list(jobs *j, const jobs_filter *filter, int offset, int limit, job_info **items, int *n,
              int *total)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    pthread_mutex_lock(&j->mu);
    int rc = 0, cap = 0;
    for (int i = j->n_all - 1; i >= 0; i--) {   /* newest first */
        struct job *jb = j->all[i];
        if (!filter_sees(filter, &jb->rec)) continue;
        int k = (*total)++ - offset;
        if (rc < 0 || k < 0 || k >= limit) continue;
        if (!cap) {
            cap = limit < j->n_all ? limit : j->n_all;
            if (!(*items = calloc((size_t)cap, sizeof **items))) rc = JOBS_ENOMEM;
        }
        if (rc == 0) rc = snapshot(j, jb, &(*items)[k]);
        if (rc == 0) *n = k + 1;
    }
    pthread_mutex_unlock(&j->mu);
    if (rc < 0) {
        jobs_list_free(*items, *n);
        *items = NULL;
        *n = 0;
    }
    return rc;
}

void jobs_list_free(job_info *items, int n)
{
    for (int i = 0; i < n; i++) job_info_free(&items[i]);
    free(items);
}

/* A blob of job id failed its seal: log it; a damaged result fails the job. */
static int damaged(jobs *j, const char *id, const char *name, int result)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "job", id);
    cJSON_AddStringToObject(f, "file", name);
    log_event("error", "job_file_damaged", f);
    if (!result) return JOBS_ENOFILE;
    pthread_mutex_lock(&j->mu);
    struct job *jb = jobs_find(j, id);
    if (jb && jb->rec.state == JOB_SUCCEEDED) {
        jb->rec.state = JOB_FAILED;
        snprintf(jb->rec.error_code, sizeof jb->rec.error_code, "result_corrupt");
        snprintf(jb->rec.error_message, sizeof jb->rec.error_message,
                 "the stored result is damaged (its checksum does not match); run the job again");
        jb->refs++;
        jobs_bump(j, jb);
        jobs_update_gauges(j);
    } else {
        jb = NULL;
    }
    pthread_mutex_unlock(&j->mu);
    if (jb) {
        jobs_persist(j, jb, 0);
        jobs_unref(j, jb);
    }
    return JOBS_ECORRUPT;
}

/* Read one blob of a job after a state check. */
static int read_job_file(jobs *j, const char *id, const char *name, int need_success,
                         unsigned char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    ensure_copy(j, id);
    pthread_mutex_lock(&j->mu);
    struct job *jb = jobs_find(j, id);
    int rc = !jb                                                 ? JOBS_ENOTFOUND
             : need_success && jb->rec.state != JOB_SUCCEEDED ? JOBS_ESTATE
             : !need_success && !jb->rec.has_preview          ? JOBS_ENOFILE
                                                                 : 0;
    pthread_mutex_unlock(&j->mu);
    if (rc < 0) return rc;
    rc = store_blob_get(j->st, id, name, data, len);
    if (rc == -EBADMSG) return damaged(j, id, name, need_success);
    if (rc == -ENOENT) return JOBS_ENOFILE;
    return jobs_store_code(rc);
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
        const job_info *r = &j->all[i]->rec;
        switch (r->state) {
        case JOB_QUEUED: out->queued++; break;
        case JOB_RUNNING:
            out->running++;
            if (r->eta_s >= 0 && (out->next_free_s < 0 || r->eta_s < out->next_free_s))
                out->next_free_s = r->eta_s;
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
    if (j->shared) jobs_cluster_stats(j, out);   /* unreachable: this process's view */
}

/* ================================================================ delete */

int jobs_delete(jobs *j, const char *id, job_info *out)
{
    ensure_copy(j, id);
    pthread_mutex_lock(&j->mu);
    struct job *jb = jobs_find(j, id);
    if (!jb) {
        pthread_mutex_unlock(&j->mu);
        return JOBS_ENOTFOUND;
    }
    job_info *r = &jb->rec;
    int what;
    double now = jobs_now();
    if (r->state == JOB_QUEUED || r->state == JOB_RUNNING) {
        what = r->state == JOB_QUEUED ? JOBS_CANCELED : JOBS_CANCELING;
        if (r->state == JOB_QUEUED) jobs_queue_unlink(j, jb);
        atomic_store(&jb->cancel, 1);
        jb->user_canceled = 1;
        r->state = JOB_CANCELED;
        r->finished_at = now;
        r->eta_s = 0;
    } else {
        what = JOBS_REMOVED;
        jobs_table_remove(j, jb);
        jb->removed = 1;
    }
    jobs_bump(j, jb);
    jobs_update_gauges(j);
    if (out && snapshot(j, jb, out) < 0) memset(out, 0, sizeof *out);
    double duration = r->started_at > 0 ? now - r->started_at : 0;
    jb->refs++;
    if (what == JOBS_REMOVED) jobs_unref_locked(jb);   /* the table's reference */
    pthread_mutex_unlock(&j->mu);

    if (what == JOBS_REMOVED) {
        jobs_store_remove(j, id);
        jobs_log("info", "job_deleted", jb, NULL);
    } else {
        jobs_persist(j, jb, 0);
        if (what == JOBS_CANCELED) jobs_blob(j, jb, "checkpoint.png", NULL, 0, 0);
        if (j->mx) metrics_job_finished(j->mx, JOB_CANCELED, duration);
        jobs_log("info", "job_canceled", jb, NULL);
    }
    jobs_unref(j, jb);
    return what;
}

/* ================================================================ watching */

int jobs_wait_change(jobs *j, unsigned long *seen, int timeout_ms)
{
    struct timespec dl = jobs_deadline(timeout_ms);
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

/* ================================================================ shutdown */

void jobs_shutdown(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    j->accepting = 0;
    j->stopping = 1;
    for (int i = 0; i < j->n_all; i++)
        if (j->all[i]->rec.state == JOB_RUNNING) atomic_store(&j->all[i]->cancel, 1);
    pthread_cond_broadcast(&j->work_cv);
    pthread_cond_broadcast(&j->change_cv);
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < j->n_threads; i++) pthread_join(j->threads[i], NULL);
    j->n_threads = 0;
    if (j->shared) jobs_cluster_stop(j);
}

void jobs_free(jobs *j)
{
    if (!j) return;
    jobs_shutdown(j);
    for (int i = 0; i < j->n_all; i++) jobs_unref_locked(j->all[i]);
    free(j->all);
    free(j->threads);
    pthread_mutex_destroy(&j->mu);
    pthread_mutex_destroy(&j->io);
    pthread_cond_destroy(&j->work_cv);
    pthread_cond_destroy(&j->change_cv);
    free(j);
}
