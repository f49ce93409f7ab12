/*
 * fileio.h — the engine's file functions. Whole-file reads and crash-safe
 * whole-file writes are public (nst.h: nst_file_read, nst_file_write,
 * nst_dir_sync), since the nst command and the server's disk store use them;
 * what only the engine uses is declared here.
 */
#ifndef NST_FILEIO_H
#define NST_FILEIO_H

#include <stddef.h>

#include "nst.h"

/* Write all of buf to fd, through short writes and EINTR. 0 or -errno. */
int nst_file_write_all(int fd, const void *buf, size_t len);

/* Fills the temporary file: 0 or -errno. */
typedef int (*nst_fill_fn)(int fd, void *ctx);

/* Atomically replace path (mode 0644 before umask) with what fill writes.
 * 0 or -errno; on failure path is untouched and no temporary file remains. */
int nst_file_replace(const char *path, nst_fill_fn fill, void *ctx);

#endif
