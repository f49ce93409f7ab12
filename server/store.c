/*
 * store.c — the store interface's calls (see store.h), each passed to the
 * implementation's table, and what every implementation shares.
 */
#include <errno.h>
#include <stdlib.h>

#include "store.h"

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
    return s->ops->blob_put(s, id, name, data, len, fence);
}

int store_blob_get(store *s, const char *id, const char *name, unsigned char **data, size_t *len)
{
    return s->ops->blob_get(s, id, name, data, len);
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
