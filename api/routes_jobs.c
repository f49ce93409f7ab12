/*
 * routes_jobs.c — the job routes: submit (multipart → validated job spec →
 * job manager), get, list, cancel/delete, result and preview downloads.
 * Validation of params is libnst's (nst_params_parse and friends). Images
 * are checked by their headers first (format, dimensions), the job's peak
 * memory is estimated from those and the params, and only then is each
 * image's pixel data decoded once, one image at a time in the process, so a
 * job that is accepted has usable inputs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "upload.h"

void api_params_default(const api *a, nst_params *p)
{
    const nstd_config *cfg = a->d.cfg;
    nst_params_default(p, a->d.model);
    if (cfg->max_image_size > 0 && p->image_size > cfg->max_image_size)
        p->image_size = cfg->max_image_size;
    if (cfg->max_iterations > 0 && p->iterations > cfg->max_iterations)
        p->iterations = cfg->max_iterations;
}

/* ================================================================ submit */

/* An engine error about an uploaded image as the answer. */
static void reply_image_error(api_request *rq, int rc, const nst_error *err, const char *field)
{
    if (rc == NST_ETOOBIG)
        reply_error(rq, 413, "image_too_large", field, "%s: %s", field, err->message);
    else if (rc == NST_ENOMEM)
        reply_error(rq, 503, "out_of_memory", field, "%s: not enough memory to decode", field);
    else if (rc == NST_EFORMAT) /* a GIF, BMP, …: an image, but not one accepted */
        reply_error(rq, 400, "unsupported_image_format", field, "%s: %s", field, err->message);
    else
        reply_error(rq, 400, "invalid_image", field, "%s: %s", field,
                    err->message[0] ? err->message : "not a PNG or JPEG image");
}

/* The header of one uploaded image: format and dimensions within
 * max_input_pixels, without decoding a pixel; reply on failure. */
static int probe_image(api_request *rq, const upload_part *part, const char *field, int *w,
                       int *h)
{
    nst_error err;
    memset(&err, 0, sizeof err);
    if (part->len == 0) {
        reply_error(rq, 400, "invalid_image", field, "%s: the file is empty", field);
        return -1;
    }
    int rc = nst_image_probe(part->data, part->len, rq->api->d.cfg->max_input_pixels, w, h, &err);
    if (rc == 0) return 0;
    reply_image_error(rq, rc, &err, field);
    return -1;
}

/* Whether the pixel data of an image whose header passed decodes, so a
 * corrupt file is refused now rather than failing its job later. Decoding
 * is the one costly step of a submit (the decoder's working memory,
 * nst_image_decode_memory: up to 24 bytes a pixel of max_input_pixels), so
 * it runs after every cheaper check, into 8-bit pixels that are dropped at
 * once, and one at a time in the whole process: whatever http_threads and
 * the number of clients, uploads never hold more than one image's decoding
 * memory. The worker decodes again when the job runs. */
static pthread_mutex_t verify_mu = PTHREAD_MUTEX_INITIALIZER;

static int verify_image(api_request *rq, const upload_part *part, const char *field)
{
    nst_error err;
    memset(&err, 0, sizeof err);
    pthread_mutex_lock(&verify_mu);
    int rc = nst_image_verify(part->data, part->len, rq->api->d.cfg->max_input_pixels, &err);
    pthread_mutex_unlock(&verify_mu);
    if (rc == 0) return 0;
    reply_image_error(rq, rc, &err, field);
    return -1;
}

/* The webhook params of a submit, webhook and webhook_events, are the
 * service's, not the engine's: they are taken out of the params object
 * (*params, rewritten without them, text in *text, malloc'd) before the
 * engine parses it, and checked by webhooks_check into the job's webhook
 * field (*webhook, NULL without one). 0, or -1 after replying. */
static int submit_webhook(api_request *rq, const upload_part *params, char **text,
                          cJSON **webhook)
{
    *text = NULL;
    *webhook = NULL;
    cJSON *o = cJSON_ParseWithLength((const char *)params->data, params->len);
    if (!cJSON_IsObject(o)) {   /* the engine's parser names the problem */
        cJSON_Delete(o);
        return 0;
    }
    cJSON *url = cJSON_DetachItemFromObjectCaseSensitive(o, "webhook");
    cJSON *events = cJSON_DetachItemFromObjectCaseSensitive(o, "webhook_events");
    int rc = 0;
    if (url || events) {
        const char *field = "webhook";
        char why[512];
        rc = webhooks_check(rq->api->d.hooks, url, events, webhook, &field, why, sizeof why);
        if (rc == -2)
            reply_error(rq, 422, "webhooks_disabled", field, "%s", why);
        else if (rc < 0)
            reply_error(rq, 422, "invalid_params", field, "%s", why);
        if (rc == 0 && !(*text = cJSON_PrintUnformatted(o))) {
            reply_error(rq, 503, "out_of_memory", NULL, "out of memory");
            rc = -1;
        }
    }
    cJSON_Delete(url);
    cJSON_Delete(events);
    cJSON_Delete(o);
    if (rc < 0) {
        cJSON_Delete(*webhook);
        *webhook = NULL;
        return -1;
    }
    return 0;
}

/* The state of one POST /v1/jobs: its upload, and its refusal (see
 * refuse below). */
typedef struct {
    upload *u;                  /* NULL when refused from the headers */
    api *api;                   /* for the waiter */
    api_auth *auth;             /* for quota_held */
    auth_principal who;
    int quota_held;             /* counted in the token's queue quota (auth_submit_begin) */
    int refused;
    int jobs_rc;                /* the refusal: a jobs_* error code, or… */
    int status;                 /* …an error answer */
    char code[32];
    char message[256];
    long long dropped;          /* body bytes dropped since the refusal */
    char idem_key[JOBS_IDEM_KEY_MAX + 1];   /* its Idempotency-Key, "" when none */
    int wait_s;                 /* Prefer: wait honoured (cut to max_wait); 0: none */
    int replayed;               /* the key's earlier job answers */
    job_info job;               /* the job answered, as submitted (job.id "" until then) */
    api_waiter waiter;          /* held for the job (wait.c) while waiting */
    int waiting;
} submit_state;

/* The answer with the job: 200 when it has ended (after Prefer: wait, or
 * a replay of a finished job), else 202, as it is now (as it was
 * submitted when it is gone meanwhile). */
static enum MHD_Result answer_job(api_request *rq, submit_state *s)
{
    api *a = rq->api;
    if (s->waiting) wait_end(a, &s->waiter);
    job_info now;
    const job_info *info = &s->job;
    int fresh = s->waiting && jobs_get(a->d.jobs, s->job.id, &now) == 0;
    if (fresh) info = &now;
    char loc[512];
    view_link(a, loc, sizeof loc, "/v1/jobs/%s", info->id);
    reply_header(rq, "Location", loc);
    if (s->wait_s > 0) {
        char applied[32];
        snprintf(applied, sizeof applied, "wait=%d", s->wait_s);
        reply_header(rq, "Preference-Applied", applied);
    }
    if (s->replayed) reply_header(rq, "Idempotent-Replayed", "true");
    int status = job_state_final(info->state) ? 200 : 202;
    cJSON *body = view_job(a, info);
    if (fresh) job_info_free(&now);
    return reply_json(rq, status, body);
}

/* The complete body: validate everything, cheapest checks first, then
 * hand the job over. */
static enum MHD_Result submit(api_request *rq, upload *u)
{
    api *a = rq->api;
    const nstd_config *cfg = a->d.cfg;
    if (upload_finish(u) < 0)
        return reply_error(rq, u->status, u->code, u->field, "%s", u->message);

    /* wh: content, then the styles, then the masks sent (an empty mask
     * part is none), as their headers declare; mask_wh as
     * nst_transfer_memory_masked reads them */
    enum { MAX_IMAGES = 2 * NST_MAX_STYLES + 2 };
    int wh[2 * MAX_IMAGES], mask_wh[2 * (NST_MAX_STYLES + 1)] = {0}, n_masks = 0;
    char fields[MAX_IMAGES][32];
    const upload_part *parts[MAX_IMAGES];
    int n_images = 1 + u->n_styles;
    snprintf(fields[0], sizeof fields[0], "content");
    parts[0] = &u->content;
    for (int i = 0; i < u->n_styles; i++) {
        snprintf(fields[1 + i], sizeof fields[1 + i], "style[%d]", i);
        parts[1 + i] = &u->styles[i];
    }
    int mask_of[MAX_IMAGES]; /* image i is mask k (index into mask_wh), or -1 */
    for (int i = 0; i < MAX_IMAGES; i++) mask_of[i] = -1;
    for (int k = 0; k <= u->n_styles; k++) {
        const upload_part *m = k < u->n_styles ? (k < u->n_style_masks ? &u->style_masks[k] : NULL)
                                               : (u->n_content_mask ? &u->content_mask : NULL);
        if (!m || m->len == 0) continue;
        if (k < u->n_styles) snprintf(fields[n_images], sizeof fields[0], "style_mask[%d]", k);
        else snprintf(fields[n_images], sizeof fields[0], "content_mask");
        parts[n_images] = m;
        mask_of[n_images++] = k;
        n_masks++;
    }
    for (int i = 0; i < n_images; i++) {
        if (probe_image(rq, parts[i], fields[i], &wh[2 * i], &wh[2 * i + 1]) < 0) return MHD_YES;
        if (mask_of[i] >= 0)
            mask_wh[2 * mask_of[i]] = wh[2 * i], mask_wh[2 * mask_of[i] + 1] = wh[2 * i + 1];
    }

    nst_params p;
    nst_error err;
    memset(&err, 0, sizeof err);
    api_params_default(a, &p);
    cJSON *webhook = NULL;
    if (u->n_params) {
        cJSON *syntax = cJSON_ParseWithLength((const char *)u->params.data, u->params.len);
        cJSON_Delete(syntax);
        if (!syntax)
            return reply_error(rq, 400, "invalid_json", "params", "params: not valid JSON");
        char *engine_params = NULL;
        if (submit_webhook(rq, &u->params, &engine_params, &webhook) < 0) return MHD_YES;
        nst_limits lim = {cfg->max_iterations, cfg->max_image_size};
        const char *text = engine_params ? engine_params : (const char *)u->params.data;
        size_t len = engine_params ? strlen(engine_params) : u->params.len;
        int prc = nst_params_parse(&p, text, len, &lim, &err);
        free(engine_params);
        if (prc != 0) {
            cJSON_Delete(webhook);
            return reply_error(rq, 422, "invalid_params", err.field[0] ? err.field : "params",
                               "%s", err.message);
        }
    }
    /* From here on every return goes through done (webhook is freed). */
    enum MHD_Result res = MHD_YES;
    if (nst_params_check_styles(&p, u->n_styles, &err) != 0) {
        res = reply_error(rq, 422, "invalid_params", err.field[0] ? err.field : "params", "%s",
                          err.message);
        goto done;
    }

    int ow, oh;
    size_t need = jobs_memory(a->d.model, cfg->max_job_memory, &p, wh, u->n_styles,
                              n_masks ? mask_wh : NULL, &ow, &oh);
    if (cfg->max_job_memory > 0 && need > (size_t)cfg->max_job_memory) {
        res = reply_error(rq, 422, "job_too_large", NULL,
                          "the job needs an estimated %zu bytes (%.1f MiB) of memory at its "
                          "peak, more than max_job_memory %ld bytes (%.1f MiB): output %dx%d, "
                          "content %dx%d, %d style image(s), %d mask(s), style_scale %g; a "
                          "smaller image_size, style_scale or input image needs less",
                          need, need / 1048576.0, cfg->max_job_memory,
                          cfg->max_job_memory / 1048576.0, ow, oh, wh[0], wh[1], u->n_styles,
                          n_masks, p.style_scale);
        goto done;
    }

    for (int i = 0; i < n_images; i++)
        if (verify_image(rq, parts[i], fields[i]) < 0) goto done;

    jobs_input content = {u->content.data, u->content.len};
    jobs_input styles[NST_MAX_STYLES], style_masks[NST_MAX_STYLES];
    jobs_input content_mask = {u->content_mask.data, u->content_mask.len};
    for (int i = 0; i < u->n_styles; i++) styles[i] = (jobs_input){u->styles[i].data, u->styles[i].len};
    for (int i = 0; i < u->n_style_masks; i++)
        style_masks[i] = (jobs_input){u->style_masks[i].data, u->style_masks[i].len};
    submit_state *s = rq->state;
    jobs_request req = {rq->who.known ? rq->who.name : NULL, s->idem_key, webhook,
                        u->n_style_masks ? style_masks : NULL, &content_mask};
    int rc = jobs_submit(a->d.jobs, &p, &content, styles, u->n_styles, &req, &s->job);
    if (s->quota_held) {   /* the job is in the table now, or refused */
        auth_submit_end(a->auth, &rq->who);
        s->quota_held = 0;
    }
    if (rc == JOBS_EKEYREUSED) {
        enum MHD_Result ret = reply_error(
            rq, 422, "idempotency_key_reused", NULL,
            "Idempotency-Key '%s' was used for job %s with other inputs (params, content, "
            "styles or masks differ); a new job needs a new key", s->idem_key, s->job.id);
        job_info_free(&s->job);
        memset(&s->job, 0, sizeof s->job);
        res = ret;
        goto done;
    }
    if (rc < 0) {
        res = reply_jobs_error(rq, rc);
        goto done;
    }
    s->replayed = rc == JOBS_REPLAYED;
    if (s->wait_s > 0) {
        wait_begin(a, &s->waiter, rq->conn, s->job.id, s->wait_s);
        s->waiting = 1;
        if (wait_park(a, &s->waiter)) goto done;
    }
    res = answer_job(rq, s);
done:
    cJSON_Delete(webhook);
    return res;
}

/* A refusal of POST /v1/jobs decided before the body is complete. HTTP
 * clients that send the body without waiting for "100 Continue" (most
 * scripts, browsers) only read the answer once they have sent it all; a
 * connection closed under them ends in a broken pipe or a reset instead
 * of the answer. So such a body is read and dropped, up to
 * max_discard_bytes, and the refusal answered when it is complete. It is
 * answered at once when the client waits for "100 Continue", sends no body,
 * or announces more than can be dropped (such a client may then see the
 * connection closed while it sends). The refusal is kept in the request's
 * submit_state (above). */
static void submit_state_free(void *p)
{
    submit_state *s = p;
    if (s->quota_held) auth_submit_end(s->auth, &s->who);
    if (s->waiting) wait_end(s->api, &s->waiter);   /* a held request that ended unanswered */
    upload_free(s->u);
    job_info_free(&s->job);
    free(s);
}

static enum MHD_Result answer_refusal(api_request *rq, submit_state *s)
{
    if (s->jobs_rc) return reply_jobs_error(rq, s->jobs_rc);
    return reply_error(rq, s->status, s->code, NULL, "%s", s->message);
}

/* Record a refusal; answer it now when the body need not (or cannot) be
 * dropped first, else wait for the end of the body. */
static enum MHD_Result refuse(api_request *rq, submit_state *s, int jobs_rc, int status,
                              const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static enum MHD_Result refuse(api_request *rq, submit_state *s, int jobs_rc, int status,
                              const char *code, const char *fmt, ...)
{
    s->refused = 1;
    s->jobs_rc = jobs_rc;
    s->status = status;
    snprintf(s->code, sizeof s->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->message, sizeof s->message, fmt, ap);
    va_end(ap);
    long max_drop = rq->api->d.cfg->max_discard_bytes;
    const char *expect = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Expect");
    const char *cl = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Content-Length");
    const char *te =
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Transfer-Encoding");
    long long len = cl ? strtoll(cl, NULL, 10) : 0;
    if (max_drop <= 0 || (expect && strcasecmp(expect, "100-continue") == 0) ||
        (!te && len <= 0) || len > max_drop)
        return answer_refusal(rq, s);
    return MHD_YES;
}

/* The request's Idempotency-Key into s->idem_key; -1 with the problem in
 * why when it is not 1 to 255 printable ASCII characters. */
static int idem_key_header(api_request *rq, submit_state *s, char *why, size_t n_why)
{
    const char *k = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (!k) return 0;
    size_t n = strlen(k);
    if (jobs_idem_key_valid(k)) {
        memcpy(s->idem_key, k, n + 1);
        return 0;
    }
    size_t bad = 0;
    while (bad < n && k[bad] >= 0x20 && k[bad] <= 0x7e) bad++;
    if (n == 0 || n > JOBS_IDEM_KEY_MAX)
        snprintf(why, n_why, "Idempotency-Key: expected 1 to %d printable ASCII characters, got %zu",
                 JOBS_IDEM_KEY_MAX, n);
    else
        snprintf(why, n_why, "Idempotency-Key: character %zu (byte 0x%02x) is not printable ASCII "
                 "(0x20 to 0x7e)", bad + 1, (unsigned char)k[bad]);
    return -1;
}

/* POST /v1/jobs: checks that need only the headers, then the streamed body. */
enum MHD_Result h_jobs_create(api_request *rq, const char *data, size_t *size)
{
    api *a = rq->api;
    submit_state *s = rq->state;
    if (!data && !s) {   /* headers only */
        s = calloc(1, sizeof *s);
        if (!s) return MHD_NO;
        rq->state = s;
        rq->state_free = submit_state_free;
        s->api = a;
        if (atomic_load(&a->shutting_down))
            return refuse(rq, s, JOBS_ESHUTDOWN, 0, NULL, "shutting down");
        const char *ct = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Content-Type");
        if (!upload_is_multipart(ct))
            return refuse(rq, s, 0, 415, "unsupported_media_type",
                          "expected multipart/form-data with parts content, style, params; "
                          "got %.200s", ct ? ct : "no Content-Type");
        const char *cl = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Content-Length");
        long max = a->d.cfg->max_upload_bytes;
        if (cl && max > 0 && strtoll(cl, NULL, 10) > max)
            return refuse(rq, s, 0, 413, "payload_too_large",
                          "the request body (%.30s bytes) exceeds the limit of %ld bytes", cl,
                          max);
        char why[160];
        if (idem_key_header(rq, s, why, sizeof why) < 0)
            return refuse(rq, s, 0, 400, "invalid_idempotency_key", "%s", why);
        s->wait_s = wait_preference(rq);
        int rc = jobs_can_accept(a->d.jobs);
        if (rc < 0) return refuse(rq, s, rc, 0, NULL, "cannot accept");
        int active;
        s->auth = a->auth;
        s->who = rq->who;
        rc = auth_submit_begin(a->auth, &rq->who, a->d.jobs, &active);
        if (rc < 0) {
            reply_retry_after_jobs(rq);
            return refuse(rq, s, 0, 429, "quota_exceeded",
                          "token %s already has %d queued or running jobs, its quota; retry "
                          "when one has finished", rq->who.name, active);
        }
        s->quota_held = rc == 1;
        s->u = upload_create(rq->conn, max, a->d.cfg->max_styles);
        if (!s->u)
            return refuse(rq, s, 0, 400, "bad_multipart",
                          "malformed multipart/form-data header (boundary missing?)");
        return MHD_YES;
    }
    if (*size) {
        size_t n = *size;
        *size = 0;
        if (!s->refused && upload_feed(s->u, data, n) < 0 && s->u->status == 413) {
            s->refused = 1;   /* from now on the body is dropped */
            s->status = 413;
            snprintf(s->code, sizeof s->code, "%s", s->u->code);
            snprintf(s->message, sizeof s->message, "%s", s->u->message);
            return MHD_YES;
        }
        if (s->refused) {
            s->dropped += (long long)n;
            if (s->dropped > a->d.cfg->max_discard_bytes)
                return MHD_NO;   /* more than we drop: close (no answer mid-body) */
        }
        return MHD_YES;   /* other errors are answered when the body is complete */
    }
    if (s->refused) return answer_refusal(rq, s);
    if (s->waiting) return wait_park(a, &s->waiter) ? MHD_YES : answer_job(rq, s);
    return submit(rq, s->u);
}

/* ================================================================ read */

enum MHD_Result h_job_get(api_request *rq, const char *data, size_t *size)
{
    job_info info;
    int rc = jobs_get(rq->api->d.jobs, rq->id, &info);
    if (rc < 0) return reply_jobs_error(rq, rc);
    cJSON *body = view_job(rq->api, &info);
    job_info_free(&info);
    return reply_json(rq, 200, body);
}

/* GET /v1/jobs?limit&offset: jobs per page by default and at most (the
 * listJobs operation in routes.c documents both), and the largest offset. */
#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX 100
#define LIST_OFFSET_MAX (1 << 30)

/* A non-negative integer query argument in [lo, hi]; reply on error. */
static int query_int(api_request *rq, const char *key, int dflt, int lo, int hi, int *out)
{
    const char *v = view_query(rq, key);
    *out = dflt;
    if (!v) return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi) {
        reply_error(rq, 400, "invalid_query", key, "%s: expected an integer from %d to %d", key,
                    lo, hi);
        return -1;
    }
    *out = (int)n;
    return 0;
}

enum MHD_Result h_jobs_list(api_request *rq, const char *data, size_t *size)
{
    int limit, offset;
    if (query_int(rq, "limit", LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX, &limit) < 0) return MHD_YES;
    if (query_int(rq, "offset", 0, 0, LIST_OFFSET_MAX, &offset) < 0) return MHD_YES;
    job_info *items;
    int n, total;
    /* a user's token lists its own jobs; an admin's, and no token, all */
    jobs_filter mine = {rq->who.name, 0};
    int rc = jobs_list(rq->api->d.jobs,
                       rq->who.known && rq->who.role == TOKEN_USER ? &mine : NULL, offset, limit,
                       &items, &n, &total);
    if (rc < 0) return reply_jobs_error(rq, rc);
    cJSON *body = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(body, "jobs");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, view_job(rq->api, &items[i]));
    jobs_list_free(items, n);
    cJSON_AddNumberToObject(body, "total", total);
    if (offset + n < total) {
        char next[512];
        view_link(rq->api, next, sizeof next, "/v1/jobs?limit=%d&offset=%d", limit, offset + n);
        cJSON_AddStringToObject(body, "next", next);
    } else {
        cJSON_AddNullToObject(body, "next");
    }
    return reply_json(rq, 200, body);
}

/* An image with its ETag: the checksum the store verified it against. */
static enum MHD_Result send_png(api_request *rq, int rc, unsigned char *png, size_t len)
{
    if (rc < 0) return reply_jobs_error(rq, rc);
    char etag[24];
    snprintf(etag, sizeof etag, "\"%016llx\"", store_checksum(png, len));
    reply_header(rq, "ETag", etag);
    reply_header(rq, "Cache-Control", "no-store");
    return reply_bytes(rq, 200, "image/png", png, len);
}

enum MHD_Result h_job_result(api_request *rq, const char *data, size_t *size)
{
    unsigned char *png = NULL;
    size_t len = 0;
    int rc = jobs_read_result(rq->api->d.jobs, rq->id, &png, &len);
    if (rc == 0) {
        char cd[96];
        snprintf(cd, sizeof cd, "inline; filename=\"nst-%s.png\"", rq->id);
        reply_header(rq, "Content-Disposition", cd);
    }
    return send_png(rq, rc, png, len);
}

enum MHD_Result h_job_preview(api_request *rq, const char *data, size_t *size)
{
    unsigned char *png = NULL;
    size_t len = 0;
    int rc = jobs_read_preview(rq->api->d.jobs, rq->id, &png, &len);
    return send_png(rq, rc, png, len);
}

/* ================================================================ delete */

/* Queued → canceled (200); running → canceled, the worker stops within one
 * iteration (202); finished → removed with its files (204). */
enum MHD_Result h_job_delete(api_request *rq, const char *data, size_t *size)
{
    job_info info;
    int rc = jobs_delete(rq->api->d.jobs, rq->id, &info);
    if (rc < 0) return reply_jobs_error(rq, rc);
    if (rc == JOBS_REMOVED) {
        job_info_free(&info);
        return reply_bytes(rq, 204, NULL, NULL, 0);
    }
    cJSON *body = view_job(rq->api, &info);
    job_info_free(&info);
    return reply_json(rq, rc == JOBS_CANCELED ? 200 : 202, body);
}
