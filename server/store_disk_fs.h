/*
 * store_disk_fs.h — what the disk store's two files share (store_disk.c,
 * the store's calls; store_disk_fs.c, its files and directories). Private
 * to them. Functions return 0 or -errno.
 */
#ifndef NSTD_STORE_DISK_FS_H
#define NSTD_STORE_DISK_FS_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>

#include "store.h"

#define RECORD_NAME "job.json"
#define FENCE_NAME "fence"
#define FORMAT_NAME ".format"        /* in the root: the blobs are sealed */
#define QUARANTINE_PREFIX ".corrupt-"

typedef struct {
    store base;
    char root[PATH_MAX];            /* absolute <data_dir>/jobs */
    pthread_mutex_t fence_mu;       /* fenced writes and claims */
} disk_store;

#define DISK(s) ((disk_store *)(s))

/* buf = root[/id[/name]]; 0 or -ENAMETOOLONG. */
int disk_path(const disk_store *s, const char *id, const char *name, char *buf, size_t len);
/* Validate id (and name when not NULL) and build the path; -EINVAL for a
 * bad id or name. */
int disk_checked_path(const disk_store *s, const char *id, const char *name, char *buf,
                      size_t len);
/* mkdir -p, for the data directory. */
int disk_make_dirs(const char *path);
/* Remove the entry `name` in directory dirfd and, when it is a directory,
 * everything in it; symbolic links are removed, never followed. */
int disk_remove_tree_at(int dirfd, const char *name);

/* Atomically write, read or remove one file of a job (creating the job's
 * directory on a write). A read's *data is malloc'd, NUL-terminated. */
int disk_file_write(disk_store *s, const char *id, const char *name, const void *data,
                    size_t len);
int disk_file_read(disk_store *s, const char *id, const char *name, unsigned char **data,
                   size_t *len);
int disk_file_unlink(disk_store *s, const char *id, const char *name);

/* At open: remove what a crash left (trash, temporaries), then seal the
 * blobs of a store from before seals. */
void disk_sweep(disk_store *s);
int disk_seal_legacy(disk_store *s);

#endif
