/*
 * store.h — the job store interface: where job records and their blobs
 * (inputs, checkpoint, preview, result) live, and who owns a running job.
 *
 * The job manager (jobs.h) uses nothing else to keep jobs, so a store that
 * several nstd processes share can stand in for the disk store: every call
 * is atomic on its own, and claiming a job for a worker is atomic and
 * fenced. store_claim hands out a fencing token greater than every token
 * the job had before; a write that carries a token (a worker's write) is
 * refused with -ESTALE once another claim took the job, so a worker that
 * lost its job cannot overwrite the new owner's progress or result. Writes
 * with STORE_UNFENCED (submitting, cancelling, recovery) are not checked.
 *
 * Implementations: the disk store (store_disk.c, store_disk_open), one
 * directory per job; the Redis store (store_redis.c, store_redis_open), one
 * database several processes can share. Each fills in a store_ops table and embeds `store` as
 * its first member.
 *
 * Blob names are plain names ([A-Za-z0-9._-], not starting with '.', at
 * most STORE_NAME_MAX characters: store_name_valid); ids are job ids
 * (job_id_valid). Other ids or names are refused with -EINVAL. Functions
 * return 0 or -errno.
 */
#ifndef NSTD_STORE_H
#define NSTD_STORE_H

#include <stddef.h>

#include "job.h"

typedef unsigned long long store_fence;
#define STORE_UNFENCED 0ULL

typedef struct store store;

/* A job taken from a shared queue (store_take). */
#define STORE_ENTRY_MAX 48
typedef struct {
    char id[JOB_ID_LEN + 1];
    char entry[STORE_ENTRY_MAX];    /* the queue's entry, for store_renew and store_done */
    int taken_over;                 /* it was another worker's, whose lease ran out */
} store_task;

/* What a shared store counts for the whole cluster. */
typedef struct {
    long queued, running;
    long workers;                   /* worker processes with a recent heartbeat */
} store_counts;

/* Called (on the store's own thread) with the id of a job that changed
 * anywhere, or NULL when changes may have been missed (after a
 * reconnection): then every job may have changed. */
typedef void (*store_change_fn)(void *user, const char *id);

typedef struct {
    void (*close)(store *s);
    int (*writable)(store *s);
    int (*record_put)(store *s, const job_info *rec, store_fence fence);
    int (*record_get)(store *s, const char *id, job_info *out, const char **why);
    int (*claim)(store *s, const job_info *running, store_fence *fence);
    int (*blob_put)(store *s, const char *id, const char *name, const void *data, size_t len,
                    store_fence fence);
    int (*blob_get)(store *s, const char *id, const char *name, unsigned char **data, size_t *len);
    int (*blob_exists)(store *s, const char *id, const char *name);
    int (*blob_remove)(store *s, const char *id, const char *name, store_fence fence);
    int (*job_remove)(store *s, const char *id);
    int (*list)(store *s, char ***ids, int *n);
    int (*free_space)(store *s, unsigned long long *bytes);   /* optional */
    int (*quarantine)(store *s, const char *id);               /* optional */
    /* A shared store's queue and change feed; NULL in a store of one process. */
    void (*set_retention)(store *s, int seconds);
    int (*enqueue)(store *s, job_info *rec, int limit);
    int (*take_over)(store *s, const job_info *running, store_fence *fence);
    int (*take)(store *s, const char *worker, int lease_ms, store_task *t);
    int (*renew)(store *s, const store_task *t, const char *worker, store_fence fence);
    int (*done)(store *s, const store_task *t, store_fence fence, int again);
    int (*counts)(store *s, int alive_ms, store_counts *c);
    int (*heartbeat)(store *s, const char *worker, int gone);
    int (*watch)(store *s, store_change_fn fn, void *user);
    int (*idem_bind)(store *s, const char *owner, const char *key, const char *id, char *bound);
    int (*idem_unbind)(store *s, const char *owner, const char *key, const char *id);
} store_ops;

struct store {
    const store_ops *ops;
};

/* Open the disk store under <data_dir>/jobs (created when missing; checked
 * writable). -1 with a message in err on failure. Caller closes it. */
int store_disk_open(store **out, const char *data_dir, char *err, size_t errlen);
/* Open the Redis store at url: redis://[user:password@]host[:port][/db] or
 * unix:///path/to.sock[?db=N] (store_redis_url.h), connected (AUTH and
 * SELECT as the URL says) before it returns. -1 with a message in err when
 * the URL is bad or the server cannot be reached. Caller closes it. */
int store_redis_open(store **out, const char *url, char *err, size_t errlen);
void store_close(store *s);

/* 1 when the store takes writes now (readiness). */
int store_writable(store *s);
/* The bytes the store can still take, for its space floor. -ENOTSUP when
 * the store cannot tell. */
int store_free_space(store *s, unsigned long long *bytes);

/* ---------------------------------------------------------------- records */

/* Create or replace the job's record (creating the job). */
int store_record_put(store *s, const job_info *rec, store_fence fence);
/* Read a record back; *out is the caller's (job_info_free). -ENOENT when
 * the job has no record (an unfinished submit); -EBADMSG with a reason in
 * *why when the record is unusable. */
int store_record_get(store *s, const char *id, job_info *out, const char **why);
/* Take a queued job for a worker: atomically, when the stored record is
 * queued, replace it with *running and give the caller a new fence in
 * *fence. -EBUSY when the job is not queued (someone else has it, or it
 * was canceled), -ENOENT when it is gone. */
int store_claim(store *s, const job_info *running, store_fence *fence);

/* ---------------------------------------------------------------- blobs */

/* Write blob `name` of job `id` whole (creating the job when needed),
 * sealed with its checksum (store.c). */
int store_blob_put(store *s, const char *id, const char *name, const void *data, size_t len,
                   store_fence fence);
/* Read a whole blob, checked against its seal; *data is malloc'd (caller
 * free()s) and NUL-terminated past len. -ENOENT when missing, -EBADMSG
 * when damaged (its seal is missing or does not match). */
int store_blob_get(store *s, const char *id, const char *name, unsigned char **data, size_t *len);
/* 1 when the blob exists. */
int store_blob_exists(store *s, const char *id, const char *name);
/* Remove one blob (missing is fine). */
int store_blob_remove(store *s, const char *id, const char *name, store_fence fence);

/* ---------------------------------------------------------------- jobs */

/* Move a job whose record is unusable out of the store's view, kept for an
 * operator to look at (the disk store: <data_dir>/jobs/.corrupt-<id>-…).
 * -ENOTSUP when the store cannot. */
int store_job_quarantine(store *s, const char *id);
/* Remove a job with its record and every blob (missing is fine). */
int store_job_remove(store *s, const char *id);
/* The ids of every job (a job with only blobs too), in the store's own
 * order (the disk store's by id, the Redis store's by seq then id; the
 * manager sorts by seq itself). *ids is a malloc'd array of malloc'd
 * strings: free with store_ids_free. */
int store_list(store *s, char ***ids, int *n);
void store_ids_free(char **ids, int n);
/* Sort a listing by id; then store_ids_has finds an id in it (a binary
 * search): 1 when present, else 0. */
void store_ids_sort(char **ids, int n);
int store_ids_has(char *const *ids, int n, const char *id);

/* 1 when name is a plain blob name (see above). */
#define STORE_NAME_MAX 64
int store_name_valid(const char *name);

/* ---------------------------------------------------------------- the shared queue
 * A store several processes share (the Redis store) holds the queue too,
 * and tells every process of every change. A store of one process (the
 * disk store) has none of this: store_shared is 0, and the job manager
 * keeps its queue in memory. Calls on a store that is not shared return
 * -ENOTSUP. -ENOTCONN: the store cannot be reached now. */

/* 1 when the store is shared. */
int store_shared(store *s);
/* Finished jobs' data is removed by the store after this many seconds. */
void store_set_retention(store *s, int seconds);
/* Create a queued job: its record (rec->seq gets the next number) and its
 * place at the end of the queue, in one step. -EAGAIN when `limit` (> 0)
 * jobs are queued already. */
int store_enqueue(store *s, job_info *rec, int limit);
/* Take the next job for `worker`: the oldest job whose worker's lease ran
 * out (lease_ms without store_renew), else the oldest queued job. Does not
 * wait: -EAGAIN when there is none. The job is then claimed with
 * store_claim, or store_take_over when t->taken_over. */
int store_take(store *s, const char *worker, int lease_ms, store_task *t);
/* store_claim for a taken-over job: also when its record says running. */
int store_take_over(store *s, const job_info *running, store_fence *fence);
/* Renew the lease of a job the worker runs; -ESTALE when it is no longer
 * the worker's (fence). */
int store_renew(store *s, const store_task *t, const char *worker, store_fence fence);
/* The job left the worker: its entry leaves the queue, and with `again`
 * goes back to its end. Fenced like writes (STORE_UNFENCED: for a job
 * that was not claimed). */
int store_done(store *s, const store_task *t, store_fence fence, int again);
/* Cluster counts; workers whose heartbeat is younger than alive_ms. */
int store_counts_get(store *s, int alive_ms, store_counts *c);
/* A worker process's heartbeat; gone: it stops. */
int store_heartbeat(store *s, const char *worker, int gone);
/* Call fn for every change from now on, from a thread of the store, until
 * store_watch(s, NULL, NULL) or the store is closed; reconnects by itself
 * (fn(user, NULL) after each (re)connection). */
int store_watch(store *s, store_change_fn fn, void *user);

/* Idempotency keys (a shared store; the manager keeps them itself on a
 * store of one process). Bind the owner's key to job id unless it is
 * bound already, atomically for every process: 0 bound; -EEXIST with the
 * id it is bound to in bound (JOB_ID_LEN + 1 bytes). A binding lives as
 * long as its job (the record's idempotency/key names it): it expires
 * with the finished job's data and goes with store_job_remove; one whose
 * job never got a record expires after an hour. */
int store_idem_bind(store *s, const char *owner, const char *key, const char *id, char *bound);
/* Drop the binding of the owner's key when it is bound to id (a submit
 * that failed). */
int store_idem_unbind(store *s, const char *owner, const char *key, const char *id);

/* ---------------------------------------------------------------- seals */

#define STORE_SEAL_LEN 16   /* bytes the seal adds to a stored blob */

/* FNV-1a, 64 bits: what a blob's seal records, and its ETag. */
unsigned long long store_checksum(const void *data, size_t len);
/* Write the seal of data into trailer (STORE_SEAL_LEN bytes). For stores
 * that seal blobs written before seals existed. */
void store_seal(unsigned char *trailer, const void *data, size_t len);

#endif
