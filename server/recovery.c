/*
 * recovery.c — the job manager at start-up and over time (see
 * jobs_internal.h): reload every job the store holds, queue again those
 * that had not finished, and expire finished jobs after their TTL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jobs_internal.h"
#include "log.h"

#define EXPIRE_BATCH 64   /* jobs removed per jobs_expire call at most */

struct job *jobs_job_load(jobs *j, const char *id, int tidy, const char **why)
{
    struct job *jb = calloc(1, sizeof *jb);
    if (!jb) {
        *why = "out of memory";
        return NULL;
    }
    int rc = store_record_get(j->st, id, &jb->rec, why);
    if (rc == -ENOENT) {
        if (tidy) store_job_remove(j->st, id);
        *why = tidy ? "incomplete submit removed" : "no record";
    } else if (rc == -EBADMSG) {
        *why = tidy && store_job_quarantine(j->st, id) == 0
                   ? "unusable record: the job was moved aside"
                   : "unusable record";
    } else if (rc < 0) {
        *why = "record unreadable";
    }
    char *text = rc == 0 ? cJSON_PrintUnformatted(jb->rec.params) : NULL;
    nst_error err;
    nst_limits none = {0, 0};   /* accepted once; later limit changes do not apply */
    nst_params_default(&jb->params, j->model);
    if (rc == 0 && (!text || nst_params_parse(&jb->params, text, strlen(text), &none, &err) != 0)) {
        *why = "stored params no longer valid";
        rc = -EINVAL;
    }
    free(text);
    if (rc < 0) {
        jobs_job_free(jb);
        return NULL;
    }
    job_info *r = &jb->rec;
    jb->refs = 1;
    if (r->n_styles < 1 || r->n_styles > NST_MAX_STYLES) r->n_styles = 1;
    r->masks &= ((1 << r->n_styles) - 1) | JOBS_MASK_CONTENT;
    if (r->iterations <= 0) r->iterations = jb->params.iterations;
    r->eta_s = job_state_final(r->state) ? 0 : -1;
    r->version = 1;   /* a job watchers have not seen is never at version 0 */
    return jb;
}

static int cmp_seq(const void *a, const void *b)
{
    const job_info *x = &(*(struct job *const *)a)->rec, *y = &(*(struct job *const *)b)->rec;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    if (x->created_at != y->created_at) return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* A job that had not finished is queued again, from its checkpoint when
 * the store still has it; the store's record says so too, so that a worker
 * can claim it. */
static void requeue(jobs *j, struct job *jb)
{
    job_info *r = &jb->rec;
    if (r->checkpoint_iteration > 0 && !store_blob_exists(j->st, r->id, "checkpoint.png"))
        r->checkpoint_iteration = 0;
    r->state = JOB_QUEUED;
    r->iteration = r->checkpoint_iteration;
    jb->elapsed_prev = r->elapsed_s;
    if (store_record_put(j->st, r, STORE_UNFENCED) < 0) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "what", "record");
        jobs_log("error", "job_store_failed", jb, f);
    }
}

int jobs_reload(jobs *j)
{
    char **ids = NULL;
    int n = 0;
    if (store_list(j->st, &ids, &n) < 0) return JOBS_EIO;
    int requeued = 0, kept = 0;
    for (int i = 0; i < n; i++) {
        const char *why = NULL;
        struct job *jb = jobs_job_load(j, ids[i], 1, &why);
        if (!jb) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "job", ids[i]);
            cJSON_AddStringToObject(f, "reason", why ? why : "unusable record");
            log_event("warn", "job_skipped", f);
            continue;
        }
        if (!job_state_final(jb->rec.state)) {
            requeue(j, jb);
            requeued++;
        }
        if (jobs_table_insert(j, jb) < 0) {
            jobs_job_free(jb);
            continue;
        }
        kept++;
    }
    store_ids_free(ids, n);
    if (j->n_all > 1) qsort(j->all, (size_t)j->n_all, sizeof *j->all, cmp_seq);
    for (int i = 0; i < j->n_all; i++) {
        if (j->all[i]->rec.seq >= j->next_seq) j->next_seq = j->all[i]->rec.seq + 1;
        if (j->all[i]->rec.state == JOB_QUEUED) jobs_queue_push(j, j->all[i]);
    }
    jobs_update_gauges(j);
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "jobs", kept);
    cJSON_AddNumberToObject(f, "requeued", requeued);
    log_event("info", "jobs_reloaded", f);
    return 0;
}

int jobs_expire(jobs *j)
{
    double now = jobs_now();
    struct job *gone[EXPIRE_BATCH];
    int n = 0;
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->n_all && n < EXPIRE_BATCH;) {
        struct job *jb = j->all[i];
        if (job_state_final(jb->rec.state) && jb->rec.finished_at > 0 &&
            jb->rec.finished_at + j->cfg.job_ttl <= now) {
            jobs_table_remove(j, jb);
            jb->removed = 1;
            jobs_bump(j, jb);
            gone[n++] = jb;   /* keeps the table's reference until removed */
        } else {
            i++;
        }
    }
    if (n) jobs_update_gauges(j);
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < n; i++) {
        jobs_store_remove(j, gone[i]->rec.id);
        jobs_log("info", "job_expired", gone[i], NULL);
        jobs_unref(j, gone[i]);
    }
    return n;
}
