/*
 * upload.c — multipart/form-data for POST /v1/jobs (see upload.h). The post
 * processor calls part_data for every piece of every part; a piece with
 * offset 0 starts a new part (libmicrohttpd may first announce a part with
 * an empty piece, which is merged with the data that follows). An empty
 * part is one empty piece: a second empty piece at offset 0 under the same
 * name, or a piece under another file name, starts the next part, so an
 * empty style_mask part (a file input left empty) keeps its place.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upload.h"

/* Record the first error; later ones are consequences. */
static int upload_fail(upload *u, int status, const char *code, const char *field,
                       const char *fmt, ...)
{
    if (u->status) return -1;
    u->status = status;
    snprintf(u->code, sizeof u->code, "%s", code);
    snprintf(u->field, sizeof u->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->message, sizeof u->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int part_append(upload_part *p, const char *data, size_t len)
{
    if (p->len + len > p->cap) {
        size_t cap = p->cap ? p->cap : 64 * 1024;
        while (cap < p->len + len) cap *= 2;
        unsigned char *d = realloc(p->data, cap);
        if (!d) return -1;
        p->data = d;
        p->cap = cap;
    }
    memcpy(p->data + p->len, data, len);
    p->len += len;
    return 0;
}

/* Which buffer a new part named key goes to; NULL after recording why not. */
static upload_part *part_begin(upload *u, const char *key)
{
    if (strcmp(key, "content") == 0) {
        if (u->n_content++ > 0)
            return upload_fail(u, 400, "duplicate_part", "content",
                               "content: exactly one content image is allowed"), NULL;
        return &u->content;
    }
    if (strcmp(key, "style") == 0) {
        if (u->n_styles >= u->max_styles)
            return upload_fail(u, 400, "too_many_styles", "style",
                               "style: at most %d style images are allowed", u->max_styles),
                   NULL;
        return &u->styles[u->n_styles++];
    }
    if (strcmp(key, "style_mask") == 0) {
        if (u->n_style_masks >= u->max_styles)
            return upload_fail(u, 400, "mask_count", "style_mask",
                               "style_mask: at most %d style masks are allowed, one per style "
                               "image", u->max_styles), NULL;
        return &u->style_masks[u->n_style_masks++];
    }
    if (strcmp(key, "content_mask") == 0) {
        if (u->n_content_mask++ > 0)
            return upload_fail(u, 400, "duplicate_part", "content_mask",
                               "content_mask: at most one content mask is allowed"), NULL;
        return &u->content_mask;
    }
    if (strcmp(key, "params") == 0) {
        if (u->n_params++ > 0)
            return upload_fail(u, 400, "duplicate_part", "params",
                               "params: at most one params part is allowed"), NULL;
        return &u->params;
    }
    upload_fail(u, 400, "unknown_part", key,
                "%.64s: unknown form part (expected content, style, style_mask, content_mask, "
                "params)", key);
    return NULL;
}

static enum MHD_Result part_data(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *filename, const char *content_type,
                                 const char *transfer_encoding, const char *data, uint64_t off,
                                 size_t size)
{
    upload *u = cls;
    if (u->status) return MHD_NO;
    if (!key) key = "";
    char file[sizeof u->cur_filename];
    snprintf(file, sizeof file, "%s", filename ? filename : "\1");
    int same = u->cur && strcmp(u->cur_key, key) == 0 && strcmp(u->cur_filename, file) == 0;
    if (off == 0 && !(same && u->cur->len == 0 && size > 0)) {
        u->cur = part_begin(u, key);
        if (!u->cur) return MHD_NO;
        snprintf(u->cur_key, sizeof u->cur_key, "%s", key);
        memcpy(u->cur_filename, file, sizeof file);
    }
    if (size && part_append(u->cur, data, size) < 0) {
        upload_fail(u, 503, "out_of_memory", key, "%s: out of memory", key);
        return MHD_NO;
    }
    return MHD_YES;
}

int upload_is_multipart(const char *content_type)
{
    static const char type[] = "multipart/form-data";
    return content_type && strncasecmp(content_type, type, sizeof type - 1) == 0;
}

upload *upload_create(struct MHD_Connection *conn, long max_bytes, int max_styles)
{
    if (!upload_is_multipart(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type")))
        return NULL;
    upload *u = calloc(1, sizeof *u);
    if (!u) return NULL;
    u->max_bytes = max_bytes;
    u->max_styles = max_styles > NST_MAX_STYLES ? NST_MAX_STYLES : max_styles;
    u->pp = MHD_create_post_processor(conn, 64 * 1024, part_data, u);
    if (!u->pp) {
        free(u);
        return NULL;
    }
    return u;
}

int upload_feed(upload *u, const char *data, size_t len)
{
    u->received += (long)len;   /* counted even after an error: the limit still holds */
    if (u->max_bytes > 0 && u->received > u->max_bytes && u->status != 413) {
        u->status = 0;          /* too large outranks any earlier error */
        return upload_fail(u, 413, "payload_too_large", NULL,
                           "the request body exceeds the limit of %ld bytes", u->max_bytes);
    }
    if (u->status) return -1;
    if (MHD_post_process(u->pp, data, len) != MHD_YES)
        return upload_fail(u, 400, "bad_multipart", NULL, "malformed multipart/form-data body");
    return 0;
}

int upload_finish(upload *u)
{
    if (u->status) return -1;
    struct MHD_PostProcessor *pp = u->pp;
    u->pp = NULL;
    if (MHD_destroy_post_processor(pp) != MHD_YES)
        return upload_fail(u, 400, "bad_multipart", NULL,
                           "malformed or truncated multipart/form-data body");
    if (u->n_content == 0)
        return upload_fail(u, 400, "missing_part", "content",
                           "content: the request has no content image part");
    if (u->n_styles == 0)
        return upload_fail(u, 400, "missing_part", "style",
                           "style: the request has no style image part");
    if (u->n_style_masks && u->n_style_masks != u->n_styles)
        return upload_fail(u, 400, "mask_count", "style_mask",
                           "style_mask: %d style_mask parts for %d style images; send one per "
                           "style image in the same order (an empty part for a style without a "
                           "mask), or none", u->n_style_masks, u->n_styles);
    return 0;
}

void upload_free(upload *u)
{
    if (!u) return;
    if (u->pp) MHD_destroy_post_processor(u->pp);
    free(u->content.data);
    for (int i = 0; i < u->n_styles; i++) free(u->styles[i].data);
    for (int i = 0; i < u->n_style_masks; i++) free(u->style_masks[i].data);
    free(u->content_mask.data);
    free(u->params.data);
    free(u);
}
