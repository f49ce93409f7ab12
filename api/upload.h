/*
 * upload.h — the body of POST /v1/jobs: multipart/form-data streamed through
 * libmicrohttpd's post processor into memory buffers, one per part, under a
 * running byte limit on the whole body.
 *
 * Parts: `content` (exactly one), `style` (1…max_styles, in order),
 * `style_mask` (none, or one per style in the same order; an empty one:
 * that style has no mask), `content_mask` (at most one; empty: none),
 * `params` (at most one, JSON text). Any other part name is an error. The first error
 * wins (except that a body over the limit always ends as 413) and is kept as
 * an HTTP status, an error code, the part it concerns and a message; nothing
 * is buffered after it, but bytes are still counted against the limit.
 *
 * Usage: upload_create on the first call (NULL: not multipart → 415),
 * upload_feed for every chunk, upload_finish at the end, then read the
 * parts; upload_free.
 */
#ifndef NSTD_UPLOAD_H
#define NSTD_UPLOAD_H

#include <stddef.h>

#include <microhttpd.h>

#include "nst.h"

typedef struct {
    unsigned char *data;        /* owned by the upload */
    size_t len, cap;
} upload_part;

typedef struct {
    struct MHD_PostProcessor *pp;
    long max_bytes;             /* whole body */
    long received;
    int max_styles;

    upload_part content;
    int n_content;
    upload_part styles[NST_MAX_STYLES];
    int n_styles;
    upload_part style_masks[NST_MAX_STYLES];
    int n_style_masks;
    upload_part content_mask;
    int n_content_mask;
    upload_part params;
    int n_params;

    upload_part *cur;           /* part being received */
    char cur_key[16];
    char cur_filename[72];      /* its file name ("\1" none), cut to 71 bytes */

    int status;                 /* 0, or the HTTP status of the first error */
    char code[32];
    char field[32];
    char message[256];
} upload;

/* 1 when a Content-Type header (NULL: none) says multipart/form-data. */
int upload_is_multipart(const char *content_type);
/* NULL when the request is not multipart/form-data. Caller frees. */
upload *upload_create(struct MHD_Connection *conn, long max_bytes, int max_styles);
/* Feed one chunk of the body. 0, or -1 once an error is recorded. */
int upload_feed(upload *u, const char *data, size_t len);
/* The body is complete: check it was well-formed. 0 or -1 (error recorded). */
int upload_finish(upload *u);
void upload_free(upload *u);

#endif
