/*
 * store_cases.h — the tests of the store interface (store.h) that every
 * implementation must pass, each on a store the caller opened: blobs
 * round-trip, bad ids and names are refused, listing and removal, records
 * round-trip every stored field of the record table, a claim takes only a
 * queued job and a write fenced with an older claim's token is refused.
 * Included by test_store.c (the disk store) and test_store_redis.c; what
 * only one store has (files, keys) is tested there.
 */
#ifndef NSTD_STORE_CASES_H
#define NSTD_STORE_CASES_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "test.h"

#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210"

/* A record with every field set to a value of its own, from the table, so
 * that a field added to it is checked too. */
static void fill_record(job_info *r, const char *id, job_state state)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < job_n_fields; i++) {
        const job_field *f = &job_fields[i];
        void *p = JOB_FIELD_PTR(r, f);
        switch (f->kind) {
        case JOB_F_TEXT: snprintf(p, f->size, "text-%zu", i); break;
        case JOB_F_INT:
        case JOB_F_BOOL: *(int *)p = f->kind == JOB_F_BOOL ? 1 : (int)i + 1; break;
        case JOB_F_COUNT: *(unsigned long *)p = i + 1; break;
        case JOB_F_NUM:
        case JOB_F_TIME: *(double *)p = 1700000000.5 + (double)i; break;
        case JOB_F_STATE:
        case JOB_F_JSON: break;
        }
    }
    snprintf(r->id, sizeof r->id, "%s", id);
    r->state = state;
    r->params = cJSON_Parse("{\"iterations\":30,\"image_size\":64}");
    r->webhook = cJSON_Parse("{\"url\":\"https://example.com/hook\",\"events\":[\"completed\"]}");
}

/* 1 when ids[0..n) holds id. */
static int listed(char **ids, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0) return 1;
    return 0;
}

static void case_clean(store *s)
{
    CHECK(store_job_remove(s, ID1) == 0 && store_job_remove(s, ID2) == 0, "clean up");
}

static void case_blobs(store *s)
{
    case_clean(s);
    static const char json[] = "{\"state\":\"queued\"}";
    unsigned char bin[300];
    for (int i = 0; i < 300; i++) bin[i] = (unsigned char)(i * 7);

    CHECK(!store_blob_exists(s, ID1, "job.json"), "exists before write");
    CHECK(store_blob_put(s, ID1, "job.json", json, strlen(json), STORE_UNFENCED) == 0, "write job.json");
    CHECK(store_blob_put(s, ID1, "content", bin, sizeof bin, STORE_UNFENCED) == 0, "write content");
    CHECK(store_blob_put(s, ID1, "style-0", "", 0, STORE_UNFENCED) == 0, "write an empty blob");
    CHECK(store_blob_exists(s, ID1, "job.json"), "job.json missing");
    CHECK(store_blob_exists(s, ID1, "style-0"), "the empty blob missing");

    unsigned char *data;
    size_t len;
    CHECK(store_blob_get(s, ID1, "job.json", &data, &len) == 0, "read job.json");
    CHECK(len == strlen(json) && memcmp(data, json, len) == 0 && data[len] == 0,
          "job.json round trip");
    free(data);
    CHECK(store_blob_get(s, ID1, "content", &data, &len) == 0, "read content");
    CHECK(len == sizeof bin && memcmp(data, bin, len) == 0, "binary round trip");
    free(data);
    CHECK(store_blob_get(s, ID1, "style-0", &data, &len) == 0 && len == 0 && data && data[0] == 0,
          "empty blob round trip");
    free(data);

    /* overwrite replaces */
    CHECK(store_blob_put(s, ID1, "job.json", "{}", 2, STORE_UNFENCED) == 0, "overwrite");
    CHECK(store_blob_get(s, ID1, "job.json", &data, &len) == 0 && len == 2 && !memcmp(data, "{}", 2),
          "overwrite round trip");
    free(data);

    CHECK(store_blob_get(s, ID1, "result.png", &data, &len) == -ENOENT && data == NULL,
          "missing blob is -ENOENT");
    CHECK(store_blob_get(s, ID2, "job.json", &data, &len) == -ENOENT, "missing job is -ENOENT");

    CHECK(store_blob_remove(s, ID1, "style-0", STORE_UNFENCED) == 0, "remove");
    CHECK(!store_blob_exists(s, ID1, "style-0"), "exists after remove");
    CHECK(store_blob_remove(s, ID1, "style-0", STORE_UNFENCED) == 0, "remove of a missing blob");
    CHECK(store_blob_exists(s, ID1, "content"), "remove took another blob");
}

static void case_bad_ids(store *s)
{
    case_clean(s);
    static const char *ids[] = {
        "",
        "0123456789abcdef0123456789abcde",   /* 31 */
        "0123456789abcdef0123456789abcdef0", /* 33 */
        "0123456789ABCDEF0123456789abcdef",  /* upper case */
        "0123456789abcdef0123456789abcdeg",
        "../../../../../../../../../etc/x",
        "0123456789abcdef/123456789abcdef",
        "0123456789abcdef:123456789abcdef",
        "..",
    };
    static const char *names[] = {"", ".", "..", "../job.json", "a/b", ".tmp-job.json",
                                  "/etc/passwd", "x y", "a:b", "a*",
                                  "a1234567890123456789012345678901234567890123456789012345678901234"};
    unsigned char *data;
    size_t len;
    char **list;
    int n;
    job_info rec, out;
    const char *why;
    store_fence f;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        CHECK(!job_id_valid(ids[i]), "id '%s' valid", ids[i]);
        CHECK(store_blob_put(s, ids[i], "job.json", "x", 1, STORE_UNFENCED) == -EINVAL, "write id '%s'", ids[i]);
        CHECK(store_blob_get(s, ids[i], "job.json", &data, &len) == -EINVAL, "read id '%s'", ids[i]);
        CHECK(!store_blob_exists(s, ids[i], "job.json"), "exists id '%s'", ids[i]);
        CHECK(store_blob_remove(s, ids[i], "job.json", STORE_UNFENCED) == -EINVAL, "unlink id '%s'", ids[i]);
        CHECK(store_job_remove(s, ids[i]) == -EINVAL, "remove id '%s'", ids[i]);
        CHECK(store_record_get(s, ids[i], &out, &why) == -EINVAL, "record_get id '%s'", ids[i]);
        if (strlen(ids[i]) > JOB_ID_LEN) continue;   /* does not fit a record */
        fill_record(&rec, ID1, JOB_QUEUED);
        snprintf(rec.id, sizeof rec.id, "%s", ids[i]);
        CHECK(store_record_put(s, &rec, STORE_UNFENCED) == -EINVAL, "record_put id '%s'", ids[i]);
        CHECK(store_claim(s, &rec, &f) == -EINVAL, "claim id '%s'", ids[i]);
        job_info_free(&rec);
    }
    CHECK(!job_id_valid(NULL), "NULL id valid");
    CHECK(job_id_valid(ID1), "good id invalid");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        CHECK(!store_name_valid(names[i]), "name '%s' valid", names[i]);
        CHECK(store_blob_put(s, ID2, names[i], "x", 1, STORE_UNFENCED) == -EINVAL, "write name '%s'", names[i]);
        CHECK(store_blob_get(s, ID2, names[i], &data, &len) == -EINVAL, "read name '%s'", names[i]);
        CHECK(store_blob_remove(s, ID2, names[i], STORE_UNFENCED) == -EINVAL, "unlink name '%s'", names[i]);
    }
    CHECK(store_name_valid("checkpoint.png") && store_name_valid("style-0") && store_name_valid("a_B.9"),
          "a plain name refused");
    CHECK(store_list(s, &list, &n) == 0, "list");
    CHECK(!listed(list, n, ID2), "bad name created job %s", ID2);
    store_ids_free(list, n);
}

static void case_list_remove(store *s)
{
    case_clean(s);
    char **list;
    int n;
    CHECK(store_list(s, &list, &n) == 0 && !listed(list, n, ID1) && !listed(list, n, ID2),
          "jobs listed after their removal");
    store_ids_free(list, n);

    /* a job with only blobs (an unfinished submit) is listed too */
    CHECK(store_blob_put(s, ID1, "content", "c", 1, STORE_UNFENCED) == 0, "write job 1");
    CHECK(store_blob_put(s, ID1, "style-0", "s", 1, STORE_UNFENCED) == 0, "write job 1 style");
    job_info rec;
    fill_record(&rec, ID2, JOB_SUCCEEDED);
    CHECK(store_record_put(s, &rec, STORE_UNFENCED) == 0, "record of job 2");
    CHECK(store_blob_put(s, ID2, "result.png", "png", 3, STORE_UNFENCED) == 0, "write result 2");

    CHECK(store_list(s, &list, &n) == 0, "list");
    CHECK(listed(list, n, ID1) && listed(list, n, ID2), "%d ids listed, not both jobs", n);
    store_ids_free(list, n);

    CHECK(store_job_remove(s, ID1) == 0, "remove job 1");
    CHECK(!store_blob_exists(s, ID1, "content") && !store_blob_exists(s, ID1, "style-0"),
          "job 1's blobs exist after remove");
    CHECK(store_job_remove(s, ID1) == 0, "remove of a missing job");
    CHECK(store_list(s, &list, &n) == 0 && !listed(list, n, ID1) && listed(list, n, ID2),
          "list after remove");
    store_ids_free(list, n);

    /* a job with a record and blobs goes whole */
    job_info out;
    const char *why;
    CHECK(store_job_remove(s, ID2) == 0, "remove job 2");
    CHECK(store_record_get(s, ID2, &out, &why) == -ENOENT, "record after remove");
    CHECK(!store_blob_exists(s, ID2, "result.png"), "blob after remove");
    CHECK(store_list(s, &list, &n) == 0 && !listed(list, n, ID2), "job 2 listed after remove");
    store_ids_free(list, n);
    /* and can be created again from nothing */
    CHECK(store_blob_put(s, ID2, "content", "c", 1, STORE_UNFENCED) == 0, "write after remove");
    CHECK(store_record_get(s, ID2, &out, &why) == -ENOENT, "a blob made a record");
    job_info_free(&rec);
    case_clean(s);
}

static void case_records(store *s)
{
    case_clean(s);
    job_info in, out;
    const char *why = NULL;
    fill_record(&in, ID1, JOB_FAILED);
    CHECK(store_record_put(s, &in, STORE_UNFENCED) == 0, "record put");
    CHECK(store_record_get(s, ID1, &out, &why) == 0, "record get: %s", why ? why : "");
    /* every stored field of the table comes back as it was */
    for (size_t i = 0; i < job_n_fields; i++) {
        const job_field *f = &job_fields[i];
        if (f->record == JOB_R_NONE) continue;
        const void *a = JOB_FIELD_PTR(&in, f), *b = JOB_FIELD_PTR(&out, f);
        int same = f->kind == JOB_F_JSON ? cJSON_Compare(*(cJSON *const *)a, *(cJSON *const *)b, 1)
                                         : memcmp(a, b, f->size) == 0;
        CHECK(same, "field %s did not round-trip", f->member);
    }
    CHECK(out.has_loss, "has_loss not restored from the stored losses");
    job_info_free(&out);

    /* a replaced record drops the losses and error it no longer has */
    in.has_loss = 0;
    in.error_code[0] = 0;
    CHECK(store_record_put(s, &in, STORE_UNFENCED) == 0, "record put 2");
    CHECK(store_record_get(s, ID1, &out, &why) == 0 && !out.has_loss && !out.error_code[0] &&
              !out.error_message[0],
          "record without loss/error");
    job_info_free(&out);
    job_info_free(&in);

    CHECK(store_record_get(s, ID2, &out, &why) == -ENOENT, "missing record");
    CHECK(store_job_remove(s, ID1) == 0, "remove");
    CHECK(store_record_get(s, ID1, &out, &why) == -ENOENT, "removed record");
}

/* reopen: a new handle on the same store (the old one is closed). */
static void case_claims(store *s, store *(*reopen)(void))
{
    case_clean(s);
    job_info rec;
    store_fence f1 = 0, f2 = 0;
    fill_record(&rec, ID1, JOB_QUEUED);
    rec.state = JOB_RUNNING;
    CHECK(store_claim(s, &rec, &f1) == -ENOENT, "claim of a job without a record");
    rec.state = JOB_QUEUED;
    CHECK(store_record_put(s, &rec, 7) == -ESTALE, "a write fenced before any claim");
    CHECK(store_record_put(s, &rec, STORE_UNFENCED) == 0, "put queued");
    rec.state = JOB_RUNNING;
    CHECK(store_claim(s, &rec, &f1) == 0 && f1 > 0, "first claim");
    CHECK(store_claim(s, &rec, &f2) == -EBUSY, "a running job was claimed again");
    CHECK(store_blob_put(s, ID1, "preview.png", "p1", 2, f1) == 0, "owner's write");

    /* the job goes back to the queue (a worker stopped) and another claims it */
    rec.state = JOB_QUEUED;
    CHECK(store_record_put(s, &rec, f1) == 0, "owner requeues");
    rec.state = JOB_RUNNING;
    CHECK(store_claim(s, &rec, &f2) == 0 && f2 > f1, "second claim %llu after %llu", f2, f1);
    /* the first owner lost the job: its writes are refused and change nothing */
    CHECK(store_blob_put(s, ID1, "preview.png", "p0", 2, f1) == -ESTALE, "stale blob write");
    CHECK(store_blob_put(s, ID1, "other.png", "p0", 2, f1) == -ESTALE, "stale new blob");
    CHECK(store_blob_remove(s, ID1, "preview.png", f1) == -ESTALE, "stale remove");
    rec.state = JOB_SUCCEEDED;
    CHECK(store_record_put(s, &rec, f1) == -ESTALE, "stale record write");
    unsigned char *data = NULL;
    size_t len = 0;
    CHECK(store_blob_get(s, ID1, "preview.png", &data, &len) == 0 && len == 2 && !memcmp(data, "p1", 2),
          "a stale write changed the blob");
    free(data);
    CHECK(!store_blob_exists(s, ID1, "other.png"), "a stale write made a blob");
    job_info now;
    const char *why;
    CHECK(store_record_get(s, ID1, &now, &why) == 0 && now.state == JOB_RUNNING,
          "a stale write changed the record");
    job_info_free(&now);
    CHECK(store_blob_put(s, ID1, "result.png", "r", 1, f2) == 0, "new owner's write");
    CHECK(store_blob_remove(s, ID1, "preview.png", f2) == 0, "new owner's remove");
    /* the token survives a reopen: a claim after it is still newer */
    store_close(s);
    s = reopen();
    if (!s) {
        job_info_free(&rec);
        return;
    }
    rec.state = JOB_QUEUED;
    CHECK(store_record_put(s, &rec, STORE_UNFENCED) == 0, "requeue");
    store_fence f3 = 0;
    rec.state = JOB_RUNNING;
    CHECK(store_claim(s, &rec, &f3) == 0 && f3 > f2, "claim after reopen %llu", f3);
    CHECK(store_claim(s, &rec, &f3) == -EBUSY, "claim of a running job");
    CHECK(store_job_remove(s, ID1) == 0, "remove");
    rec.state = JOB_QUEUED;
    CHECK(store_claim(s, &rec, &f3) == -ENOENT, "claim of a removed job");
    job_info_free(&rec);
    store_close(s);
}

#endif
