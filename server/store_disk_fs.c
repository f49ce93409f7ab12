/*
 * store_disk_fs.c — the disk store's files and directories (see
 * store_disk_fs.h): paths checked so that no argument names a place outside
 * a job's directory, crash-safe whole-file writes in a job's directory,
 * tree removal that never follows links, and what opening the store does
 * to the directory (sweeping crash leftovers, sealing legacy blobs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nst.h"
#include "store_disk_fs.h"

/* ================================================================ names and paths */

/* buf = root[/id[/name]]; 0 or -ENAMETOOLONG. */
int disk_path(const disk_store *s, const char *id, const char *name, char *buf, size_t len)
{
    int n = name ? snprintf(buf, len, "%s/%s/%s", s->root, id, name)
                 : snprintf(buf, len, "%s/%s", s->root, id);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Validate id (and name when not NULL) and build the path. */
int disk_checked_path(const disk_store *s, const char *id, const char *name, char *buf,
                        size_t len)
{
    if (!job_id_valid(id) || (name && !store_name_valid(name))) return -EINVAL;
    return disk_path(s, id, name, buf, len);
}

/* ================================================================ low-level file helpers */

/* mkdir -p, for the data directory. */
int disk_make_dirs(const char *path)
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
int disk_remove_tree_at(int dirfd, const char *name)
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
        int r = disk_remove_tree_at(fd, e->d_name);
        if (r < 0 && rc == 0) rc = r;
    }
    closedir(d);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && rc == 0) rc = -errno;
    return rc;
}

/* ================================================================ at open */

/* Remove what a crash can leave behind: ".trash-*" job directories and
 * ".tmp-*" files inside job directories. */
void disk_sweep(disk_store *s)
{
    DIR *d = opendir(s->root);
    if (!d) return;
    int rootfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".trash-", 7) == 0 || strncmp(e->d_name, ".probe-", 7) == 0) {
            disk_remove_tree_at(rootfd, e->d_name);
            continue;
        }
        if (!job_id_valid(e->d_name)) continue;
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

/* ================================================================ files of one job */

int disk_file_write(disk_store *s, const char *id, const char *name, const void *data,
                      size_t len)
{
    char dir[PATH_MAX], path[PATH_MAX];
    int rc = disk_checked_path(s, id, name, path, sizeof path);
    if (rc < 0 || (rc = disk_path(s, id, NULL, dir, sizeof dir)) < 0) return rc;

    if (mkdir(dir, 0700) == 0) {
        rc = nst_dir_sync(s->root); /* the new job directory itself must survive a crash */
        if (rc < 0) return rc;
    } else if (errno != EEXIST) {
        return -errno;
    }

    return nst_file_write(path, data, len);
}

int disk_file_read(disk_store *s, const char *id, const char *name, unsigned char **data,
                     size_t *len)
{
    char path[PATH_MAX];
    *data = NULL;
    *len = 0;
    int rc = disk_checked_path(s, id, name, path, sizeof path);
    return rc < 0 ? rc : nst_file_read(path, NST_FILE_NOFOLLOW, data, len);
}

int disk_file_unlink(disk_store *s, const char *id, const char *name)
{
    char path[PATH_MAX], dir[PATH_MAX];
    int rc = disk_checked_path(s, id, name, path, sizeof path);
    if (rc < 0 || (rc = disk_path(s, id, NULL, dir, sizeof dir)) < 0) return rc;
    if (unlink(path) != 0) return errno == ENOENT ? 0 : -errno;
    return nst_dir_sync(dir);
}

/* Seal the blobs of a store written before blobs had seals (store.c): a
 * store without FORMAT_NAME has its blobs trusted once, as they are, and
 * sealed; then the marker is written. Files that are not blobs (the
 * record, the fence, temporaries) are left as they are. */
int disk_seal_legacy(disk_store *s)
{
    char marker[PATH_MAX];
    if (snprintf(marker, sizeof marker, "%s/%s", s->root, FORMAT_NAME) >= (int)sizeof marker)
        return -ENAMETOOLONG;
    if (access(marker, F_OK) == 0) return 0;
    DIR *d = opendir(s->root);
    if (!d) return -errno;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!job_id_valid(e->d_name)) continue;
        char dir[PATH_MAX];
        if (disk_path(s, e->d_name, NULL, dir, sizeof dir) < 0) continue;
        DIR *jd = opendir(dir);
        struct dirent *f;
        while (rc == 0 && jd && (f = readdir(jd)) != NULL) {
            if (!store_name_valid(f->d_name) || !strcmp(f->d_name, RECORD_NAME) ||
                !strcmp(f->d_name, FENCE_NAME))
                continue;
            unsigned char *data = NULL;
            size_t len = 0;
            if (disk_file_read(s, e->d_name, f->d_name, &data, &len) != 0) continue;
            unsigned char *sealed = realloc(data, len + STORE_SEAL_LEN);
            if (!sealed) {
                free(data);
                rc = -ENOMEM;
                break;
            }
            store_seal(sealed + len, sealed, len);
            rc = disk_file_write(s, e->d_name, f->d_name, sealed, len + STORE_SEAL_LEN);
            free(sealed);
        }
        if (jd) closedir(jd);
    }
    closedir(d);
    static const char text[] = "blobs carry a checksum seal\n";
    return rc < 0 ? rc : nst_file_write(marker, text, sizeof text - 1);
}
