/*
 * live.c — the job manager's live jobs (see jobs_internal.h): the table,
 * references, change versions, gauges and log lines, and the manager's
 * writes to the store, one record or blob at a time, serialised under io
 * and fenced with the worker's claim where the worker writes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs_internal.h"
#include "log.h"

#define TABLE_MIN_CAP 64   /* first size of the job table */

double jobs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct timespec jobs_deadline(int ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    return dl;
}

void jobs_job_free(struct job *jb)
{
    if (!jb) return;
    job_info_free(&jb->rec);
    free(jb);
}

void jobs_unref_locked(struct job *jb)
{
    if (--jb->refs == 0) jobs_job_free(jb);
}

void jobs_unref(jobs *j, struct job *jb)
{
    pthread_mutex_lock(&j->mu);
    jobs_unref_locked(jb);
    pthread_mutex_unlock(&j->mu);
}

void jobs_bump(jobs *j, struct job *jb)
{
    jb->rec.version++;
    j->version++;
    pthread_cond_broadcast(&j->change_cv);
}

struct job *jobs_find(jobs *j, const char *id)
{
    for (int i = 0; i < j->n_all; i++)
        if (strcmp(j->all[i]->rec.id, id) == 0) return j->all[i];
    return NULL;
}

int jobs_table_insert(jobs *j, struct job *jb)
{
    if (j->n_all == j->cap_all) {
        int cap = j->cap_all ? 2 * j->cap_all : TABLE_MIN_CAP;
        struct job **a = realloc(j->all, (size_t)cap * sizeof *a);
        if (!a) return JOBS_ENOMEM;
        j->all = a;
        j->cap_all = cap;
    }
    int i = j->n_all;
    while (i > 0 && j->all[i - 1]->rec.seq > jb->rec.seq) {
        j->all[i] = j->all[i - 1];
        i--;
    }
    j->all[i] = jb;
    j->n_all++;
    return 0;
}

void jobs_table_remove(jobs *j, struct job *jb)
{
    for (int i = 0; i < j->n_all; i++) {
        if (j->all[i] == jb) {
            memmove(&j->all[i], &j->all[i + 1], (size_t)(j->n_all - i - 1) * sizeof *j->all);
            j->n_all--;
            return;
        }
    }
}

void jobs_update_gauges(jobs *j)
{
    if (!j->mx) return;
    int n[JOB_NSTATES] = {0};
    for (int i = 0; i < j->n_all; i++) n[j->all[i]->rec.state]++;
    metrics_set_jobs(j->mx, n);
    metrics_set_queue_depth(j->mx, j->n_queued);
}

void jobs_log(const char *level, const char *event, const struct job *jb, cJSON *fields)
{
    if (!fields) fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "job", jb->rec.id);
    log_event(level, event, fields);
}

int jobs_store_code(int rc)
{
    return rc == -ENOSPC || rc == -EDQUOT ? JOBS_ENOSPACE
           : rc == -ENOTCONN                  ? JOBS_EUNAVAILABLE
           : rc < 0                           ? JOBS_EIO
                                              : 0;
}

/* A store call's code as the manager's; a refused fenced write marks the
 * job lost and stops its run. */
static int store_result(jobs *j, struct job *jb, const char *what, int rc)
{
    if (rc == -ESTALE) {
        pthread_mutex_lock(&j->mu);
        jb->lost = 1;
        atomic_store(&jb->cancel, 1);
        pthread_mutex_unlock(&j->mu);
        return JOBS_ESTATE;
    }
    if (rc < 0) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "what", what);
        cJSON_AddStringToObject(f, "error", strerror(-rc));
        jobs_log("error", "job_store_failed", jb, f);
        return jobs_store_code(rc);
    }
    return 0;
}

int jobs_persist(jobs *j, struct job *jb, int fenced)
{
    int rc = 0;
    job_info copy;
    pthread_mutex_lock(&j->io);
    pthread_mutex_lock(&j->mu);
    int skip = jb->removed || jb->lost;
    if (!skip && job_info_copy(&copy, &jb->rec) < 0) rc = -ENOMEM;
    store_fence fence = fenced ? jb->fence : STORE_UNFENCED;
    pthread_mutex_unlock(&j->mu);
    if (!skip && rc == 0) {
        rc = store_record_put(j->st, &copy, fence);
        job_info_free(&copy);
    }
    pthread_mutex_unlock(&j->io);
    return skip ? 0 : store_result(j, jb, "record", rc);
}

int jobs_blob(jobs *j, struct job *jb, const char *name, const void *data, size_t len,
              int fenced)
{
    int rc = 0;
    pthread_mutex_lock(&j->io);
    pthread_mutex_lock(&j->mu);
    int skip = jb->removed || jb->lost, lost = jb->lost;
    store_fence fence = fenced ? jb->fence : STORE_UNFENCED;
    pthread_mutex_unlock(&j->mu);
    if (!skip)
        rc = data ? store_blob_put(j->st, jb->rec.id, name, data, len, fence)
                  : store_blob_remove(j->st, jb->rec.id, name, fence);
    pthread_mutex_unlock(&j->io);
    if (skip) return lost ? JOBS_ESTATE : 0;
    return store_result(j, jb, name, rc);
}

void jobs_store_remove(jobs *j, const char *id)
{
    pthread_mutex_lock(&j->io);
    store_job_remove(j->st, id);
    pthread_mutex_unlock(&j->io);
}
