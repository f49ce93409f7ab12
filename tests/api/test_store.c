/*
 * test_store.c — the disk job store: blobs round-trip, writes leave no
 * temporaries, bad ids and names are refused before any path is built,
 * listing skips everything that is not a job, removal takes the whole tree,
 * a reopened store sweeps what a crash leaves behind; records round-trip
 * every stored field of the record table; a claim takes only a queued job,
 * and a write fenced with an older claim's token is refused.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "test.h"

#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210"

static char data_dir[1024];
static char jobs_dir[1100];

/* rm -r for the test's own directory. */
static void remove_all(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[2048];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            remove_all(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Number of entries in dir whose name starts with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    if (d) closedir(d);
    return n;
}

static void touch(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot create %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static store *open_store(void)
{
    store *s = NULL;
    char err[512] = "";
    CHECK(store_disk_open(&s, data_dir, err, sizeof err) == 0, "store_open: %s", err);
    return s;
}

static void test_open(void)
{
    store *s = open_store();
    struct stat st;
    CHECK(stat(jobs_dir, &st) == 0 && S_ISDIR(st.st_mode), "%s not created", jobs_dir);
    CHECK(s && store_writable(s), "store not writable");
    CHECK(count_prefixed(jobs_dir, ".") == 2, "probe file left behind");
    store_close(s);

    store *bad = NULL;
    char err[512] = "";
    touch("/tmp/nstd-test-store-file", "x");
    CHECK(store_disk_open(&bad, "/tmp/nstd-test-store-file", err, sizeof err) == -1,
          "opened a store under a regular file");
    CHECK(bad == NULL && err[0], "no message: '%s'", err);
    unlink("/tmp/nstd-test-store-file");
}

static void test_files(void)
{
    store *s = open_store();
    if (!s) return;
    static const char json[] = "{\"state\":\"queued\"}";
    unsigned char bin[300];
    for (int i = 0; i < 300; i++) bin[i] = (unsigned char)(i * 7);

    CHECK(!store_blob_exists(s, ID1, "job.json"), "exists before write");
    CHECK(store_blob_put(s, ID1, "job.json", json, strlen(json), STORE_UNFENCED) == 0, "write job.json");
    CHECK(store_blob_put(s, ID1, "content", bin, sizeof bin, STORE_UNFENCED) == 0, "write content");
    CHECK(store_blob_put(s, ID1, "style-0", "", 0, STORE_UNFENCED) == 0, "write an empty file");
    CHECK(store_blob_exists(s, ID1, "job.json"), "job.json missing");

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
          "empty file round trip");
    free(data);

    /* overwrite replaces */
    CHECK(store_blob_put(s, ID1, "job.json", "{}", 2, STORE_UNFENCED) == 0, "overwrite");
    CHECK(store_blob_get(s, ID1, "job.json", &data, &len) == 0 && len == 2 && !memcmp(data, "{}", 2),
          "overwrite round trip");
    free(data);

    CHECK(store_blob_get(s, ID1, "result.png", &data, &len) == -ENOENT && data == NULL,
          "missing file is -ENOENT");
    CHECK(store_blob_get(s, ID2, "job.json", &data, &len) == -ENOENT, "missing job is -ENOENT");

    char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", jobs_dir, ID1);
    CHECK(count_prefixed(dir, ".") == 2, "temporary files left in %s", dir);

    CHECK(store_blob_remove(s, ID1, "style-0", STORE_UNFENCED) == 0, "unlink");
    CHECK(!store_blob_exists(s, ID1, "style-0"), "exists after unlink");
    CHECK(store_blob_remove(s, ID1, "style-0", STORE_UNFENCED) == 0, "unlink of a missing file");
    store_close(s);
}

static void test_bad_ids(void)
{
    store *s = open_store();
    if (!s) return;
    static const char *ids[] = {
        "",
        "0123456789abcdef0123456789abcde",   /* 31 */
        "0123456789abcdef0123456789abcdef0", /* 33 */
        "0123456789ABCDEF0123456789abcdef",  /* upper case */
        "0123456789abcdef0123456789abcdeg",
        "../../../../../../../../../etc/x",
        "0123456789abcdef/123456789abcdef",
        "..",
    };
    static const char *names[] = {"", ".", "..", "../job.json", "a/b", ".tmp-job.json",
                                  "/etc/passwd", "x y"};
    unsigned char *data;
    size_t len;
    char **list;
    int n;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        CHECK(!job_id_valid(ids[i]), "id '%s' valid", ids[i]);
        CHECK(store_blob_put(s, ids[i], "job.json", "x", 1, STORE_UNFENCED) == -EINVAL, "write id '%s'", ids[i]);
        CHECK(store_blob_get(s, ids[i], "job.json", &data, &len) == -EINVAL, "read id '%s'", ids[i]);
        CHECK(!store_blob_exists(s, ids[i], "job.json"), "exists id '%s'", ids[i]);
        CHECK(store_blob_remove(s, ids[i], "job.json", STORE_UNFENCED) == -EINVAL, "unlink id '%s'", ids[i]);
        CHECK(store_job_remove(s, ids[i]) == -EINVAL, "remove id '%s'", ids[i]);
    }
    CHECK(!job_id_valid(NULL), "NULL id valid");
    CHECK(job_id_valid(ID1), "good id invalid");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        CHECK(store_blob_put(s, ID2, names[i], "x", 1, STORE_UNFENCED) == -EINVAL, "write name '%s'", names[i]);
        CHECK(store_blob_get(s, ID2, names[i], &data, &len) == -EINVAL, "read name '%s'", names[i]);
        CHECK(store_blob_remove(s, ID2, names[i], STORE_UNFENCED) == -EINVAL, "unlink name '%s'", names[i]);
    }
    CHECK(store_list(s, &list, &n) == 0, "list");
    for (int i = 0; i < n; i++) CHECK(strcmp(list[i], ID2) != 0, "bad name created job %s", ID2);
    store_ids_free(list, n);
    store_close(s);
}

static void test_list_remove(void)
{
    store *s = open_store();
    if (!s) return;
    CHECK(store_blob_put(s, ID2, "job.json", "{}", 2, STORE_UNFENCED) == 0, "write job 2");
    CHECK(store_blob_put(s, ID2, "result.png", "png", 3, STORE_UNFENCED) == 0, "write result 2");

    /* strays: a temporary file, a junk directory, a file with an id name,
     * a directory with an almost-id name, a stray inside a job */
    char path[1300];
    snprintf(path, sizeof path, "%s/.tmp-job.json-abc123", jobs_dir);
    touch(path, "partial");
    snprintf(path, sizeof path, "%s/junk", jobs_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", jobs_dir);
    touch(path, "not a directory");
    snprintf(path, sizeof path, "%s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", jobs_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/%s/.tmp-result.png-XYZ", jobs_dir, ID2);
    touch(path, "partial");

    char **list;
    int n;
    CHECK(store_list(s, &list, &n) == 0, "list");
    CHECK(n == 2, "%d ids listed", n);
    if (n == 2) {
        CHECK(strcmp(list[0], ID1) == 0 && strcmp(list[1], ID2) == 0, "ids %s %s", list[0],
              list[1]);
    }
    store_ids_free(list, n);

    /* a nested directory and a symlink inside a job: removal takes the
     * tree and does not follow the link */
    char outside[1300];
    snprintf(outside, sizeof outside, "%s/outside", data_dir);
    touch(outside, "keep me");
    snprintf(path, sizeof path, "%s/%s/sub", jobs_dir, ID1);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/%s/sub/file", jobs_dir, ID1);
    touch(path, "x");
    snprintf(path, sizeof path, "%s/%s/link", jobs_dir, ID1);
    CHECK(symlink(outside, path) == 0, "symlink");

    CHECK(store_job_remove(s, ID1) == 0, "remove job 1");
    snprintf(path, sizeof path, "%s/%s", jobs_dir, ID1);
    struct stat st;
    CHECK(lstat(path, &st) != 0 && errno == ENOENT, "job 1 directory still there");
    CHECK(lstat(outside, &st) == 0, "removal followed a symlink");
    CHECK(count_prefixed(jobs_dir, ".trash-") == 0, "trash left behind");
    CHECK(!store_blob_exists(s, ID1, "job.json"), "job 1 file exists after remove");
    CHECK(store_job_remove(s, ID1) == 0, "remove of a missing job");

    CHECK(store_list(s, &list, &n) == 0 && n == 1 && strcmp(list[0], ID2) == 0,
          "list after remove: %d", n);
    store_ids_free(list, n);

    /* A reopen sweeps temporaries and trash from a crash, keeps the rest. */
    snprintf(path, sizeof path, "%s/.trash-%s-QQQQQQ", jobs_dir, ID1);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/.trash-%s-QQQQQQ/job.json", jobs_dir, ID1);
    touch(path, "{}");
    store_close(s);
    s = open_store();
    if (!s) return;
    snprintf(path, sizeof path, "%s/%s", jobs_dir, ID2);
    CHECK(count_prefixed(path, ".tmp-") == 0, "temporary in job not swept");
    CHECK(count_prefixed(jobs_dir, ".trash-") == 0, "trash not swept");
    CHECK(store_blob_exists(s, ID2, "result.png"), "sweep removed a real file");
    unsigned char *data;
    size_t len;
    CHECK(store_blob_get(s, ID2, "result.png", &data, &len) == 0 && len == 3, "result after reopen");
    free(data);
    store_close(s);
}

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
}

static void test_records(void)
{
    store *s = open_store();
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

    /* without losses or error, those keys are absent and read back unset */
    in.has_loss = 0;
    in.error_code[0] = 0;
    CHECK(store_record_put(s, &in, STORE_UNFENCED) == 0, "record put 2");
    unsigned char *text = NULL;
    size_t len = 0;
    CHECK(store_blob_get(s, ID1, "job.json", &text, &len) == 0, "job.json");
    CHECK(text && !strstr((char *)text, "\"loss\"") && !strstr((char *)text, "\"error\""),
          "record has loss or error: %s", text);
    free(text);
    CHECK(store_record_get(s, ID1, &out, &why) == 0 && !out.has_loss && !out.error_code[0],
          "record without loss/error");
    job_info_free(&out);
    job_info_free(&in);

    /* an unusable record says why; a missing one is -ENOENT */
    CHECK(store_blob_put(s, ID2, "job.json", "{\"id\":1}", 8, STORE_UNFENCED) == 0, "bad record");
    CHECK(store_record_get(s, ID2, &out, &why) == -EBADMSG && why, "bad record accepted");
    CHECK(store_job_remove(s, ID2) == 0, "remove bad");
    CHECK(store_record_get(s, ID2, &out, &why) == -ENOENT, "missing record");
    CHECK(store_job_remove(s, ID1) == 0, "remove");
    store_close(s);
}

static void test_claims(void)
{
    store *s = open_store();
    job_info rec;
    store_fence f1 = 0, f2 = 0;
    fill_record(&rec, ID1, JOB_QUEUED);
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
    CHECK(store_blob_remove(s, ID1, "preview.png", f1) == -ESTALE, "stale remove");
    rec.state = JOB_SUCCEEDED;
    CHECK(store_record_put(s, &rec, f1) == -ESTALE, "stale record write");
    unsigned char *data = NULL;
    size_t len = 0;
    CHECK(store_blob_get(s, ID1, "preview.png", &data, &len) == 0 && len == 2 && !memcmp(data, "p1", 2),
          "a stale write changed the blob");
    free(data);
    job_info now;
    const char *why;
    CHECK(store_record_get(s, ID1, &now, &why) == 0 && now.state == JOB_RUNNING,
          "a stale write changed the record");
    job_info_free(&now);
    CHECK(store_blob_put(s, ID1, "result.png", "r", 1, f2) == 0, "new owner's write");
    /* the token survives a reopen: a claim after it is still newer */
    store_close(s);
    s = open_store();
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

int main(void)
{
    const char *tmp = getenv("NST_TEST_TMP");
    snprintf(data_dir, sizeof data_dir, "%s/test_store.%d/nested/data",
             tmp && *tmp ? tmp : "/tmp", (int)getpid());
    snprintf(jobs_dir, sizeof jobs_dir, "%s/jobs", data_dir);

    TEST_RUN(test_open);
    TEST_RUN(test_files);
    TEST_RUN(test_bad_ids);
    TEST_RUN(test_list_remove);
    TEST_RUN(test_records);
    TEST_RUN(test_claims);

    char top[1024];
    snprintf(top, sizeof top, "%s/test_store.%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    remove_all(top);
    return TEST_EXIT();
}
