/*
 * store.c — the store interface's calls (see store.h), each passed to the
 * implementation's table, and what every implementation shares: the seal
 * every blob is stored with.
 *
 * The seal is a trailer of STORE_SEAL_LEN bytes after the blob's own: the
 * magic "NSTDSUM1" and the blob's store_checksum, little-endian. A blob
 * read back is checked against it and handed out without it; a blob whose
 * seal is missing or does not match (truncated, or changed outside nstd)
 * is -EBADMSG, never served.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define SEAL_MAGIC "NSTDSUM1"
#define SEAL_MAGIC_LEN 8
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* ================================================================ the seal */

unsigned long long store_checksum(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

void store_seal(unsigned char *trailer, const void *data, size_t len)
{
    unsigned long long sum = store_checksum(data, len);
    memcpy(trailer, SEAL_MAGIC, SEAL_MAGIC_LEN);
    for (int i = 0; i < 8; i++) trailer[SEAL_MAGIC_LEN + i] = (unsigned char)(sum >> (8 * i));
}

/* The blob's own length when data (len bytes, seal included) carries a
 * seal that matches it; -EBADMSG when not. */
static long long seal_check(const unsigned char *data, size_t len)
{
    if (len < STORE_SEAL_LEN) return -EBADMSG;
    size_t n = len - STORE_SEAL_LEN;
    unsigned char want[STORE_SEAL_LEN];
    store_seal(want, data, n);
    return memcmp(want, data + n, STORE_SEAL_LEN) == 0 ? (long long)n : -EBADMSG;
}

void store_close(store *s)
{
    if (s) s->ops->close(s);
}

int store_writable(store *s)
{
    return s->ops->writable(s);
}

int store_free_space(store *s, unsigned long long *bytes)
{
    return s->ops->free_space ? s->ops->free_space(s, bytes) : -ENOTSUP;
}

int store_shared(store *s) { return s->ops->enqueue != NULL; }

void store_set_retention(store *s, int seconds)
{
    if (s->ops->set_retention) s->ops->set_retention(s, seconds);
}

int store_enqueue(store *s, job_info *rec, int limit)
{
    return s->ops->enqueue ? s->ops->enqueue(s, rec, limit) : -ENOTSUP;
}

int store_take(store *s, const char *worker, int lease_ms, store_task *t)
{
    return s->ops->take ? s->ops->take(s, worker, lease_ms, t) : -ENOTSUP;
}

int store_take_over(store *s, const job_info *running, store_fence *fence)
{
    return s->ops->take_over ? s->ops->take_over(s, running, fence) : -ENOTSUP;
}

int store_renew(store *s, const store_task *t, const char *worker, store_fence fence)
{
    return s->ops->renew ? s->ops->renew(s, t, worker, fence) : -ENOTSUP;
}

int store_done(store *s, const store_task *t, store_fence fence, int again)
{
    return s->ops->done ? s->ops->done(s, t, fence, again) : -ENOTSUP;
}

int store_counts_get(store *s, int alive_ms, store_counts *c)
{
    return s->ops->counts ? s->ops->counts(s, alive_ms, c) : -ENOTSUP;
}

int store_heartbeat(store *s, const char *worker, int gone)
{
    return s->ops->heartbeat ? s->ops->heartbeat(s, worker, gone) : -ENOTSUP;
}

int store_watch(store *s, store_change_fn fn, void *user)
{
    return s->ops->watch ? s->ops->watch(s, fn, user) : -ENOTSUP;
}

int store_idem_bind(store *s, const char *owner, const char *key, const char *id, char *bound)
{
    return s->ops->idem_bind ? s->ops->idem_bind(s, owner, key, id, bound) : -ENOTSUP;
}

int store_idem_unbind(store *s, const char *owner, const char *key, const char *id)
{
    return s->ops->idem_unbind ? s->ops->idem_unbind(s, owner, key, id) : -ENOTSUP;
}

int store_record_put(store *s, const job_info *rec, store_fence fence)
{
    return s->ops->record_put(s, rec, fence);
}

int store_record_get(store *s, const char *id, job_info *out, const char **why)
{
    return s->ops->record_get(s, id, out, why);
}

int store_claim(store *s, const job_info *running, store_fence *fence)
{
    return s->ops->claim(s, running, fence);
}

int store_blob_put(store *s, const char *id, const char *name, const void *data, size_t len,
                   store_fence fence)
{
    unsigned char *sealed = malloc(len + STORE_SEAL_LEN);
    if (!sealed) return -ENOMEM;
    if (len) memcpy(sealed, data, len);
    store_seal(sealed + len, data, len);
    int rc = s->ops->blob_put(s, id, name, sealed, len + STORE_SEAL_LEN, fence);
    free(sealed);
    return rc;
}

int store_blob_get(store *s, const char *id, const char *name, unsigned char **data, size_t *len)
{
    int rc = s->ops->blob_get(s, id, name, data, len);
    if (rc < 0) return rc;
    long long n = seal_check(*data, *len);
    if (n < 0) {
        free(*data);
        *data = NULL;
        *len = 0;
        return (int)n;
    }
    (*data)[n] = 0;   /* still NUL-terminated past the blob */
    *len = (size_t)n;
    return 0;
}

int store_job_quarantine(store *s, const char *id)
{
    return s->ops->quarantine ? s->ops->quarantine(s, id) : -ENOTSUP;
}

int store_blob_exists(store *s, const char *id, const char *name)
{
    return s->ops->blob_exists(s, id, name);
}

int store_blob_remove(store *s, const char *id, const char *name, store_fence fence)
{
    return s->ops->blob_remove(s, id, name, fence);
}

int store_job_remove(store *s, const char *id)
{
    return s->ops->job_remove(s, id);
}

int store_list(store *s, char ***ids, int *n)
{
    return s->ops->list(s, ids, n);
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void store_ids_sort(char **ids, int n)
{
    if (n > 1) qsort(ids, (size_t)n, sizeof *ids, compare_ids);
}

int store_ids_has(char *const *ids, int n, const char *id)
{
    return n > 0 && bsearch(&id, ids, (size_t)n, sizeof *ids, compare_ids) != NULL;
}

void store_ids_free(char **ids, int n)
{
    for (int i = 0; i < n; i++) free(ids[i]);
    free(ids);
}

int store_name_valid(const char *name)
{
    if (!name || !name[0] || name[0] == '.') return 0;
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                 (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-';
        if (!ok || n >= STORE_NAME_MAX) return 0;
    }
    return 1;
}
