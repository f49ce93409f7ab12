/*
 * store.h — the on-disk job store. One directory per job:
 *   <data_dir>/jobs/<id>/{job.json, content, style-0 …, preview.png, result.png, checkpoint.png}
 * Every file is written atomically (temporary file in the same directory,
 * fsync, rename, fsync of the directory), so a crash at any moment leaves
 * either the old file or the new one, never half of one. No locking here:
 * the job manager serialises writes to one job.
 */
#ifndef NSTD_STORE_H
#define NSTD_STORE_H

#include <stddef.h>

typedef struct store store;

/* Create <data_dir>/jobs if needed and check it is writable. On failure
 * returns -1 and a message in err. Caller frees with store_close. */
int store_open(store **out, const char *data_dir, char *err, size_t errlen);
void store_close(store *s);

/* 1 when the store's directory is writable now (readiness). */
int store_writable(store *s);

/* Atomically write the file `name` of job `id` (creating the job directory). 0 or -errno. */
int store_write(store *s, const char *id, const char *name, const void *data, size_t len);
/* Read a whole file; *data is malloc'd (caller free()s) and NUL-terminated
 * past len. 0, -ENOENT, or -errno. */
int store_read(store *s, const char *id, const char *name, unsigned char **data, size_t *len);
/* 1 when the file exists. */
int store_exists(store *s, const char *id, const char *name);
/* Remove one file of a job (missing is fine). */
int store_unlink(store *s, const char *id, const char *name);
/* Remove a job's directory and all its files. */
int store_remove(store *s, const char *id);
/* The ids of all job directories (well-formed ids only; temporaries and
 * strays ignored). *ids is a malloc'd array of malloc'd strings; free with
 * store_ids_free. */
int store_list(store *s, char ***ids, int *n);
void store_ids_free(char **ids, int n);

/* 1 when id is a well-formed job id: exactly 32 lower-case hex digits. Every
 * function above rejects other ids with -EINVAL (file names likewise must be
 * plain names: letters, digits, '.', '_', '-', not starting with '.').
 * store_remove of a job that does not exist returns 0, like store_unlink. */
int store_id_valid(const char *id);

#endif
