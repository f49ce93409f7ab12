/*
 * test_store_queue.c — the shared queue of the Redis store (store.h, "the
 * shared queue") against a real redis-server: enqueueing with the global
 * limit, taking in order, claims, leases renewed and taken over once they
 * run out, fenced renew and acknowledge, putting a job back, the cluster's
 * counts and heartbeats, the change feed, retention of finished jobs, and
 * the expiry of a dead submit's inputs. The disk store has none of it.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "redis_server.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2"
#define ID_C "ccccccccccccccccccccccccccccccc3"
#define LEASE_MS 200
#define FEED_WAIT_MS 3000

static long long raw_ttl(const char *key)
{
    redisReply *r = raw("TTL %s", key);
    long long t = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -3;
    freeReplyObject(r);
    return t;
}

static void queued(job_info *r, const char *id)
{
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", id);
    r->state = JOB_QUEUED;
    r->params = cJSON_CreateObject();
    r->n_styles = 1;
    r->created_at = 1700000000.5;
}

static void test_not_shared(void)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s/disk", dir);
    store *s = NULL;
    char err[256];
    CHECK(store_disk_open(&s, tmp, err, sizeof err) == 0, "disk store: %s", err);
    if (!s) return;
    job_info r;
    queued(&r, ID_A);
    store_task t;
    CHECK(!store_shared(s), "the disk store is not shared");
    CHECK(store_enqueue(s, &r, 0) == -ENOTSUP && store_take(s, "w", LEASE_MS, &t) == -ENOTSUP,
          "the disk store has no queue");
    job_info_free(&r);
    store_close(s);
}

static void test_queue(void)
{
    freeReplyObject(raw("FLUSHALL"));
    store *s = open_store();
    if (!s) return;
    CHECK(store_shared(s), "the Redis store is shared");
    job_info a, b, c;
    queued(&a, ID_A);
    queued(&b, ID_B);
    queued(&c, ID_C);
    store_task t;
    CHECK(store_take(s, "w1", LEASE_MS, &t) == -EAGAIN, "nothing to take from an empty queue");

    CHECK(store_enqueue(s, &a, 2) == 0 && a.seq == 1, "first job, seq %lu", a.seq);
    CHECK(store_enqueue(s, &b, 2) == 0 && b.seq == 2, "second job, seq %lu", b.seq);
    CHECK(store_enqueue(s, &c, 2) == -EAGAIN, "a third is over the limit of 2");
    store_counts n;
    CHECK(store_counts_get(s, 1000, &n) == 0 && n.queued == 2 && n.running == 0, "counts %ld %ld",
          n.queued, n.running);

    /* w1 takes the oldest and claims it */
    CHECK(store_take(s, "w1", LEASE_MS, &t) == 0 && !strcmp(t.id, ID_A) && !t.taken_over,
          "w1 takes the oldest job");
    store_task ta = t;
    a.state = JOB_RUNNING;
    store_fence fa = 0;
    CHECK(store_claim(s, &a, &fa) == 0 && fa > 0, "w1 claims it");
    CHECK(store_counts_get(s, 1000, &n) == 0 && n.queued == 1 && n.running == 1, "counts %ld %ld",
          n.queued, n.running);
    CHECK(store_renew(s, &ta, "w1", fa) == 0, "w1 renews its lease");
    CHECK(store_renew(s, &ta, "w1", fa + 1) == -ESTALE, "a renewal with another token");

    /* w2 gets the next one, not w1's while its lease lasts */
    CHECK(store_take(s, "w2", LEASE_MS, &t) == 0 && !strcmp(t.id, ID_B) && !t.taken_over,
          "w2 takes the next job");
    CHECK(store_done(s, &t, STORE_UNFENCED, 1) == 0, "w2 puts it back");
    CHECK(store_take(s, "w2", LEASE_MS, &t) == 0 && !strcmp(t.id, ID_B), "and takes it again");
    b.state = JOB_CANCELED;
    CHECK(store_record_put(s, &b, STORE_UNFENCED) == 0, "it was canceled meanwhile");
    CHECK(store_done(s, &t, STORE_UNFENCED, 0) == 0, "w2 drops it");
    CHECK(store_take(s, "w2", LEASE_MS, &t) == -EAGAIN, "w1's job is not w2's yet");

    /* w1 stops renewing: w2 takes the job over */
    sleep_ms(LEASE_MS + 100);
    CHECK(store_take(s, "w2", LEASE_MS, &t) == 0 && !strcmp(t.id, ID_A) && t.taken_over &&
              !strcmp(t.entry, ta.entry),
          "w2 takes w1's job over once its lease ran out");
    store_fence fb = 0;
    a.attempts = 2;
    CHECK(store_claim(s, &a, &fb) == -EBUSY, "a running job cannot be claimed");
    CHECK(store_take_over(s, &a, &fb) == 0 && fb > fa, "but taken over: token %llu > %llu", fb,
          fa);
    CHECK(store_renew(s, &ta, "w1", fa) == -ESTALE, "w1 cannot renew it any more");
    CHECK(store_done(s, &ta, fa, 0) == -ESTALE, "nor acknowledge it");
    CHECK(store_record_put(s, &a, fa) == -ESTALE, "nor write it");
    a.state = JOB_SUCCEEDED;
    CHECK(store_record_put(s, &a, fb) == 0 && store_done(s, &t, fb, 0) == 0, "w2 finishes it");
    CHECK(store_counts_get(s, 1000, &n) == 0 && n.queued == 0 && n.running == 0, "counts %ld %ld",
          n.queued, n.running);
    redisReply *r = raw("XLEN nstd:queue");
    CHECK(r && r->integer == 0, "the queue stream is empty");
    freeReplyObject(r);

    /* a cancel (an unfenced write ending a running job) fences its worker out */
    CHECK(store_enqueue(s, &c, 0) == 0 && store_take(s, "w1", LEASE_MS, &t) == 0, "third job");
    c.state = JOB_RUNNING;
    store_fence fc = 0;
    CHECK(store_claim(s, &c, &fc) == 0, "claimed");
    c.state = JOB_CANCELED;
    CHECK(store_record_put(s, &c, STORE_UNFENCED) == 0, "canceled");
    CHECK(store_record_put(s, &c, fc) == -ESTALE && store_renew(s, &t, "w1", fc) == -ESTALE,
          "its worker's writes are refused");
    CHECK(store_done(s, &t, STORE_UNFENCED, 0) == 0, "the entry goes");

    job_info_free(&a);
    job_info_free(&b);
    job_info_free(&c);
    store_close(s);
}

static void test_heartbeats(void)
{
    freeReplyObject(raw("FLUSHALL"));
    store *s = open_store();
    if (!s) return;
    store_counts n;
    CHECK(store_heartbeat(s, "w1", 0) == 0 && store_heartbeat(s, "w2", 0) == 0, "heartbeats");
    CHECK(store_counts_get(s, 1000, &n) == 0 && n.workers == 2, "two workers alive: %ld",
          n.workers);
    CHECK(store_heartbeat(s, "w2", 1) == 0, "w2 stops");
    CHECK(store_counts_get(s, 1000, &n) == 0 && n.workers == 1, "one worker alive: %ld",
          n.workers);
    sleep_ms(150);
    CHECK(store_counts_get(s, 100, &n) == 0 && n.workers == 0, "a silent worker is not alive");
    store_close(s);
}

/* ================================================================ the feed */

typedef struct {
    pthread_mutex_t mu;
    int resyncs;
    char last[JOB_ID_LEN + 1];
    int changes;
} feed;

static void on_change(void *user, const char *id)
{
    feed *f = user;
    pthread_mutex_lock(&f->mu);
    if (!id) f->resyncs++;
    else {
        snprintf(f->last, sizeof f->last, "%s", id);
        f->changes++;
    }
    pthread_mutex_unlock(&f->mu);
}

/* Wait until the feed saw `changes` changes and `resyncs` resyncs. */
static int feed_wait(feed *f, int changes, int resyncs)
{
    for (int waited = 0; waited < FEED_WAIT_MS; waited += 20) {
        pthread_mutex_lock(&f->mu);
        int ok = f->changes >= changes && f->resyncs >= resyncs;
        pthread_mutex_unlock(&f->mu);
        if (ok) return 1;
        sleep_ms(20);
    }
    return 0;
}

static void test_feed(void)
{
    freeReplyObject(raw("FLUSHALL"));
    store *s = open_store(), *other = open_store();
    if (!s || !other) {
        if (s) store_close(s);
        if (other) store_close(other);
        return;
    }
    feed f = {.mu = PTHREAD_MUTEX_INITIALIZER};
    CHECK(store_watch(s, on_change, &f) == 0, "watch");
    CHECK(feed_wait(&f, 0, 1), "a resync once subscribed");
    job_info a;
    queued(&a, ID_A);
    CHECK(store_enqueue(other, &a, 0) == 0, "another process creates a job");
    CHECK(feed_wait(&f, 1, 1) && !strcmp(f.last, ID_A), "the feed names it");
    CHECK(store_job_remove(other, ID_A) == 0 && feed_wait(&f, 2, 1), "and its removal");

    /* Redis goes away and comes back: the feed resyncs */
    server_stop();
    sleep_ms(300);
    CHECK(server_start() == 0, "redis-server again");
    CHECK(feed_wait(&f, 2, 2), "a resync after the reconnection");
    CHECK(store_enqueue(other, &a, 0) == 0 && feed_wait(&f, 3, 2), "changes flow again");
    CHECK(store_watch(s, NULL, NULL) == 0, "unwatch");
    job_info_free(&a);
    store_close(other);
    store_close(s);
}

/* ================================================================ expiry */

static void test_expiry(void)
{
    freeReplyObject(raw("FLUSHALL"));
    store *s = open_store();
    if (!s) return;
    store_set_retention(s, 100);
    CHECK(store_blob_put(s, ID_A, "content", "img", 3, STORE_UNFENCED) == 0, "an input");
    long long t = raw_ttl("nstd:blob:" ID_A ":content");
    CHECK(t > 0 && t <= 3600, "an input without a record expires: ttl %lld", t);
    job_info a;
    queued(&a, ID_A);
    CHECK(store_enqueue(s, &a, 0) == 0, "its job");
    CHECK(raw_ttl("nstd:blob:" ID_A ":content") == -1 && raw_ttl("nstd:job:" ID_A) == -1,
          "a queued job's keys persist");
    a.state = JOB_SUCCEEDED;
    CHECK(store_record_put(s, &a, STORE_UNFENCED) == 0, "finished");
    t = raw_ttl("nstd:job:" ID_A);
    long long tb = raw_ttl("nstd:blob:" ID_A ":content"), ts = raw_ttl("nstd:blobs:" ID_A);
    CHECK(t > 0 && t <= 100 && tb > 0 && tb <= 100 && ts > 0 && ts <= 100,
          "a finished job's keys expire after the retention: %lld %lld %lld", t, tb, ts);
    job_info_free(&a);
    store_close(s);
}

int main(void)
{
    redis_server_init("test_store_queue");
    TEST_RUN(test_not_shared);
    if (port > 0 && server_start() == 0) {
        TEST_RUN(test_queue);
        TEST_RUN(test_heartbeats);
        TEST_RUN(test_feed);
        TEST_RUN(test_expiry);
    } else {
        CHECK(0, "no redis-server: the shared queue was not tested");
    }
    redis_server_tidy();
    return TEST_EXIT();
}
