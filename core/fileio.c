/*
 * fileio.c — whole-file reads and atomic file replacement (see fileio.h).
 * POSIX only; no buffering of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

int nst_file_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -errno;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

int nst_dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int nst_file_replace(const char *path, nst_fill_fn fill, void *ctx)
{
    char dir[PATH_MAX], base[PATH_MAX], tmp[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir ||
        snprintf(base, sizeof base, "%s", path) >= (int)sizeof base)
        return -ENAMETOOLONG;
    const char *d = dirname(dir), *b = basename(base);
    if (snprintf(tmp, sizeof tmp, "%s/.tmp-%s-XXXXXX", d, b) >= (int)sizeof tmp) return -ENAMETOOLONG;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return -errno;
    mode_t mask = umask(0);
    umask(mask);
    int rc = fchmod(fd, 0644 & ~mask) == 0 ? 0 : -errno;
    if (rc == 0) rc = fill(fd, ctx);
    if (rc == 0 && fsync(fd) != 0) rc = -errno;
    if (close(fd) != 0 && rc == 0) rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    return nst_dir_sync(d);
}

typedef struct {
    const void *data;
    size_t len;
} buffer;

static int fill_buffer(int fd, void *ctx)
{
    const buffer *b = ctx;
    return nst_file_write_all(fd, b->data, b->len);
}

int nst_file_write(const char *path, const void *data, size_t len)
{
    buffer b = {data, len};
    return nst_file_replace(path, fill_buffer, &b);
}

int nst_file_read(const char *path, int flags, unsigned char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | (flags & NST_FILE_NOFOLLOW ? O_NOFOLLOW : 0));
    if (fd < 0) return -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) rc = -errno;
    else if (!S_ISREG(st.st_mode)) rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    unsigned char *buf = rc == 0 ? malloc((size_t)st.st_size + 1) : NULL;
    if (rc == 0 && !buf) rc = -ENOMEM;
    size_t got = 0;
    while (rc == 0 && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = -errno;
        if (r <= 0) break; /* shrank since fstat: what is there */
        got += (size_t)r;
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[got] = 0;
    *data = buf;
    *len = got;
    return 0;
}
