/*
 * test_store.c — the disk job store: the cases every store passes
 * (store_cases.h), then what is the disk's own: writes leave no
 * temporaries, listing skips everything that is not a job and sorts by id,
 * removal takes the whole tree without following links, a reopened store
 * sweeps what a crash leaves behind, the record file is the JSON record.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nst.h"
#include "store.h"
#include "store_cases.h"
#include "test.h"

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
    CHECK(count_prefixed(jobs_dir, ".probe-") == 0, "probe file left behind");
    CHECK(count_prefixed(jobs_dir, ".format") == 1, "no format marker");
    store_close(s);

    store *bad = NULL;
    char err[512] = "";
    touch("/tmp/nstd-test-store-file", "x");
    CHECK(store_disk_open(&bad, "/tmp/nstd-test-store-file", err, sizeof err) == -1,
          "opened a store under a regular file");
    CHECK(bad == NULL && err[0], "no message: '%s'", err);
    unlink("/tmp/nstd-test-store-file");
}

static store *reopen_store(void)
{
    return open_store();
}

/* The cases every store passes, on the disk store. */
static void test_cases(void)
{
    store *s = open_store();
    if (!s) return;
    case_blobs(s);
    case_bad_ids(s);
    case_list_remove(s);
    case_records(s);
    case_claims(s, reopen_store);   /* closes s */
}

static void test_files(void)
{
    store *s = open_store();
    if (!s) return;
    case_blobs(s);
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", jobs_dir, ID1);
    CHECK(count_prefixed(dir, ".") == 2, "temporary files left in %s", dir);
    store_close(s);
}

static void test_list_remove(void)
{
    store *s = open_store();
    if (!s) return;
    case_clean(s);
    CHECK(store_blob_put(s, ID1, "job.json", "{}", 2, STORE_UNFENCED) == 0, "write job 1");
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

    /* the disk store lists by id */
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

/* The record is job.json, the JSON record, without losses or error when
 * the job has none; an unusable one says why. */
static void test_record_file(void)
{
    store *s = open_store();
    if (!s) return;
    case_clean(s);
    job_info in, out;
    const char *why = NULL;
    fill_record(&in, ID1, JOB_FAILED);
    in.has_loss = 0;
    in.error_code[0] = 0;
    CHECK(store_record_put(s, &in, STORE_UNFENCED) == 0, "record put");
    unsigned char *text = NULL;
    size_t len = 0;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s/job.json", jobs_dir, ID1);
    CHECK(nst_file_read(path, 0, &text, &len) == 0, "job.json");
    CHECK(text && strstr((char *)text, "\"state\":\"failed\"") && !strstr((char *)text, "\"loss\"") &&
              !strstr((char *)text, "\"error\""),
          "record has loss or error: %s", text);
    free(text);
    job_info_free(&in);

    CHECK(store_blob_put(s, ID2, "job.json", "{\"id\":1}", 8, STORE_UNFENCED) == 0, "bad record");
    CHECK(store_record_get(s, ID2, &out, &why) == -EBADMSG && why, "bad record accepted");
    static const char other[] = "{\"id\":\"" ID1 "\",\"state\":\"queued\",\"params\":{}}";
    CHECK(store_blob_put(s, ID2, "job.json", other, sizeof other - 1, STORE_UNFENCED) == 0,
          "another job's record");
    CHECK(store_record_get(s, ID2, &out, &why) == -EBADMSG && why, "another job's record accepted");
    case_clean(s);
    store_close(s);
}

/* A blob damaged outside nstd (truncated, a byte changed) fails its seal
 * and is not handed out; blobs of a store from before seals are sealed
 * once when it is opened; a quarantined job is moved aside, not listed. */
static void test_seals(void)
{
    store *s = open_store();
    if (!s) return;
    char path[2048];
    unsigned char *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s/result.png", jobs_dir, ID1);
    CHECK(store_blob_put(s, ID1, "result.png", "0123456789", 10, STORE_UNFENCED) == 0, "put");
    CHECK(truncate(path, 14) == 0, "truncate");
    CHECK(store_blob_get(s, ID1, "result.png", &data, &len) == -EBADMSG && !data, "truncated blob read");
    CHECK(store_blob_put(s, ID1, "result.png", "0123456789", 10, STORE_UNFENCED) == 0, "put again");
    FILE *f = fopen(path, "r+");
    CHECK(f && fputc('X', f) != EOF, "change a byte");
    if (f) fclose(f);
    CHECK(store_blob_get(s, ID1, "result.png", &data, &len) == -EBADMSG, "changed blob read");
    store_close(s);

    /* a store from before seals: its blobs are trusted once and sealed */
    char marker[1200];
    snprintf(marker, sizeof marker, "%s/.format", jobs_dir);
    CHECK(unlink(marker) == 0, "remove the marker");
    touch(path, "legacy");
    s = open_store();
    CHECK(store_blob_get(s, ID1, "result.png", &data, &len) == 0 && len == 6 &&
              !memcmp(data, "legacy", 6),
          "legacy blob not sealed on open");
    free(data);
    struct stat sb;
    CHECK(stat(marker, &sb) == 0, "marker not written");

    /* quarantine */
    CHECK(store_job_quarantine(s, ID1) == 0, "quarantine");
    CHECK(!store_blob_exists(s, ID1, "result.png"), "quarantined job still there");
    CHECK(count_prefixed(jobs_dir, ".corrupt-" ID1) == 1, "job not kept aside");
    store_close(s);
    s = open_store();   /* the sweep keeps it */
    CHECK(count_prefixed(jobs_dir, ".corrupt-" ID1) == 1, "quarantined job swept");
    store_close(s);
}

int main(void)
{
    const char *tmp = getenv("NST_TEST_TMP");
    snprintf(data_dir, sizeof data_dir, "%s/test_store.%d/nested/data",
             tmp && *tmp ? tmp : "/tmp", (int)getpid());
    snprintf(jobs_dir, sizeof jobs_dir, "%s/jobs", data_dir);

    TEST_RUN(test_open);
    TEST_RUN(test_cases);
    TEST_RUN(test_files);
    TEST_RUN(test_list_remove);
    TEST_RUN(test_record_file);
    TEST_RUN(test_seals);

    char top[1024];
    snprintf(top, sizeof top, "%s/test_store.%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    remove_all(top);
    return TEST_EXIT();
}
