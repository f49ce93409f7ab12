/*
 * jobs_internal.h — what the files of the job manager share: the manager
 * and its live jobs, and the helpers each file uses. Not for use outside
 * server/jobs.c, live.c, worker.c and recovery.c.
 *
 *   jobs.c      the manager's public calls: submit, get, list, delete, files,
 *               stats, change notification, shutdown
 *   live.c      the table of live jobs, references, versions, and the
 *               manager's writes to the store
 *   worker.c    the queue and the worker pool that runs nst_transfer
 *   recovery.c  reloading the store at start-up, expiring finished jobs
 *   jobs_idem.c idempotency keys of submits
 *
 * Locking: one mutex (j->mu) guards every live job, the table, the queue
 * and the counters; it is never held across store or engine work. A second
 * mutex (j->io) serialises store writes of the manager, so the last record
 * written is always the newest snapshot and nothing is written for a job
 * after it was removed. Lock order: io, then mu. Live jobs are
 * reference-counted: the table holds one reference, and anyone using a job
 * outside mu holds another.
 */
#ifndef NSTD_JOBS_INTERNAL_H
#define NSTD_JOBS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "jobs.h"

/* A job as the manager holds it: its record and what only a live job has. */
struct job {
    job_info rec;               /* the record (job.h), guarded by mu */
    nst_params params;          /* immutable after creation */
    double elapsed_prev;        /* optimisation seconds of earlier runs */
    atomic_int cancel;          /* set under mu, read by the engine without it */
    int user_canceled;          /* the cancel came from DELETE, not shutdown */
    int removed;                /* gone from the table and the store */
    store_fence fence;          /* the worker's claim while it runs the job */
    int lost;                   /* the store refused a fenced write: another
                                   claim has the job, this worker stops */
    int refs;
    struct job *qnext;          /* queue link */
    /* With a shared store (cluster.c): */
    int local_run;              /* this process runs the job (else the record
                                   is a copy of the store's) */
    store_task task;            /* its entry in the shared queue */
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
    struct idem_pending *idem_pending;   /* keys of submits in progress (jobs_idem.c) */

    pthread_t *threads;
    int n_threads;

    /* With a shared store (cluster.c): */
    int shared;
    char worker_name[64];       /* this process in the queue: host-pid-random */
    pthread_t lease_thread;
    int lease_started;
    int store_down;             /* the last queue call could not reach the store */
};

/* ---------------------------------------------------------------- live.c */

double jobs_now(void);                      /* Unix time */
/* ms from now on CLOCK_MONOTONIC, the clock of change_cv, for timed waits. */
struct timespec jobs_deadline(int ms);
void jobs_job_free(struct job *jb);
void jobs_unref(jobs *j, struct job *jb);   /* takes mu */
void jobs_unref_locked(struct job *jb);
/* The live job with this id (under mu), or NULL. */
struct job *jobs_find(jobs *j, const char *id);
/* Record a change of jb (under mu): versions and watchers. */
void jobs_bump(jobs *j, struct job *jb);
/* Insert keeping ascending seq (under mu); the table takes jb's reference. */
int jobs_table_insert(jobs *j, struct job *jb);
void jobs_table_remove(jobs *j, struct job *jb);
/* Push the per-state counts to the metrics (under mu). */
void jobs_update_gauges(jobs *j);
/* Store jb's record as it is now (caller holds a reference); fenced with
 * the worker's claim when fenced is 1. 0, JOBS_EIO, or JOBS_ESTATE when the
 * worker lost the job. */
int jobs_persist(jobs *j, struct job *jb, int fenced);
/* Write (data) or remove (data NULL) one blob of a live job; fenced like
 * jobs_persist. */
int jobs_blob(jobs *j, struct job *jb, const char *name, const void *data, size_t len,
              int fenced);
/* A store call's result (0 or -errno) as a JOBS_E* code: JOBS_ENOSPACE for
 * a full store, JOBS_EIO for any other failure. */
int jobs_store_code(int rc);
/* Remove a job from the store (under io). */
void jobs_store_remove(jobs *j, const char *id);
void jobs_log(const char *level, const char *event, const struct job *jb, cJSON *fields);

/* ---------------------------------------------------------------- worker.c */

void jobs_queue_push(jobs *j, struct job *jb);    /* under mu */
void jobs_queue_unlink(jobs *j, struct job *jb);  /* under mu */
/* Start cfg.workers threads. 0 or JOBS_ENOMEM (with a message). */
int jobs_workers_start(jobs *j, char *err, size_t errlen);

/* Finish a job this worker ran (its state, record and result written). */
void jobs_finish(jobs *j, struct job *jb, int rc, nst_image *out, nst_error *err);

/* ---------------------------------------------------------------- recovery.c */

/* Load every job of the store (before the workers start). 0 or JOBS_EIO. */
int jobs_reload(jobs *j);
/* A live job from its stored record; NULL with a reason when unusable.
 * With tidy, an incomplete submit is removed and an unusable record moved
 * aside (only the single process of a store may: others may be writing). */
struct job *jobs_job_load(jobs *j, const char *id, int tidy, const char **why);

/* ---------------------------------------------------------------- jobs_idem.c */

/* Before a submit with a key (jb->rec: id, owner, idem_key, idem_digest)
 * stores anything: 0 when it may create its job (the key is held or bound
 * for it); JOBS_REPLAYED or JOBS_EKEYREUSED with the earlier job in *out;
 * or an error. A job without a key: 0. */
int jobs_idem_begin(jobs *j, struct job *jb, job_info *out);
/* The submit ended, its job in the table or not (under mu): the key is no
 * longer held (a store of one process). */
void jobs_idem_end_locked(jobs *j, struct job *jb);
/* The submit failed: its binding goes (a shared store). */
void jobs_idem_abandon(jobs *j, struct job *jb);

/* ---------------------------------------------------------------- cluster.c
 * The manager on a shared store: the queue is the store's, each process
 * keeps copies of the records in its table, refreshed by the store's
 * change feed; workers take jobs from the store's queue and renew their
 * leases. */

/* Start: worker name, retention, the table from the store, the change
 * feed, the lease thread (when the process has workers). JOBS_EIO. */
int jobs_cluster_start(jobs *j);
/* Stop the lease thread and the feed (after the workers joined). */
void jobs_cluster_stop(jobs *j);
/* Refresh one job's copy from the store. */
void jobs_cluster_refresh(jobs *j, const char *id);
/* A worker's next job from the shared queue, claimed, with a reference
 * for the worker; NULL when there is none now (after waiting a while). */
struct job *jobs_cluster_take(jobs *j);
/* The job left this worker (after jobs_finish): its queue entry is
 * acknowledged, or put back (again) after a shutdown. */
void jobs_cluster_release(jobs *j, struct job *jb, int again);
/* Cluster-wide counts into *st (queued, running, workers). 0 or JOBS_E*. */
int jobs_cluster_stats(jobs *j, jobs_stats *st);

#endif
