/*
 * fileio.h — whole-file reads and crash-safe replacement of files, shared by
 * the engine (PNG and model writing), the nst command and the server's job
 * store.
 *
 * A replaced file is written to a temporary ".tmp-<name>-XXXXXX" in the same
 * directory, fsynced, renamed over the target, and the directory is
 * fsynced: a reader (or a restart after a crash) sees the old file or the
 * whole new one, never part of one. Leftover ".tmp-*" files are only ever
 * the remains of a crash.
 */
#ifndef NST_FILEIO_H
#define NST_FILEIO_H

#include <stddef.h>

/* Write all of buf to fd, through short writes and EINTR. 0 or -errno. */
int nst_file_write_all(int fd, const void *buf, size_t len);

/* fsync a directory, so entries created, renamed or removed in it survive
 * a crash. 0 or -errno. */
int nst_dir_sync(const char *dir);

/* Fills the temporary file: 0 or -errno. */
typedef int (*nst_fill_fn)(int fd, void *ctx);

/* Atomically replace path (mode 0644 before umask) with what fill writes.
 * 0 or -errno; on failure path is untouched and no temporary file remains. */
int nst_file_replace(const char *path, nst_fill_fn fill, void *ctx);
/* The same with a buffer as the content. */
int nst_file_write(const char *path, const void *data, size_t len);

/* Read a whole regular file. *data is malloc'd, NUL-terminated past *len;
 * caller free()s. flags: 0 or NST_FILE_NOFOLLOW (a symbolic link as the last
 * component fails with -ELOOP). 0 or -errno. */
#define NST_FILE_NOFOLLOW 1
int nst_file_read(const char *path, int flags, unsigned char **data, size_t *len);

#endif
