/*
 * jobs.h — the job manager: a bounded queue of style-transfer jobs, a pool of
 * worker threads that run them with libnst, and the in-memory view of every
 * job the store holds.
 *
 * A job moves queued → running → succeeded | failed | canceled. Every
 * transition is written to the job's record in the store (store.h) before
 * anyone can observe it; the result is stored before the state says
 * succeeded. jobs_start reloads every job of the store: finished jobs stay
 * downloadable until their TTL, queued and interrupted ones are queued
 * again (resuming from their checkpoint image when there is one).
 *
 * Callers never hold a pointer to a job: they get snapshots (job_info, the
 * record of job.h) that they own and free with job_info_free. Each job carries a version counter
 * that grows at every change; jobs_wait_change lets a watcher sleep until
 * some job changed.
 *
 * This module knows nothing of HTTP. All functions are thread-safe.
 * Functions return 0 or a negative JOBS_E* code (jobs_strerror names it).
 */
#ifndef NSTD_JOBS_H
#define NSTD_JOBS_H

#include <stddef.h>

#include "job.h"
#include "metrics.h"
#include "nst.h"
#include "store.h"
#include "webhook.h"

enum {
    JOBS_ENOTFOUND = -1,  /* no job with that id */
    JOBS_EFULL = -2,      /* the queue is full */
    JOBS_ESHUTDOWN = -3,  /* shutting down: no new jobs */
    JOBS_EIO = -4,        /* the store failed */
    JOBS_ENOMEM = -5,
    JOBS_ESTATE = -6,     /* not in a state that allows this (result before success) */
    JOBS_ENOFILE = -7,    /* the job has no such file (yet) */
    JOBS_ENOSPACE = -8,   /* the store is short of space (under min_free_disk, or full) */
    JOBS_ECORRUPT = -9,   /* the stored file is damaged (its seal does not match) */
    JOBS_EUNAVAILABLE = -10,  /* the store cannot be reached now (a shared store) */
    JOBS_EKEYREUSED = -11     /* the idempotency key created a job with other inputs */
};

/* What jobs_submit did with an idempotency key. */
enum {
    JOBS_REPLAYED = 1     /* the key created a job with the same inputs before: that job */
};

/* What jobs_delete did. */
enum {
    JOBS_CANCELED = 1,    /* was queued: canceled at once */
    JOBS_CANCELING = 2,   /* was running: shown as canceled now, the worker stops
                             within one iteration */
    JOBS_REMOVED = 3      /* was finished: the job and its files are gone */
};

/* An uploaded file as received (encoded image bytes); borrowed. */
typedef struct {
    const void *data;
    size_t len;
} jobs_input;

typedef struct {
    int workers;            /* worker threads; 0 only with a shared store (no jobs run here) */
    int job_threads;        /* threads each job computes on; 0: cores / workers */
    int queue_size;         /* max queued jobs; a full queue refuses submits */
    int job_ttl;            /* seconds a finished job is kept */
    long max_input_pixels;  /* decode limit for stored inputs */
    unsigned long long min_free_disk;   /* the store's free-space floor (bytes) */
    nst_limits limits;      /* for re-reading stored params */
    /* With a shared store (store_shared): */
    int lease_renew_ms;     /* how often a worker renews its jobs' leases */
    int lease_timeout_ms;   /* a lease not renewed for this long is taken over */
    int max_attempts;       /* runs a job may start */
    webhooks *hooks;        /* webhook deliveries of the jobs run here; NULL: none */
    long max_job_memory;    /* bytes a job may use (jobs_memory); 0: no limit */
    int preview_max_size;   /* longest side of a stored preview; 0: the output's */
    double checkpoint_interval_s;   /* a larger job's full-size checkpoints at most this often */
} jobs_config;

typedef struct {
    int queued, running, succeeded, failed, canceled;
    int queue_size, workers;    /* with a shared store: the cluster's queue, and the
                                   worker processes alive */
    int accepting;          /* 0 once shutdown began */
    double next_free_s;     /* estimated seconds until a running job ends; < 0 unknown */
} jobs_stats;

typedef struct jobs jobs;

/* A job's estimated peak memory in bytes with params *p, for images of
 * wh[2i]×wh[2i+1] (i <= n_styles; the content first, then the styles) and
 * masks of mask_wh (NULL: none; laid out as nst_transfer_memory_masked
 * reads it): the engine's transfer and the decoding and encoding around
 * it. Sets
 * p->memory_limit to the engine's share of max_job_memory (0: no limit),
 * which L-BFGS's history fills, so the answer stays within max_job_memory
 * whenever the job fits at all. The output's size in *out_w, *out_h (may
 * be NULL). */
size_t jobs_memory(const nst_model *m, long max_job_memory, nst_params *p, const int *wh,
                   int n_styles, const int *mask_wh, int *out_w, int *out_h);

/* Reload the store's jobs, then start the workers. model and store are
 * borrowed and must outlive the manager; metrics may be NULL. Caller frees
 * with jobs_free (after jobs_shutdown). On failure returns a negative code
 * and a message in err. */
int jobs_start(jobs **out, const jobs_config *cfg, store *st, metrics *mx,
               const nst_model *model, char *err, size_t errlen);

/* Who asks for a job, and how; a NULL or "" member is not given. */
typedef struct {
    const char *owner;          /* recorded as the job's owner */
    const char *idem_key;       /* makes the submit idempotent (below) */
    const cJSON *webhook;       /* the job's webhook field as webhooks_check built it (copied) */
    const jobs_input *style_masks;  /* one per style image (len 0: none), or NULL: none */
    const jobs_input *content_mask; /* the region kept as the photo; NULL or len 0: none */
} jobs_request;

/* A job's masks: bit k of job_info.masks for style k's (blob style-mask-k),
 * JOBS_MASK_CONTENT for the content mask (blob content-mask). */
#define JOBS_MASK_CONTENT (1 << NST_MAX_STYLES)
/* The blob name of mask k (k < NST_MAX_STYLES: style k's; NST_MAX_STYLES:
 * the content mask's) into name. */
void jobs_mask_blob(int k, char *name, size_t len);

/* Accept a job: store the inputs and job.json, then queue it. p must have
 * passed nst_params_parse/nst_params_check_styles. req (may be NULL) says
 * who asks and how. *out (may be NULL) gets the new job.
 * JOBS_EFULL, JOBS_ESHUTDOWN, JOBS_ENOSPACE (the inputs would leave less
 * than min_free_disk, or the store is full), JOBS_EIO.
 *
 * req->idem_key (else jobs_idem_key_valid) makes the submit
 * idempotent: when the owner's key created a job before (one still kept),
 * nothing is created and the call returns JOBS_REPLAYED when that job's
 * inputs (params, content, styles: jobs_idem_digest) were the same, else
 * JOBS_EKEYREUSED; *out gets that job either way. Of submits racing with
 * one key, in any process of a shared store, exactly one creates a job. */
int jobs_submit(jobs *j, const nst_params *p, const jobs_input *content, const jobs_input *styles,
                int n_styles, const jobs_request *req, job_info *out);

/* Longest idempotency key. A key is 1 to JOBS_IDEM_KEY_MAX printable ASCII
 * characters (0x20 to 0x7e): 1 when key is one. */
#define JOBS_IDEM_KEY_MAX 255
int jobs_idem_key_valid(const char *key);
/* The digest of a submit's inputs (what an idempotent retry must repeat). */
int jobs_idem_digest(const nst_params *p, const jobs_input *content, const jobs_input *styles,
                     int n_styles, const jobs_request *req, job_digest out);

/* 0 when the queue has room now (a submit may still find it full). */
int jobs_can_accept(jobs *j);

/* Snapshot one job. JOBS_ENOTFOUND. */
int jobs_get(jobs *j, const char *id, job_info *out);

/* Which jobs jobs_list sees; a NULL filter sees all. */
typedef struct {
    const char *owner;      /* only this owner's jobs; NULL: anyone's */
    unsigned states;        /* bit (1u << state) per state seen; 0: every state */
} jobs_filter;

/* Snapshot the jobs the filter sees, newest first: items [offset,
 * offset+limit) of them (limit 0: none, only the count). *items is a
 * malloc'd array (free with jobs_list_free); *total counts all the jobs
 * the filter sees. */
int jobs_list(jobs *j, const jobs_filter *filter, int offset, int limit, job_info **items, int *n,
              int *total);
void jobs_list_free(job_info *items, int n);

/* Cancel a queued or running job, or remove a finished one with its files.
 * Returns JOBS_CANCELED, JOBS_CANCELING or JOBS_REMOVED; *out (may be NULL)
 * gets the job as it is after a cancel. JOBS_ENOTFOUND. */
int jobs_delete(jobs *j, const char *id, job_info *out);

/* Read the result (only when succeeded: else JOBS_ESTATE) or the latest
 * preview (JOBS_ENOFILE when none yet). *data is malloc'd, caller free()s.
 * A damaged result is never handed out: the job is marked failed
 * (result_corrupt) and the call returns JOBS_ECORRUPT; a damaged preview is
 * JOBS_ENOFILE. Both are logged. */
int jobs_read_result(jobs *j, const char *id, unsigned char **data, size_t *len);
int jobs_read_preview(jobs *j, const char *id, unsigned char **data, size_t *len);

/* 1 when the store has less free space than min_free_disk (*free_bytes,
 * may be NULL, gets what it has); 0 when it has enough or cannot tell. */
int jobs_space_low(jobs *j, unsigned long long *free_bytes);

/* Counts for readiness, info and metrics. */
void jobs_get_stats(jobs *j, jobs_stats *out);

/* Sleep until any job changed after *seen (a value from an earlier call,
 * start with 0) or timeout_ms passed; *seen gets the current global
 * version. Returns 1 on a change, 0 on timeout. */
int jobs_wait_change(jobs *j, unsigned long *seen, int timeout_ms);
/* Wake every jobs_wait_change sleeper now (so a watcher can notice it is
 * asked to stop). */
void jobs_wake_watchers(jobs *j);

/* Remove finished jobs whose TTL ran out (called from a timer). Returns how
 * many went. */
int jobs_expire(jobs *j);

/* Stop accepting jobs, make running jobs stop within one iteration and save
 * them as queued with their checkpoint (they resume on the next start), and
 * join the workers. Idempotent. */
void jobs_shutdown(jobs *j);
void jobs_free(jobs *j);

const char *jobs_strerror(int code);

#endif
