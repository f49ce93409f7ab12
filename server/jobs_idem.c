/*
 * jobs_idem.c — idempotent submits (jobs.h, jobs_submit with an
 * Idempotency-Key): a retry with the same key and the same inputs gets the
 * job the first submit created, the same key with other inputs is refused,
 * and of submits racing with one key exactly one creates a job.
 *
 * A job records its key and the digest of its inputs (job.h: idem_key,
 * idem_digest), so a key lives as long as its job. Keys are per owner.
 * On a store of one process the table of live jobs is where keys are
 * looked up, and a submit in progress holds its key in j->idem_pending
 * (under mu) until its job is in the table or it failed; another submit
 * with that key waits for it. On a shared store the key is bound to the
 * new job's id in the store (store_idem_bind), atomically for every
 * process, before anything is written; a submit that finds the key bound
 * answers with that job once its record can be read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs_internal.h"

/* Waits for a racing submit of the same key: steps of IDEM_STEP_MS, at
 * most IDEM_WAIT_MS in all (a submit stores its inputs meanwhile). */
#define IDEM_STEP_MS 50
#define IDEM_WAIT_MS 30000

struct idem_pending {
    const job_info *rec;        /* the submitting job's record (owner, key) */
    struct idem_pending *next;
};

int jobs_idem_key_valid(const char *key)
{
    size_t n = 0;
    for (; key && key[n]; n++)
        if (key[n] < 0x20 || key[n] > 0x7e || n >= JOBS_IDEM_KEY_MAX) return 0;
    return n > 0;
}

/* ---------------------------------------------------------------- digest */

/* FNV-1a with 128 bits (offset basis and prime of the FNV specification). */
typedef unsigned __int128 u128;
#define FNV128_PRIME (((u128)1 << 88) | 0x13b)
#define FNV128_BASIS (((u128)0x6c62272e07bb0142ULL << 64) | 0x62b821756295c58dULL)

static u128 fnv(u128 h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * FNV128_PRIME;
    return h;
}

/* One input: its length, then its bytes (so no two lists of inputs feed
 * the same bytes). */
static u128 fnv_input(u128 h, const void *data, size_t len)
{
    unsigned long long n = len;
    h = fnv(h, &n, sizeof n);
    return fnv(h, data, len);
}

int jobs_idem_digest(const nst_params *p, const jobs_input *content, const jobs_input *styles,
                     int n_styles, const jobs_request *req, job_digest out)
{
    char *params = nst_params_to_json(p);   /* every value, in one order */
    if (!params) return JOBS_ENOMEM;
    u128 h = fnv_input(FNV128_BASIS, params, strlen(params));
    free(params);
    h = fnv_input(h, content->data, content->len);
    for (int i = 0; i < n_styles; i++) h = fnv_input(h, styles[i].data, styles[i].len);
    /* the masks, when there are any (a job without keeps its digest) */
    const jobs_input *cm = req ? req->content_mask : NULL;
    if ((req && req->style_masks) || (cm && cm->len)) {
        for (int i = 0; i < n_styles; i++) {
            const jobs_input *m = req->style_masks ? &req->style_masks[i] : NULL;
            h = m ? fnv_input(h, m->data, m->len) : fnv_input(h, "", 0);
        }
        h = cm ? fnv_input(h, cm->data, cm->len) : fnv_input(h, "", 0);
    }
    snprintf(out, sizeof(job_digest), "%016llx%016llx", (unsigned long long)(h >> 64),
             (unsigned long long)h);
    return 0;
}

/* ---------------------------------------------------------------- lookup */

static int same_key(const job_info *a, const job_info *b)
{
    return strcmp(a->owner, b->owner) == 0 && strcmp(a->idem_key, b->idem_key) == 0;
}

/* The answer for an earlier job with the key (under mu): a replay when its
 * inputs were the same, else JOBS_EKEYREUSED; *out gets it either way. */
static int earlier(const struct job *old, const job_info *rec, job_info *out)
{
    if (job_info_copy(out, &old->rec) < 0) return JOBS_ENOMEM;
    return strcmp(old->rec.idem_digest, rec->idem_digest) == 0 ? JOBS_REPLAYED : JOBS_EKEYREUSED;
}

/* The live job that rec's owner created with rec's key (under mu). */
static struct job *find_key(jobs *j, const job_info *rec)
{
    for (int i = 0; i < j->n_all; i++)
        if (same_key(&j->all[i]->rec, rec)) return j->all[i];
    return NULL;
}

static struct idem_pending *find_pending(jobs *j, const job_info *rec)
{
    for (struct idem_pending *q = j->idem_pending; q; q = q->next)
        if (same_key(q->rec, rec)) return q;
    return NULL;
}

/* A store of one process: look the key up among the live jobs, waiting
 * while another submit holds it; else hold it. */
static int begin_local(jobs *j, struct job *jb, job_info *out)
{
    struct idem_pending *mine = calloc(1, sizeof *mine);
    if (!mine) return JOBS_ENOMEM;
    mine->rec = &jb->rec;
    int rc = 0;
    pthread_mutex_lock(&j->mu);
    for (int waited = 0;; waited += IDEM_STEP_MS) {
        struct job *old = find_key(j, &jb->rec);
        if (old) {
            rc = earlier(old, &jb->rec, out);
            break;
        }
        if (!find_pending(j, &jb->rec)) {
            mine->next = j->idem_pending;
            j->idem_pending = mine;
            mine = NULL;
            break;
        }
        if (waited >= IDEM_WAIT_MS || j->stopping) {
            rc = j->stopping ? JOBS_ESHUTDOWN : JOBS_EUNAVAILABLE;
            break;
        }
        struct timespec dl = jobs_deadline(IDEM_STEP_MS);
        pthread_cond_timedwait(&j->change_cv, &j->mu, &dl);
    }
    pthread_mutex_unlock(&j->mu);
    free(mine);
    return rc;
}

/* A shared store: bind the key to this job, or answer with the job it is
 * bound to once its record is here. */
static int begin_shared(jobs *j, struct job *jb, job_info *out)
{
    const job_info *rec = &jb->rec;
    for (int waited = 0;; waited += IDEM_STEP_MS) {
        char bound[JOB_ID_LEN + 1] = "";
        int rc = store_idem_bind(j->st, rec->owner, rec->idem_key, rec->id, bound);
        if (rc == 0) return 0;
        if (rc != -EEXIST) return jobs_store_code(rc == -ENOTCONN ? -EIO : rc);
        jobs_cluster_refresh(j, bound);
        pthread_mutex_lock(&j->mu);
        struct job *old = jobs_find(j, bound);
        rc = old ? earlier(old, rec, out) : 0;
        int stopping = j->stopping;
        pthread_mutex_unlock(&j->mu);
        if (old) return rc;
        /* bound by a submit still storing its inputs (or one that died:
         * its binding expires) */
        if (waited >= IDEM_WAIT_MS || stopping) return stopping ? JOBS_ESHUTDOWN : JOBS_EUNAVAILABLE;
        struct timespec ts = {0, IDEM_STEP_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int jobs_idem_begin(jobs *j, struct job *jb, job_info *out)
{
    if (!jb->rec.idem_key[0]) return 0;
    return j->shared ? begin_shared(j, jb, out) : begin_local(j, jb, out);
}

void jobs_idem_end_locked(jobs *j, struct job *jb)
{
    if (!jb->rec.idem_key[0] || j->shared) return;
    for (struct idem_pending **pp = &j->idem_pending; *pp; pp = &(*pp)->next) {
        if ((*pp)->rec == &jb->rec) {
            struct idem_pending *q = *pp;
            *pp = q->next;
            free(q);
            pthread_cond_broadcast(&j->change_cv);   /* waiters look again */
            return;
        }
    }
}

void jobs_idem_abandon(jobs *j, struct job *jb)
{
    if (jb->rec.idem_key[0] && j->shared)
        store_idem_unbind(j->st, jb->rec.owner, jb->rec.idem_key, jb->rec.id);
}
