/*
 * store.c — the on-disk job store: <data_dir>/jobs/<id>/<name>, one
 * directory per job, one file per artefact (see store.h).
 *
 * Durability: a file is written to ".tmp-<name>-XXXXXX" in the job's own
 * directory, fsync'd, renamed over <name>, and the directory is fsync'd, so
 * after a crash a reader sees the old file or the new one, never a torn
 * one. A job directory is removed by first renaming it to ".trash-<id>-…"
 * (atomic), then deleting the tree, so a crash half-way through never leaves
 * a job that looks valid but lacks files. Leftover temporaries and trash
 * from such a crash are swept by store_open.
 *
 * Safety: ids must be exactly 32 lower-case hex digits and file names plain
 * names ([A-Za-z0-9._-], not starting with '.'), checked on every call, so
 * no argument can name a path outside the job's directory; the tree removal
 * never follows symbolic links.
 *
 * Not here: locking (the job manager serialises writes to one job), job
 * semantics (what job.json holds), expiry.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nst.h"
#include "store.h"

#define STORE_ID_LEN 32
#define STORE_NAME_MAX 64

struct store {
    char root[PATH_MAX]; /* absolute <data_dir>/jobs */
};

/* ================================================================ names and paths */

int store_id_valid(const char *id)
{
    if (!id) return 0;
    for (int i = 0; i < STORE_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return 0;
    return id[STORE_ID_LEN] == 0;
}

/* A file name inside a job directory: a plain name that cannot be ".", "..",
 * a temporary (leading dot) or contain a separator. */
static int name_valid(const char *name)
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

/* buf = root[/id[/name]]; 0 or -ENAMETOOLONG. */
static int job_path(const store *s, const char *id, const char *name, char *buf, size_t len)
{
    int n = name ? snprintf(buf, len, "%s/%s/%s", s->root, id, name)
                 : snprintf(buf, len, "%s/%s", s->root, id);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Validate id (and name when not NULL) and build the path. */
static int checked_path(const store *s, const char *id, const char *name, char *buf,
                        size_t len)
{
    if (!store_id_valid(id) || (name && !name_valid(name))) return -EINVAL;
    return job_path(s, id, name, buf, len);
}

/* ================================================================ low-level file helpers */

/* mkdir -p, for the data directory. */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -errno;
    return 0;
}

/* Remove the entry `name` in directory dirfd and, when it is a directory,
 * everything in it. Symbolic links are removed, never followed. */
static int remove_tree_at(int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode)) return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : -errno;

    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        close(fd);
        return e;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        int r = remove_tree_at(fd, e->d_name);
        if (r < 0 && rc == 0) rc = r;
    }
    closedir(d);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && rc == 0) rc = -errno;
    return rc;
}

/* ================================================================ open, close, readiness */

/* Remove what a crash can leave behind: ".trash-*" job directories and
 * ".tmp-*" files inside job directories. */
static void sweep(store *s)
{
    DIR *d = opendir(s->root);
    if (!d) return;
    int rootfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".trash-", 7) == 0 || strncmp(e->d_name, ".probe-", 7) == 0) {
            remove_tree_at(rootfd, e->d_name);
            continue;
        }
        if (!store_id_valid(e->d_name)) continue;
        int fd = openat(rootfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) continue;
        DIR *jd = fdopendir(fd);
        if (!jd) {
            close(fd);
            continue;
        }
        struct dirent *f;
        while ((f = readdir(jd)) != NULL)
            if (strncmp(f->d_name, ".tmp-", 5) == 0) unlinkat(fd, f->d_name, 0);
        closedir(jd);
    }
    closedir(d);
}

int store_open(store **out, const char *data_dir, char *err, size_t errlen)
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
    int rc = make_dirs(jobs);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create %s: %s", jobs, strerror(-rc));
        return -1;
    }
    /* Absolute, so that a later chdir cannot move the store. */
    if (!realpath(jobs, real)) {
        snprintf(err, errlen, "cannot resolve %s: %s", jobs, strerror(errno));
        return -1;
    }
    store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(s->root, sizeof s->root, "%s", real);
    if (!store_writable(s)) {
        snprintf(err, errlen, "data directory %s is not writable: %s", s->root, strerror(errno));
        free(s);
        return -1;
    }
    sweep(s);
    *out = s;
    return 0;
}

void store_close(store *s)
{
    free(s);
}

/* Writable means a file can be created and removed now: this catches a
 * read-only remount or lost permissions, which access(2) would not. */
int store_writable(store *s)
{
    char probe[PATH_MAX];
    if (snprintf(probe, sizeof probe, "%s/.probe-XXXXXX", s->root) >= (int)sizeof probe) return 0;
    int fd = mkostemp(probe, O_CLOEXEC);
    if (fd < 0) return 0;
    close(fd);
    unlink(probe);
    return 1;
}

/* ================================================================ files of one job */

int store_write(store *s, const char *id, const char *name, const void *data, size_t len)
{
    char dir[PATH_MAX], path[PATH_MAX];
    int rc = checked_path(s, id, name, path, sizeof path);
    if (rc < 0 || (rc = job_path(s, id, NULL, dir, sizeof dir)) < 0) return rc;

    if (mkdir(dir, 0700) == 0) {
        rc = nst_dir_sync(s->root); /* the new job directory itself must survive a crash */
        if (rc < 0) return rc;
    } else if (errno != EEXIST) {
        return -errno;
    }

    return nst_file_write(path, data, len);
}

int store_read(store *s, const char *id, const char *name, unsigned char **data, size_t *len)
{
    char path[PATH_MAX];
    *data = NULL;
    *len = 0;
    int rc = checked_path(s, id, name, path, sizeof path);
    return rc < 0 ? rc : nst_file_read(path, NST_FILE_NOFOLLOW, data, len);
}

int store_exists(store *s, const char *id, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    if (checked_path(s, id, name, path, sizeof path) < 0) return 0;
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int store_unlink(store *s, const char *id, const char *name)
{
    char path[PATH_MAX], dir[PATH_MAX];
    int rc = checked_path(s, id, name, path, sizeof path);
    if (rc < 0 || (rc = job_path(s, id, NULL, dir, sizeof dir)) < 0) return rc;
    if (unlink(path) != 0) return errno == ENOENT ? 0 : -errno;
    return nst_dir_sync(dir);
}

/* ================================================================ whole jobs */

int store_remove(store *s, const char *id)
{
    char dir[PATH_MAX], trash[PATH_MAX];
    int rc = checked_path(s, id, NULL, dir, sizeof dir);
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
    return remove_tree_at(AT_FDCWD, trash);
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_list(store *s, char ***ids, int *n)
{
    *ids = NULL;
    *n = 0;
    DIR *d = opendir(s->root);
    if (!d) return -errno;
    int rootfd = dirfd(d), count = 0, cap = 0, rc = 0;
    char **list = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (!store_id_valid(e->d_name)) continue;
        if (fstatat(rootfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
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
    if (count) qsort(list, (size_t)count, sizeof *list, compare_ids);
    *ids = list;
    *n = count;
    return 0;
}

void store_ids_free(char **ids, int n)
{
    for (int i = 0; i < n; i++) free(ids[i]);
    free(ids);
}
