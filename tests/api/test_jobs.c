/*
 * test_jobs.c — the job manager (server/jobs.c) and the job view
 * (api/view.c) in-process, without HTTP: submit → run → succeeded with a
 * result and previews; the bounded queue; cancel of queued and running
 * jobs; delete; list order; the change notification; a job whose stored
 * input went bad fails with an error code; shutdown saving a
 * running job as queued with its checkpoint, and the reload resuming it;
 * the job object's keys, nulls and links; idempotency keys (a retry
 * answers the job, other inputs are refused, keys are per owner, racing
 * submits create one job, a key outlives a restart and goes with its job). Uses the embedded random model,
 * tiny images and a fresh store under $NST_TEST_TMP.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "jobs.h"
#include "test.h"

static nst_model *model;
static char dir[512];
static unsigned char *content_png, *style_png;
static size_t content_len, style_len;

/* ------------------------------------------------------------ fixtures */

static void make_png(int w, int h, int seed, unsigned char **png, size_t *len)
{
    nst_image img;
    nst_image_alloc(&img, w, h);
    for (int i = 0; i < 3 * w * h; i++) img.data[i] = (float)((i * 7 + seed * 13) % 17) / 16.0f;
    nst_image_encode_png(&img, png, len);
    nst_image_free(&img);
}

static jobs *start(store **st, int queue_size)
{
    char err[256];
    CHECK(store_disk_open(st, dir, err, sizeof err) == 0, "store_open: %s", err);
    jobs_config cfg = {.workers = 1, .job_threads = 1, .queue_size = queue_size,
                       .job_ttl = 3600, .max_input_pixels = 1 << 20, .limits = {2000, 256}};
    jobs *j = NULL;
    CHECK(jobs_start(&j, &cfg, *st, NULL, model, err, sizeof err) == 0, "jobs_start: %s", err);
    return j;
}

static int submit_as(jobs *j, const char *owner, int iterations, int image_size,
                     int preview_every, job_info *out)
{
    nst_params p;
    nst_params_default(&p, model);
    p.iterations = iterations;
    p.image_size = image_size;
    p.preview_every = preview_every;
    jobs_input c = {content_png, content_len}, s = {style_png, style_len};
    jobs_request req = {.owner = owner};
    return jobs_submit(j, &p, &c, &s, 1, &req, out);
}

/* A submit with an idempotency key (params: iterations). */
static int submit_key(jobs *j, const char *owner, const char *key, int iterations, job_info *out)
{
    nst_params p;
    nst_params_default(&p, model);
    p.iterations = iterations;
    p.image_size = 24;
    jobs_input c = {content_png, content_len}, s = {style_png, style_len};
    jobs_request req = {.owner = owner, .idem_key = key};
    return jobs_submit(j, &p, &c, &s, 1, &req, out);
}

static int submit(jobs *j, int iterations, int image_size, int preview_every, job_info *out)
{
    return submit_as(j, NULL, iterations, image_size, preview_every, out);
}

/* Wait (on the change notification) until job id is in state, or 60 s. */
static int wait_state(jobs *j, const char *id, job_state state)
{
    unsigned long seen = 0;
    time_t end = time(NULL) + 60;
    while (time(NULL) < end) {
        job_info info;
        if (jobs_get(j, id, &info) != 0) return 0;
        job_state s = info.state;
        job_info_free(&info);
        if (s == state) return 1;
        jobs_wait_change(j, &seen, 500);
    }
    return 0;
}

/* ------------------------------------------------------------ tests */

static void test_run_to_success(void)
{
    store *st;
    jobs *j = start(&st, 4);
    job_info info;
    CHECK(submit(j, 4, 24, 2, &info) == 0, "submit");
    CHECK(strlen(info.id) == JOB_ID_LEN, "id length %zu", strlen(info.id));
    CHECK(info.state == JOB_QUEUED || info.state == JOB_RUNNING, "state %d", info.state);
    CHECK(info.iterations == 4, "iterations %d", info.iterations);
    cJSON *size = cJSON_GetObjectItemCaseSensitive(info.params, "image_size");
    CHECK(cJSON_IsNumber(size) && size->valueint == 24, "params image_size %d",
          size ? size->valueint : -1);
    CHECK(wait_state(j, info.id, JOB_SUCCEEDED), "job did not succeed");

    job_info done;
    CHECK(jobs_get(j, info.id, &done) == 0, "get");
    CHECK(done.iteration == 4 && done.has_loss && done.eta_s == 0, "progress %d %d %g",
          done.iteration, done.has_loss, done.eta_s);
    CHECK(done.started_at >= done.created_at && done.finished_at >= done.started_at, "times");
    CHECK(done.has_preview, "no preview recorded");
    job_info_free(&done);

    unsigned char *png;
    size_t len;
    CHECK(jobs_read_result(j, info.id, &png, &len) == 0, "result");
    nst_image out = {0};
    CHECK(nst_image_decode(png, len, 0, &out, NULL) == 0 && out.w == 24 && out.h == 18,
          "result %dx%d", out.w, out.h);
    nst_image_free(&out);
    free(png);
    CHECK(jobs_read_preview(j, info.id, &png, &len) == 0, "preview");
    free(png);

    CHECK(jobs_delete(j, info.id, NULL) == JOBS_REMOVED, "delete finished");
    CHECK(jobs_get(j, info.id, &done) == JOBS_ENOTFOUND, "deleted job still there");
    CHECK(!store_blob_exists(st, info.id, "job.json"), "deleted job's files remain");
    job_info_free(&info);
    jobs_shutdown(j);
    jobs_free(j);
    store_close(st);
}

/* preview_every 0: no previews at all, though the engine still reports
 * images to checkpoint from (at each scale's last iteration). */
static void test_no_previews(void)
{
    store *st;
    jobs *j = start(&st, 4);
    job_info info, done;
    CHECK(submit(j, 3, 24, 0, &info) == 0, "submit");
    CHECK(wait_state(j, info.id, JOB_SUCCEEDED), "job did not succeed");
    CHECK(jobs_get(j, info.id, &done) == 0 && !done.has_preview, "preview recorded");
    unsigned char *png = NULL;
    size_t len;
    CHECK(jobs_read_preview(j, info.id, &png, &len) == JOBS_ENOFILE, "preview served");
    CHECK(!store_blob_exists(st, info.id, "preview.png"), "preview stored");
    free(png);
    CHECK(jobs_delete(j, info.id, NULL) == JOBS_REMOVED, "delete finished");
    job_info_free(&done);
    job_info_free(&info);
    jobs_shutdown(j);
    jobs_free(j);
    store_close(st);
}

static void test_queue_cancel_list(void)
{
    store *st;
    jobs *j = start(&st, 1);
    job_info a, b;
    CHECK(submit_as(j, "alice", 2000, 48, 0, &a) == 0, "submit a");
    CHECK(wait_state(j, a.id, JOB_RUNNING), "a not running");
    CHECK(submit_as(j, "bob", 2000, 48, 0, &b) == 0, "submit b");
    CHECK(!strcmp(a.owner, "alice") && !strcmp(b.owner, "bob"), "owners '%s' '%s'", a.owner,
          b.owner);
    CHECK(b.state == JOB_QUEUED && b.position == 1, "b state %d position %d", b.state, b.position);
    CHECK(submit(j, 5, 24, 0, NULL) == JOBS_EFULL, "third job accepted with a full queue");
    CHECK(jobs_can_accept(j) == JOBS_EFULL, "can_accept");

    job_info *items;
    int n, total;
    CHECK(jobs_list(j, NULL, 0, 10, &items, &n, &total) == 0 && n == 2 && total == 2,
          "list %d %d", n, total);
    CHECK(n == 2 && strcmp(items[0].id, b.id) == 0 && strcmp(items[1].id, a.id) == 0,
          "list not newest first");
    jobs_list_free(items, n);
    CHECK(jobs_list(j, NULL, 1, 10, &items, &n, &total) == 0 && n == 1 &&
              strcmp(items[0].id, a.id) == 0,
          "offset");
    jobs_list_free(items, n);
    /* filtered: by owner, by state, only counted */
    jobs_filter alice = {"alice", 0}, bob_active = {"bob", 1u << JOB_QUEUED | 1u << JOB_RUNNING};
    jobs_filter running = {NULL, 1u << JOB_RUNNING}, nobody = {"carol", 0};
    CHECK(jobs_list(j, &alice, 0, 10, &items, &n, &total) == 0 && n == 1 && total == 1 &&
              strcmp(items[0].id, a.id) == 0,
          "alice's jobs: %d of %d", n, total);
    jobs_list_free(items, n);
    CHECK(jobs_list(j, &alice, 1, 10, &items, &n, &total) == 0 && n == 0 && total == 1,
          "alice's jobs past the end");
    jobs_list_free(items, n);
    CHECK(jobs_list(j, &running, 0, 10, &items, &n, &total) == 0 && n == 1 && total == 1 &&
              strcmp(items[0].id, a.id) == 0,
          "running jobs");
    jobs_list_free(items, n);
    CHECK(jobs_list(j, &bob_active, 0, 0, &items, &n, &total) == 0 && n == 0 && total == 1 &&
              items == NULL,
          "bob's active jobs counted");
    CHECK(jobs_list(j, &nobody, 0, 10, &items, &n, &total) == 0 && n == 0 && total == 0,
          "carol has none");
    jobs_list_free(items, n);

    job_info c;
    CHECK(jobs_delete(j, b.id, &c) == JOBS_CANCELED && c.state == JOB_CANCELED, "cancel queued");
    job_info_free(&c);
    CHECK(jobs_delete(j, a.id, &c) == JOBS_CANCELING && c.state == JOB_CANCELED, "cancel running");
    job_info_free(&c);
    jobs_stats s;
    time_t end = time(NULL) + 30;
    do {
        jobs_get_stats(j, &s);
        if (s.running) usleep(20000);
    } while (s.running && time(NULL) < end);
    CHECK(s.running == 0 && s.canceled == 2 && s.queued == 0, "stats %d %d %d", s.running,
          s.canceled, s.queued);
    CHECK(jobs_read_result(j, a.id, &(unsigned char *){0}, &(size_t){0}) == JOBS_ESTATE,
          "result of a canceled job");
    job_info_free(&a);
    job_info_free(&b);
    jobs_shutdown(j);
    CHECK(submit(j, 5, 24, 0, NULL) == JOBS_ESHUTDOWN, "submit after shutdown");
    jobs_free(j);
    store_close(st);
}

static void test_shutdown_and_resume(void)
{
    store *st;
    jobs *j = start(&st, 4);
    job_info a;
    CHECK(submit(j, 2000, 32, 1, &a) == 0, "submit");
    unsigned long seen = 0;
    time_t end = time(NULL) + 60;
    while (!store_blob_exists(st, a.id, "checkpoint.png") && time(NULL) < end)
        jobs_wait_change(j, &seen, 200);
    jobs_shutdown(j);
    job_info g;
    CHECK(jobs_get(j, a.id, &g) == 0 && g.state == JOB_QUEUED, "state after shutdown %d", g.state);
    int at = g.iteration;
    CHECK(at >= 1, "checkpoint iteration %d", at);
    job_info_free(&g);
    jobs_free(j);
    store_close(st);

    j = start(&st, 4);   /* reload: the job runs again from its checkpoint */
    CHECK(wait_state(j, a.id, JOB_RUNNING), "not running after reload");
    end = time(NULL) + 60;
    int it = 0;
    while (it <= at && time(NULL) < end) {
        jobs_wait_change(j, &seen, 200);
        CHECK(jobs_get(j, a.id, &g) == 0, "get");
        it = g.iteration;
        job_info_free(&g);
    }
    CHECK(it > at, "no progress after resume (%d <= %d)", it, at);
    CHECK(jobs_delete(j, a.id, NULL) == JOBS_CANCELING, "cancel");
    job_info_free(&a);
    jobs_shutdown(j);
    jobs_free(j);
    store_close(st);
}

/* Submits racing with one key (test_idempotency). */
#define RACERS 8
typedef struct {
    jobs *j;
    int rc;
    job_info info;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    r->rc = submit_key(r->j, "alice", "race", 3, &r->info);
    return NULL;
}

static void test_idempotency(void)
{
    store *st;
    jobs *j = start(&st, 16);
    job_info a, b;
    int total;
    job_info *items;
    int n;
    CHECK(jobs_idem_key_valid("k") && jobs_idem_key_valid("a key with spaces ~!"), "valid keys");
    CHECK(!jobs_idem_key_valid("") && !jobs_idem_key_valid("tab\there") &&
          !jobs_idem_key_valid("caf\xc3\xa9"), "invalid keys");
    char longest[JOBS_IDEM_KEY_MAX + 2];
    memset(longest, 'k', sizeof longest - 1);
    longest[JOBS_IDEM_KEY_MAX] = 0;
    CHECK(jobs_idem_key_valid(longest), "a key of %d characters", JOBS_IDEM_KEY_MAX);
    longest[JOBS_IDEM_KEY_MAX] = 'k';
    longest[JOBS_IDEM_KEY_MAX + 1] = 0;
    CHECK(!jobs_idem_key_valid(longest), "a key of %d characters", JOBS_IDEM_KEY_MAX + 1);

    int before;   /* jobs of the earlier tests, in the same store */
    CHECK(jobs_list(j, NULL, 0, 0, &items, &n, &before) == 0, "list");
    CHECK(submit_key(j, "alice", "k1", 3, &a) == 0, "first submit with a key");
    CHECK(submit_key(j, "alice", "k1", 3, &b) == JOBS_REPLAYED, "retry");
    CHECK(strcmp(a.id, b.id) == 0, "retry answered %s, not %s", b.id, a.id);
    job_info_free(&b);
    CHECK(submit_key(j, "alice", "k1", 4, &b) == JOBS_EKEYREUSED, "other params");
    CHECK(strcmp(a.id, b.id) == 0, "the refusal names %s, not %s", b.id, a.id);
    job_info_free(&b);
    CHECK(submit_key(j, "bob", "k1", 3, &b) == 0, "another owner's same key");
    CHECK(strcmp(a.id, b.id) != 0, "two owners share a job");
    job_info_free(&b);
    CHECK(jobs_list(j, NULL, 0, 0, &items, &n, &total) == 0 && total == before + 2, "jobs: %d", total);

    racer r[RACERS];
    pthread_t t[RACERS];
    for (int i = 0; i < RACERS; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].j = j;
        CHECK(pthread_create(&t[i], NULL, race, &r[i]) == 0, "thread");
    }
    int created = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(t[i], NULL);
        CHECK(r[i].rc == 0 || r[i].rc == JOBS_REPLAYED, "racer %d: %d", i, r[i].rc);
        created += r[i].rc == 0;
        CHECK(strcmp(r[i].info.id, r[0].info.id) == 0, "racer %d got another job", i);
    }
    CHECK(created == 1, "%d racers created a job", created);
    for (int i = 0; i < RACERS; i++) job_info_free(&r[i].info);
    CHECK(jobs_list(j, NULL, 0, 0, &items, &n, &total) == 0 && total == before + 3, "jobs: %d", total);

    /* the key is in the record: it outlives a restart */
    jobs_shutdown(j);
    jobs_free(j);
    store_close(st);
    j = start(&st, 16);
    CHECK(submit_key(j, "alice", "k1", 3, &b) == JOBS_REPLAYED, "retry after a restart");
    CHECK(strcmp(a.id, b.id) == 0, "after a restart: %s, not %s", b.id, a.id);
    job_info_free(&b);
    /* and it goes with its job */
    CHECK(wait_state(j, a.id, JOB_SUCCEEDED), "keyed job did not succeed");
    CHECK(jobs_delete(j, a.id, NULL) == JOBS_REMOVED, "delete");
    CHECK(submit_key(j, "alice", "k1", 4, &b) == 0, "the key of a deleted job");
    CHECK(strcmp(a.id, b.id) != 0, "a deleted job came back");
    job_info_free(&b);
    job_info_free(&a);
    jobs_shutdown(j);
    jobs_free(j);
    store_close(st);
}

static void test_failure(void)
{
    store *st;
    jobs *j = start(&st, 4);
    job_info a, b;
    CHECK(submit(j, 2000, 48, 0, &a) == 0, "submit a");
    CHECK(wait_state(j, a.id, JOB_RUNNING), "a not running");
    CHECK(submit(j, 3, 24, 0, &b) == 0, "submit b");
    CHECK(store_blob_put(st, b.id, "content", "garbage", 7, STORE_UNFENCED) == 0, "spoil b's input");
    CHECK(jobs_delete(j, a.id, NULL) == JOBS_CANCELING, "cancel a");
    CHECK(wait_state(j, b.id, JOB_FAILED), "b did not fail");
    job_info f;
    CHECK(jobs_get(j, b.id, &f) == 0, "get b");
    CHECK(strcmp(f.error_code, "invalid_image") == 0 && f.error_message[0], "error %s: %s",
          f.error_code, f.error_message);
    CHECK(f.finished_at > 0, "finished_at");
    job_info_free(&f);
    CHECK(jobs_read_result(j, b.id, &(unsigned char *){0}, &(size_t){0}) == JOBS_ESTATE,
          "result of a failed job");
    job_info_free(&a);
    job_info_free(&b);
    jobs_shutdown(j);
    jobs_free(j);
    store_close(st);
}

static void test_view(void)
{
    nstd_config cfg;
    config_defaults(&cfg);
    api a;
    memset(&a, 0, sizeof a);
    a.d.cfg = &cfg;
    snprintf(a.base, sizeof a.base, "/nst");
    job_info in;
    memset(&in, 0, sizeof in);
    memcpy(in.id, "0123456789abcdef0123456789abcdef", JOB_ID_LEN + 1);
    in.state = JOB_QUEUED;
    in.position = 2;
    in.iterations = 10;
    in.eta_s = -1;
    in.created_at = 1700000000.25;
    in.params = cJSON_Parse("{\"iterations\":10}");
    snprintf(in.model, sizeof in.model, "vgg19-random");
    cJSON *o = view_job(&a, &in);
    char *text = cJSON_PrintUnformatted(o);
    const char *want[] = {"id", "state", "position", "progress", "params", "model", "created_at",
                          "started_at", "finished_at", "error", "links"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        CHECK(cJSON_HasObjectItem(o, want[i]), "view lacks %s: %s", want[i], text);
    CHECK(cJSON_GetObjectItem(o, "position")->valueint == 2, "position");
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "created_at")),
                 "2023-11-14T22:13:20.250Z") == 0, "created_at %s", text);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "started_at")), "started_at not null");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "error")), "error not null");
    cJSON *p = cJSON_GetObjectItem(o, "progress");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(p, "eta_s")), "eta not null");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "loss"), "total")), "loss");
    cJSON *links = cJSON_GetObjectItem(o, "links");
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(links, "events")),
                 "/nst/v1/jobs/0123456789abcdef0123456789abcdef/events") == 0, "links %s", text);
    free(text);
    cJSON_Delete(o);

    in.state = JOB_FAILED;
    snprintf(in.error_code, sizeof in.error_code, "out_of_memory");
    snprintf(in.error_message, sizeof in.error_message, "no memory");
    o = view_job(&a, &in);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "position")), "position of a failed job");
    cJSON *e = cJSON_GetObjectItem(o, "error");
    CHECK(e && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "code")), "out_of_memory") == 0,
          "error code");
    cJSON_Delete(o);
    job_info_free(&in);
}

int main(void)
{
    const char *tmp = getenv("NST_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/api-jobs-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return 1;
    if (nst_model_random(&model, NULL) != 0) return 1;
    make_png(32, 24, 1, &content_png, &content_len);
    make_png(16, 16, 2, &style_png, &style_len);

    TEST_RUN(test_view);
    TEST_RUN(test_run_to_success);
    TEST_RUN(test_no_previews);
    TEST_RUN(test_queue_cancel_list);
    TEST_RUN(test_failure);
    TEST_RUN(test_idempotency);
    TEST_RUN(test_shutdown_and_resume);

    free(content_png);
    free(style_png);
    nst_model_free(model);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (!test_failures_ && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return TEST_EXIT();
}
