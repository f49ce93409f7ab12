/*
 * cluster.c — the job manager on a shared store (see jobs_internal.h):
 * several nstd processes use one store, which holds the records, the
 * blobs and the queue.
 *
 *  - The table of each process holds copies of the store's records; the
 *    store's change feed (store_watch) refreshes a copy whenever any
 *    process wrote the job, so GET, lists and event streams of any process
 *    see every job. A copy that is missing is read on demand.
 *  - Workers take jobs from the store's queue (store_take), claim them
 *    with a fencing token, and a lease thread renews the lease of every
 *    job this process runs. A process that dies stops renewing: after
 *    lease_timeout another worker takes the job over and resumes it from
 *    its last checkpoint, at most max_attempts runs in all.
 *  - A cancel is a write of the record by any process; the store takes the
 *    job from its worker (its token moves on), and the worker's process
 *    hears of it through the feed and stops within one iteration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobs_internal.h"
#include "log.h"

#define TAKE_WAIT_MS 500          /* a worker with nothing to do looks again after this */
#define DOWN_WAIT_MS 1000         /* … and after this when the store cannot be reached */

/* ================================================================ the table's copies */

/* An estimate of a running copy's time left, from its progress. */
static double eta_of(const job_info *r)
{
    if (r->state != JOB_RUNNING || r->iteration <= 0 || r->elapsed_s <= 0) return -1;
    int left = r->iterations - r->iteration;
    return r->elapsed_s / r->iteration * (left > 0 ? left : 0);
}

/* jobs_cluster_refresh, returning the store's answer (-ENOENT: no record). */
static int refresh(jobs *j, const char *id)
{
    job_info rec;
    const char *why = NULL;
    int rc = store_record_get(j->st, id, &rec, &why);
    if (rc < 0 && rc != -ENOENT) return rc;   /* unreadable now: keep the copy */
    struct job *fresh = NULL;
    if (rc == 0) {
        rec.eta_s = job_state_final(rec.state) ? 0 : eta_of(&rec);
        if (!(fresh = calloc(1, sizeof *fresh))) {
            job_info_free(&rec);
            return -ENOMEM;
        }
        fresh->rec = rec;
        fresh->refs = 1;
    }

    pthread_mutex_lock(&j->mu);
    struct job *jb = jobs_find(j, id);
    if (jb && jb->local_run) {
        /* This process runs it and knows better, except of a cancel. */
        if (fresh && fresh->rec.state == JOB_CANCELED && jb->rec.state == JOB_RUNNING) {
            atomic_store(&jb->cancel, 1);
            jb->user_canceled = 1;
            jb->rec.state = JOB_CANCELED;
            jb->rec.finished_at = fresh->rec.finished_at;
            jb->rec.eta_s = 0;
            jobs_bump(j, jb);
        }
        pthread_mutex_unlock(&j->mu);
        jobs_job_free(fresh);
        return rc;
    }
    if (jb) {
        jobs_table_remove(j, jb);
        if (!fresh) jb->removed = 1;   /* gone from the store */
        else fresh->rec.version = jb->rec.version;
        jobs_bump(j, jb);
        jobs_unref_locked(jb);
    }
    if (fresh) {
        if (jobs_table_insert(j, fresh) < 0) {
            jobs_job_free(fresh);
        } else {
            jobs_bump(j, fresh);
            if (fresh->rec.state == JOB_QUEUED) pthread_cond_signal(&j->work_cv);
        }
    }
    jobs_update_gauges(j);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

void jobs_cluster_refresh(jobs *j, const char *id) { refresh(j, id); }

/* Every job again: new ones added, changed ones refreshed, copies of jobs
 * the store no longer has dropped (the listing sorted, so that finding
 * them is n log n). */
static void resync(jobs *j)
{
    char **ids = NULL;
    int n = 0;
    if (store_list(j->st, &ids, &n) < 0) return;
    for (int i = 0; i < n; i++) {
        /* A listed job without record or inputs is the rest of a submit
         * that died (its inputs expired) or of a finished job that
         * expired: its listing goes too. */
        if (refresh(j, ids[i]) == -ENOENT && !store_blob_exists(j->st, ids[i], "content"))
            store_job_remove(j->st, ids[i]);
    }
    /* copies the listing does not name */
    char gone[64][JOB_ID_LEN + 1];
    int n_gone = 0;
    store_ids_sort(ids, n);
    pthread_mutex_lock(&j->mu);
    for (int k = 0; k < j->n_all && n_gone < 64; k++) {
        const struct job *jb = j->all[k];
        if (!store_ids_has(ids, n, jb->rec.id) && !jb->local_run)
            snprintf(gone[n_gone++], JOB_ID_LEN + 1, "%s", jb->rec.id);
    }
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < n_gone; i++) jobs_cluster_refresh(j, gone[i]);
    store_ids_free(ids, n);
}

static void on_change(void *user, const char *id)
{
    jobs *j = user;
    if (id) jobs_cluster_refresh(j, id);
    else resync(j);
}

/* ================================================================ store trouble */

/* Log once when the queue cannot be reached and once when it is back. */
static void note_store(jobs *j, int rc)
{
    int down = rc == -ENOTCONN || rc == -EIO;
    pthread_mutex_lock(&j->mu);
    int was = j->store_down;
    j->store_down = down;
    pthread_mutex_unlock(&j->mu);
    if (was == down) return;
    cJSON *f = cJSON_CreateObject();
    if (down) cJSON_AddStringToObject(f, "error", strerror(-rc));
    log_event(down ? "warn" : "info", down ? "workers_paused_store_unavailable" : "workers_resumed",
              f);
}

/* Sleep up to ms, or until work arrives or the manager stops. */
static void wait_work(jobs *j, int ms)
{
    struct timespec dl = jobs_deadline(ms);
    pthread_mutex_lock(&j->mu);
    if (!j->stopping) pthread_cond_timedwait(&j->work_cv, &j->mu, &dl);
    pthread_mutex_unlock(&j->mu);
}

/* ================================================================ taking jobs */

/* A job taken over too often fails, saying why. */
static void exhausted(jobs *j, struct job *jb, const store_task *t)
{
    job_info *r = &jb->rec;
    store_fence fence = STORE_UNFENCED;
    int attempts = r->attempts;
    r->state = JOB_FAILED;
    r->finished_at = jobs_now();
    r->eta_s = 0;
    snprintf(r->error_code, sizeof r->error_code, "attempts_exhausted");
    snprintf(r->error_message, sizeof r->error_message,
             "the job was started %d times (max_attempts %d) and each time its worker stopped "
             "before it finished",
             attempts, j->cfg.max_attempts);
    if (store_take_over(j->st, r, &fence) == 0) {
        store_record_put(j->st, r, fence);   /* kept for job_ttl like any finished job */
        store_done(j->st, t, fence, 0);
        if (j->mx) metrics_job_finished(j->mx, JOB_FAILED, 0);
        jobs_log("warn", "job_attempts_exhausted", jb, NULL);
    }
}

struct job *jobs_cluster_take(jobs *j)
{
    store_task t;
    int rc = store_take(j->st, j->worker_name, j->cfg.lease_timeout_ms, &t);
    note_store(j, rc == -EAGAIN ? 0 : rc);
    if (rc < 0) {
        wait_work(j, rc == -EAGAIN ? TAKE_WAIT_MS : DOWN_WAIT_MS);
        return NULL;
    }
    const char *why = NULL;
    struct job *jb = jobs_job_load(j, t.id, 0, &why);
    if (!jb || job_state_final(jb->rec.state)) {   /* deleted or canceled meanwhile */
        store_done(j->st, &t, STORE_UNFENCED, 0);
        jobs_job_free(jb);
        return NULL;
    }
    job_info *r = &jb->rec;
    if (t.taken_over && r->attempts >= j->cfg.max_attempts) {
        exhausted(j, jb, &t);
        jobs_job_free(jb);
        jobs_cluster_refresh(j, t.id);
        return NULL;
    }
    if (r->checkpoint_iteration > 0 && !store_blob_exists(j->st, r->id, "checkpoint.png"))
        r->checkpoint_iteration = 0;
    r->iteration = r->checkpoint_iteration;
    jb->elapsed_prev = r->elapsed_s;
    r->state = JOB_RUNNING;
    if (r->started_at == 0) r->started_at = jobs_now();
    snprintf(r->model, sizeof r->model, "%s", nst_model_name(j->model));
    r->attempts++;
    r->eta_s = -1;
    store_fence fence = STORE_UNFENCED;
    rc = t.taken_over ? store_take_over(j->st, r, &fence) : store_claim(j->st, r, &fence);
    if (rc < 0) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "error", strerror(-rc));
        jobs_log("warn", "job_claim_refused", jb, f);
        if (rc == -EBUSY || rc == -ENOENT) store_done(j->st, &t, STORE_UNFENCED, 0);
        jobs_job_free(jb);
        return NULL;
    }
    jb->fence = fence;
    jb->task = t;
    jb->local_run = 1;
    jb->refs = 2;   /* the table's and the worker's */

    pthread_mutex_lock(&j->mu);
    struct job *copy = jobs_find(j, r->id);
    if (copy) {
        r->version = copy->rec.version;
        jobs_table_remove(j, copy);
        jobs_unref_locked(copy);
    }
    if (jobs_table_insert(j, jb) < 0) {   /* out of memory: back to the queue */
        pthread_mutex_unlock(&j->mu);
        r->state = JOB_QUEUED;
        r->attempts--;
        if (store_record_put(j->st, r, fence) == 0) store_done(j->st, &t, fence, 1);
        jobs_job_free(jb);
        return NULL;
    }
    j->n_running++;
    jobs_bump(j, jb);
    jobs_update_gauges(j);
    pthread_mutex_unlock(&j->mu);
    if (t.taken_over) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddNumberToObject(f, "attempt", r->attempts);
        jobs_log("warn", "job_taken_over", jb, f);
    }
    return jb;
}

void jobs_cluster_release(jobs *j, struct job *jb, int again)
{
    pthread_mutex_lock(&j->mu);
    int user_canceled = jb->user_canceled, lost = jb->lost;
    store_fence fence = jb->fence;
    jb->local_run = 0;
    pthread_mutex_unlock(&j->mu);
    /* A canceled job's token moved on with the cancel; a lost one is the
     * new owner's to acknowledge. */
    if (lost && !user_canceled) return;
    int rc = store_done(j->st, &jb->task, user_canceled ? STORE_UNFENCED : fence, again);
    if (rc < 0 && rc != -ESTALE) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "error", strerror(-rc));
        jobs_log("warn", "job_release_failed", jb, f);   /* its lease runs out; taken over */
    }
}

/* ================================================================ leases */

typedef struct {
    store_task task;
    store_fence fence;
    struct job *jb;
} lease;

/* Every lease_renew: the process's heartbeat, and each running job's lease. */
static void *lease_main(void *arg)
{
    jobs *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int n = 0;
        for (int i = 0; i < j->n_all; i++) n += j->all[i]->local_run;
        lease *l = n ? calloc((size_t)n, sizeof *l) : NULL;
        int k = 0;
        for (int i = 0; l && i < j->n_all && k < n; i++) {
            struct job *jb = j->all[i];
            if (!jb->local_run || jb->user_canceled || jb->lost) continue;   /* not ours now */
            l[k].task = jb->task;
            l[k].fence = jb->fence;
            l[k++].jb = jb;
            jb->refs++;
        }
        pthread_mutex_unlock(&j->mu);

        store_heartbeat(j->st, j->worker_name, 0);
        for (int i = 0; i < k; i++) {
            if (store_renew(j->st, &l[i].task, j->worker_name, l[i].fence) == -ESTALE) {
                pthread_mutex_lock(&j->mu);
                l[i].jb->lost = 1;   /* another worker has it: stop, write nothing */
                atomic_store(&l[i].jb->cancel, 1);
                pthread_mutex_unlock(&j->mu);
                jobs_log("warn", "job_lease_lost", l[i].jb, NULL);
            }
            jobs_unref(j, l[i].jb);
        }
        free(l);

        struct timespec dl = jobs_deadline(j->cfg.lease_renew_ms);
        pthread_mutex_lock(&j->mu);
        while (j->lease_started > 0 &&
               pthread_cond_timedwait(&j->change_cv, &j->mu, &dl) != ETIMEDOUT) {
        }
        int stop = j->lease_started < 0;
        pthread_mutex_unlock(&j->mu);
        if (stop) break;
    }
    store_heartbeat(j->st, j->worker_name, 1);
    return NULL;
}

/* ================================================================ start, stop, counts */

int jobs_cluster_start(jobs *j)
{
    char host[40] = "nstd";
    gethostname(host, sizeof host - 1);
    char nonce[JOB_ID_LEN + 1];
    job_id_new(nonce);
    snprintf(j->worker_name, sizeof j->worker_name, "%.40s-%ld-%.8s", host, (long)getpid(), nonce);
    store_set_retention(j->st, j->cfg.job_ttl);
    resync(j);
    if (store_watch(j->st, on_change, j) < 0) return JOBS_EIO;
    if (j->cfg.workers > 0) {
        j->lease_started = 1;   /* before the thread reads it */
        if (pthread_create(&j->lease_thread, NULL, lease_main, j) != 0) {
            j->lease_started = 0;
            return JOBS_EIO;
        }
    }
    return 0;
}

void jobs_cluster_stop(jobs *j)
{
    store_watch(j->st, NULL, NULL);
    pthread_mutex_lock(&j->mu);
    int started = j->lease_started > 0;
    if (started) j->lease_started = -1;
    pthread_cond_broadcast(&j->change_cv);
    pthread_mutex_unlock(&j->mu);
    if (started) pthread_join(j->lease_thread, NULL);
}

int jobs_cluster_stats(jobs *j, jobs_stats *st)
{
    store_counts c;
    int rc = store_counts_get(j->st, j->cfg.lease_timeout_ms, &c);
    if (rc < 0) return jobs_store_code(rc);
    st->queued = (int)c.queued;
    st->running = (int)c.running;
    st->workers = (int)c.workers;
    if (j->mx) {
        int n[JOB_NSTATES] = {0};
        pthread_mutex_lock(&j->mu);
        for (int i = 0; i < j->n_all; i++) n[j->all[i]->rec.state]++;
        pthread_mutex_unlock(&j->mu);
        n[JOB_QUEUED] = st->queued;
        n[JOB_RUNNING] = st->running;
        metrics_set_jobs(j->mx, n);
        metrics_set_queue_depth(j->mx, st->queued);
        metrics_set_workers_alive(j->mx, st->workers);
    }
    return 0;
}
