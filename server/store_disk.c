/*
 * store_disk.c — the disk store (store.h): <data_dir>/jobs/<id>/<name>, one
 * directory per job, one file per blob, the record in job.json and the
 * job's fencing token in fence. One process uses it at a time.
 *
 * Durability: a file is written to ".tmp-<name>-XXXXXX" in the job's own
 * directory, fsync'd, renamed over <name>, and the directory is fsync'd, so
 * after a crash a reader sees the old file or the new one, never a torn
 * one. A job directory is removed by first renaming it to ".trash-<id>-…"
 * (atomic), then deleting the tree, so a crash half-way through never leaves
 * a job that looks valid but lacks files. Leftover temporaries and trash
 * from such a crash are swept when the store is opened.
 *
 * Safety: ids must be exactly 32 lower-case hex digits and file names plain
 * names ([A-Za-z0-9._-], not starting with '.'), checked on every call, so
 * no argument can name a path outside the job's directory; the tree removal
 * never follows symbolic links.
 *
 * Fencing: one mutex makes each fenced write (check the token in fence,
 * then write) and each claim (check the record is queued, write the next
 * token, then the running record) atomic within the process.
 *
 * Not here: paths, file writes and what opening does to the directory
 * (store_disk_fs.c); job semantics (job.h says what a record holds), expiry.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "nst.h"
#include "store.h"
#include "store_disk_fs.h"

#define LIST_MIN_CAP 64             /* first size of a listing */
#define FENCE_TEXT_MAX 32           /* decimal digits of a token, and then some */

/* ================================================================ open, close, readiness */

static const store_ops disk_ops;
static void disk_close(store *st);

/* Writable means a file can be created and removed now: this catches a
 * read-only remount or lost permissions, which access(2) would not. */
static int disk_writable(store *st)
{
    disk_store *s = DISK(st);
    char probe[PATH_MAX];
    if (snprintf(probe, sizeof probe, "%s/.probe-XXXXXX", s->root) >= (int)sizeof probe) return 0;
    int fd = mkostemp(probe, O_CLOEXEC);
    if (fd < 0) return 0;
    close(fd);
    unlink(probe);
    return 1;
}

int store_disk_open(store **out, const char *data_dir, char *err, size_t errlen)
{
    *out = NULL;
    char jobs[PATH_MAX], real[PATH_MAX];
    if (!data_dir || !data_dir[0]) {
        snprintf(err, errlen, "data directory is empty");
        return -1;
    }
    if (snprintf(jobs, sizeof jobs, "%s/jobs", data_dir) >= (int)sizeof jobs) {
        snprintf(err, errlen, "data directory path too long: %s", data_dir);
        return -1;
    }
    int rc = disk_make_dirs(jobs);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create %s: %s", jobs, strerror(-rc));
        return -1;
    }
    /* Absolute, so that a later chdir cannot move the store. */
    if (!realpath(jobs, real)) {
        snprintf(err, errlen, "cannot resolve %s: %s", jobs, strerror(errno));
        return -1;
    }
    disk_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->base.ops = &disk_ops;
    snprintf(s->root, sizeof s->root, "%s", real);
    if (!disk_writable(&s->base)) {
        snprintf(err, errlen, "data directory %s is not writable: %s", s->root, strerror(errno));
        free(s);
        return -1;
    }
    pthread_mutex_init(&s->fence_mu, NULL);
    disk_sweep(s);
    if ((rc = disk_seal_legacy(s)) < 0) {
        snprintf(err, errlen, "cannot seal the blobs of %s: %s", s->root, strerror(-rc));
        disk_close(&s->base);
        return -1;
    }
    *out = &s->base;
    return 0;
}

static void disk_close(store *st)
{
    disk_store *s = DISK(st);
    pthread_mutex_destroy(&s->fence_mu);
    free(s);
}

/* Free space for an unprivileged writer of the store's file system. */
static int disk_free_space(store *st, unsigned long long *bytes)
{
    struct statvfs vfs;
    if (statvfs(DISK(st)->root, &vfs) != 0) return -errno;
    *bytes = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    return 0;
}

/* ================================================================ fences */

/* The job's current token (0 before its first claim). Under fence_mu. */
static int fence_read(disk_store *s, const char *id, store_fence *out)
{
    unsigned char *text = NULL;
    size_t len = 0;
    *out = STORE_UNFENCED;
    int rc = disk_file_read(s, id, FENCE_NAME, &text, &len);
    if (rc == -ENOENT) return 0;
    if (rc < 0) return rc;
    char *end;
    errno = 0;
    *out = strtoull((const char *)text, &end, 10);
    rc = errno || end == (char *)text ? -EBADMSG : 0;
    free(text);
    return rc;
}

/* Before a write: a fenced write takes fence_mu and goes on only while
 * fence is the job's token (-ESTALE when another claim took the job);
 * fence_release lets go after the write. Unfenced writes pass. */
static int fence_hold(disk_store *s, const char *id, store_fence fence)
{
    if (fence == STORE_UNFENCED) return 0;
    pthread_mutex_lock(&s->fence_mu);
    store_fence now;
    int rc = fence_read(s, id, &now);
    if (rc == 0 && now != fence) rc = -ESTALE;
    if (rc < 0) pthread_mutex_unlock(&s->fence_mu);
    return rc;
}

static void fence_release(disk_store *s, store_fence fence)
{
    if (fence != STORE_UNFENCED) pthread_mutex_unlock(&s->fence_mu);
}

/* ================================================================ records */

static int record_write(disk_store *s, const job_info *rec)
{
    cJSON *o = job_to_json(rec);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text) return -ENOMEM;
    int rc = disk_file_write(s, rec->id, RECORD_NAME, text, strlen(text));
    free(text);
    return rc;
}

static int disk_record_put(store *st, const job_info *rec, store_fence fence)
{
    disk_store *s = DISK(st);
    int rc = fence_hold(s, rec->id, fence);
    if (rc == 0) {
        rc = record_write(s, rec);
        fence_release(s, fence);
    }
    return rc;
}

static int disk_record_get(store *st, const char *id, job_info *out, const char **why)
{
    unsigned char *text = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    *why = NULL;
    int rc = disk_file_read(DISK(st), id, RECORD_NAME, &text, &len);
    if (rc < 0) return rc;
    cJSON *o = cJSON_ParseWithLength((const char *)text, len);
    free(text);
    rc = job_from_json(o, out, why) == 0 && strcmp(out->id, id) == 0 ? 0 : -EBADMSG;
    if (rc < 0 && !*why) *why = "the record is of another job";
    if (rc < 0) job_info_free(out);
    cJSON_Delete(o);
    return rc;
}

static int disk_claim(store *st, const job_info *running, store_fence *fence)
{
    disk_store *s = DISK(st);
    const char *why;
    job_info now;
    pthread_mutex_lock(&s->fence_mu);
    int rc = disk_record_get(st, running->id, &now, &why);
    if (rc == 0 && now.state != JOB_QUEUED) rc = -EBUSY;
    job_info_free(&now);
    store_fence f = 0;
    if (rc == 0) rc = fence_read(s, running->id, &f);
    char text[FENCE_TEXT_MAX];
    snprintf(text, sizeof text, "%llu", ++f);
    if (rc == 0) rc = disk_file_write(s, running->id, FENCE_NAME, text, strlen(text));
    if (rc == 0) rc = record_write(s, running);
    pthread_mutex_unlock(&s->fence_mu);
    if (rc == 0) *fence = f;
    return rc;
}

/* ================================================================ blobs */

static int disk_blob_put(store *st, const char *id, const char *name, const void *data,
                         size_t len, store_fence fence)
{
    disk_store *s = DISK(st);
    int rc = fence_hold(s, id, fence);
    if (rc == 0) {
        rc = disk_file_write(s, id, name, data, len);
        fence_release(s, fence);
    }
    return rc;
}

static int disk_blob_get(store *st, const char *id, const char *name, unsigned char **data,
                         size_t *len)
{
    return disk_file_read(DISK(st), id, name, data, len);
}

static int disk_blob_exists(store *st, const char *id, const char *name)
{
    char path[PATH_MAX];
    struct stat sb;
    if (disk_checked_path(DISK(st), id, name, path, sizeof path) < 0) return 0;
    return lstat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int disk_blob_remove(store *st, const char *id, const char *name, store_fence fence)
{
    disk_store *s = DISK(st);
    int rc = fence_hold(s, id, fence);
    if (rc == 0) {
        rc = disk_file_unlink(s, id, name);
        fence_release(s, fence);
    }
    return rc;
}

/* ================================================================ whole jobs */

/* Rename the job's directory to .corrupt-<id>-XXXXXX (kept, never swept). */
static int disk_quarantine(store *st, const char *id)
{
    disk_store *s = DISK(st);
    char dir[PATH_MAX], aside[PATH_MAX];
    int rc = disk_checked_path(s, id, NULL, dir, sizeof dir);
    if (rc < 0) return rc;
    if (snprintf(aside, sizeof aside, "%s/" QUARANTINE_PREFIX "%s-XXXXXX", s->root, id) >=
        (int)sizeof aside)
        return -ENAMETOOLONG;
    if (!mkdtemp(aside)) return -errno;
    if (rename(dir, aside) != 0) {
        rc = -errno;
        rmdir(aside);
        return rc;
    }
    return nst_dir_sync(s->root);
}

static int disk_job_remove(store *st, const char *id)
{
    disk_store *s = DISK(st);
    char dir[PATH_MAX], trash[PATH_MAX];
    int rc = disk_checked_path(s, id, NULL, dir, sizeof dir);
    if (rc < 0) return rc;
    if (snprintf(trash, sizeof trash, "%s/.trash-%s-XXXXXX", s->root, id) >= (int)sizeof trash)
        return -ENAMETOOLONG;
    /* A unique name for the trash: mkdtemp reserves it, rename replaces the
     * empty directory atomically. */
    if (!mkdtemp(trash)) return -errno;
    if (rename(dir, trash) != 0) {
        rc = errno == ENOENT ? 0 : -errno; /* already gone is fine */
        rmdir(trash);
        return rc;
    }
    nst_dir_sync(s->root);
    return disk_remove_tree_at(AT_FDCWD, trash);
}

static int disk_list(store *st, char ***ids, int *n)
{
    *ids = NULL;
    *n = 0;
    DIR *d = opendir(DISK(st)->root);
    if (!d) return -errno;
    int rootfd = dirfd(d), count = 0, cap = 0, rc = 0;
    char **list = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat sb;
        if (!job_id_valid(e->d_name)) continue;
        if (fstatat(rootfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(sb.st_mode))
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : LIST_MIN_CAP;
            char **grown = realloc(list, (size_t)cap * sizeof *list);
            if (!grown) {
                rc = -ENOMEM;
                break;
            }
            list = grown;
        }
        if (!(list[count] = strdup(e->d_name))) {
            rc = -ENOMEM;
            break;
        }
        count++;
    }
    closedir(d);
    if (rc < 0) {
        store_ids_free(list, count);
        return rc;
    }
    store_ids_sort(list, count);
    *ids = list;
    *n = count;
    return 0;
}

static const store_ops disk_ops = {
    .close = disk_close,
    .writable = disk_writable,
    .record_put = disk_record_put,
    .record_get = disk_record_get,
    .claim = disk_claim,
    .blob_put = disk_blob_put,
    .blob_get = disk_blob_get,
    .blob_exists = disk_blob_exists,
    .blob_remove = disk_blob_remove,
    .job_remove = disk_job_remove,
    .list = disk_list,
    .free_space = disk_free_space,
    .quarantine = disk_quarantine,
};
