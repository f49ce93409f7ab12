/*
 * test_store_redis.c — the Redis store against a real redis-server that the
 * test starts itself (on a free port of 127.0.0.1 and a Unix socket in a
 * temporary directory, no persistence) and stops on every way out: the
 * cases every store passes (store_cases.h), then the Redis store's own —
 * its URL parser, refused opens (bad URL, no server, AUTH), the key layout,
 * the listing's order, SELECT, idempotency keys (bound once, with their
 * job's lifetime), two handles sharing jobs and fences, a claim
 * race, and a server restart between calls. Without redis-server the test
 * fails (scripts/test installs it); it never skips.
 */
#include <pthread.h>

#include "redis_server.h"
#include "store_cases.h"
#include "store_redis_url.h"

/* ================================================================ the URL */

static void test_urls(void)
{
    store_redis_url u;
    char err[256];
    CHECK(store_redis_url_parse("redis://localhost", &u, err, sizeof err) == 0 && !u.is_unix &&
              !strcmp(u.host, "localhost") && u.port == 6379 && u.db == 0 && !u.user[0] &&
              !u.password[0],
          "redis://localhost");
    CHECK(store_redis_url_parse("redis://:s3cret@10.1.2.3:6380/2", &u, err, sizeof err) == 0 &&
              !strcmp(u.host, "10.1.2.3") && u.port == 6380 && u.db == 2 && !u.user[0] &&
              !strcmp(u.password, "s3cret"),
          "password, port and db");
    CHECK(store_redis_url_parse("redis://nstd:p%40ss:w/d@[::1]:7000/15", &u, err, sizeof err) == 0 &&
              !strcmp(u.host, "::1") && u.port == 7000 && u.db == 15 && !strcmp(u.user, "nstd") &&
              !strcmp(u.password, "p@ss:w/d"),
          "user, escaped password, IPv6: %s/%s/%s", u.host, u.user, u.password);
    CHECK(store_redis_url_parse("redis://cache.internal/", &u, err, sizeof err) == 0 && u.db == 0,
          "a trailing slash");
    CHECK(store_redis_url_parse("unix:///run/redis/redis.sock", &u, err, sizeof err) == 0 &&
              u.is_unix && !strcmp(u.path, "/run/redis/redis.sock") && u.db == 0,
          "unix socket");
    CHECK(store_redis_url_parse("unix:///tmp/r.sock?db=3", &u, err, sizeof err) == 0 && u.is_unix &&
              !strcmp(u.path, "/tmp/r.sock") && u.db == 3,
          "unix socket with db");

    static const struct {
        const char *url, *says;
    } bad[] = {
        {"", "empty"},
        {NULL, "empty"},
        {"http://localhost:6379", "scheme 'http'"},
        {"localhost:6379", "expected redis://"},
        {"rediss://host", "scheme 'rediss'"},
        {"redis://", "no host"},
        {"redis://:6379", "no host"},
        {"redis://host:0", "bad port '0'"},
        {"redis://host:65536", "bad port '65536'"},
        {"redis://host:", "bad port ''"},
        {"redis://host:12ab", "bad port '12ab'"},
        {"redis://host/x", "bad database number 'x'"},
        {"redis://host/1/2", "bad database number"},
        {"redis://host?db=1", "unexpected '?'"},
        {"redis://ho st", "unexpected ' '"},
        {"redis://[::1", "without ']'"},
        {"redis://user@host", "user:password@"},
        {"redis://user:@host", "empty password"},
        {"redis://u:bad%zzsecret@host", "bad or too long password"},
        {"unix://relative.sock", "absolute socket path"},
        {"unix:///", "empty socket path"},
        {"unix:///tmp/r.sock?database=1", "only query is ?db=N"},
        {"unix:///tmp/r.sock?db=one", "bad database number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        int rc = store_redis_url_parse(bad[i].url, &u, err, sizeof err);
        CHECK(rc == -1 && strstr(err, bad[i].says) && !strncmp(err, "store URL: ", 11),
              "'%s': rc %d, message '%s' lacks '%s'", bad[i].url ? bad[i].url : "(null)", rc, err,
              bad[i].says);
        CHECK(!strstr(err, "secret"), "the password is in the message: %s", err);
    }
    char longpath[300] = "unix:///";
    memset(longpath + 8, 'a', 200);
    longpath[208] = 0;
    CHECK(store_redis_url_parse(longpath, &u, err, sizeof err) == -1 && strstr(err, "longer than"),
          "a socket path too long: %s", err);
}

/* ================================================================ opening */

static void test_open_errors(void)
{
    store *s = NULL;
    char err[512] = "";
    CHECK(store_redis_open(&s, "http://x", err, sizeof err) == -1 && !s && strstr(err, "scheme"),
          "bad URL: %s", err);
    char nobody[64];
    snprintf(nobody, sizeof nobody, "redis://127.0.0.1:%d", free_port());
    err[0] = 0;
    CHECK(store_redis_open(&s, nobody, err, sizeof err) == -1 && !s && strstr(err, "cannot connect"),
          "no server: %s", err);
    char nosock[700];
    snprintf(nosock, sizeof nosock, "unix://%s/none.sock", dir);
    CHECK(store_redis_open(&s, nosock, err, sizeof err) == -1 && strstr(err, "cannot connect"),
          "no socket: %s", err);

    /* AUTH: a password the server wants, then a wrong one */
    freeReplyObject(raw("CONFIG SET requirepass %s", "pw-123"));
    raw_close();
    char with[128], wrong[128];
    snprintf(with, sizeof with, "redis://:pw-123@127.0.0.1:%d", port);
    snprintf(wrong, sizeof wrong, "redis://default:nope@127.0.0.1:%d", port);
    s = open_url(with);
    CHECK(s && store_writable(s), "AUTH with the password");
    store_close(s);
    s = NULL;
    err[0] = 0;
    CHECK(store_redis_open(&s, wrong, err, sizeof err) == -1 && strstr(err, "AUTH refused") &&
              !strstr(err, "nope"),
          "wrong password: %s", err);
    CHECK(store_redis_open(&s, url, err, sizeof err) == -1, "no password opened");
    store *a = open_url(with);
    if (a) {   /* back to no password */
        redisReply *r = raw("AUTH %s", "pw-123");
        freeReplyObject(r);
        freeReplyObject(raw("CONFIG SET requirepass %s", ""));
        store_close(a);
    }
    raw_close();
    s = open_url(url);
    CHECK(s && store_writable(s), "open after AUTH is off again");
    store_close(s);
}

/* ================================================================ the interface's cases */

static void test_cases(void)
{
    freeReplyObject(raw("FLUSHALL"));
    store *s = open_store();
    if (!s) return;
    case_blobs(s);
    case_bad_ids(s);
    case_list_remove(s);
    case_records(s);
    case_claims(s, open_store);   /* closes s */
}

/* ================================================================ keys */

static int raw_int(const char *cmd, const char *key, const char *arg2)
{
    redisReply *r = arg2 ? raw("%s %s %s", cmd, key, arg2) : raw("%s %s", cmd, key);
    int v = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    freeReplyObject(r);
    return v;
}

/* The hash field's text, or "" (static buffer). */
static const char *raw_hget(const char *key, const char *field)
{
    static char buf[512];
    redisReply *r = raw("HGET %s %s", key, field);
    snprintf(buf, sizeof buf, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    return buf;
}

static void test_layout(void)
{
    freeReplyObject(raw("FLUSHALL"));
    store *s = open_store();
    if (!s) return;
    const char *job = "nstd:job:" ID1;
    job_info in, out;
    const char *why = NULL;
    fill_record(&in, ID1, JOB_FAILED);
    in.seq = 5;
    in.elapsed_s = 0.1 + 0.2;   /* needs all 17 digits */
    CHECK(store_record_put(s, &in, STORE_UNFENCED) == 0, "record put");
    CHECK(!strcmp(raw_hget(job, "state"), "failed"), "state '%s'", raw_hget(job, "state"));
    CHECK(!strcmp(raw_hget(job, "id"), ID1), "id");
    CHECK(!strcmp(raw_hget(job, "seq"), "5"), "seq '%s'", raw_hget(job, "seq"));
    CHECK(!strcmp(raw_hget(job, "elapsed_s"), "0.30000000000000004"), "elapsed_s '%s'",
          raw_hget(job, "elapsed_s"));
    CHECK(!strcmp(raw_hget(job, "params"), "{\"iterations\":30,\"image_size\":64}"), "params '%s'",
          raw_hget(job, "params"));
    CHECK(!strcmp(raw_hget(job, "has_preview"), "1"), "has_preview '%s'", raw_hget(job, "has_preview"));
    CHECK(raw_hget(job, "loss/total")[0] && raw_hget(job, "error/code")[0], "losses and error stored");
    CHECK(!strcmp(raw_hget(job, "fence"), "0"), "fence '%s'", raw_hget(job, "fence"));
    CHECK(store_record_get(s, ID1, &out, &why) == 0 && out.elapsed_s == in.elapsed_s,
          "17 digits round trip: %.17g", out.elapsed_s);
    job_info_free(&out);
    /* fields the record does not have are not in the hash */
    in.has_loss = 0;
    in.error_code[0] = 0;
    CHECK(store_record_put(s, &in, STORE_UNFENCED) == 0, "record put 2");
    CHECK(raw_int("HEXISTS", job, "loss/total") == 0 && raw_int("HEXISTS", job, "error/code") == 0 &&
              raw_int("HEXISTS", job, "error/message") == 0,
          "losses or error left in the hash");
    CHECK(raw_int("HEXISTS", job, "position") == 0 && raw_int("HEXISTS", job, "version") == 0,
          "a field that is not stored is in the hash");

    /* blobs: a string each, their names in a set, the job listed */
    CHECK(store_blob_put(s, ID1, "content", "abc", 3, STORE_UNFENCED) == 0, "blob put");
    redisReply *r = raw("GET nstd:blob:" ID1 ":content");
    CHECK(r && r->type == REDIS_REPLY_STRING && r->len == 3 + STORE_SEAL_LEN &&
              !memcmp(r->str, "abc", 3),
          "blob key: the bytes and their seal");
    freeReplyObject(r);
    CHECK(raw_int("SISMEMBER", "nstd:blobs:" ID1, "content") == 1, "blob name not in the set");
    r = raw("ZSCORE nstd:jobs %s", ID1);
    CHECK(r && r->type == REDIS_REPLY_STRING && !strcmp(r->str, "5"), "score %s", r ? r->str : "");
    freeReplyObject(r);

    /* listing: by seq, then id; a job with only blobs first (score 0) */
    job_info b;
    fill_record(&b, ID2, JOB_QUEUED);
    b.seq = 2;
    CHECK(store_record_put(s, &b, STORE_UNFENCED) == 0, "record 2");
    static const char *id3 = "00000000000000000000000000000003";
    CHECK(store_blob_put(s, id3, "content", "x", 1, STORE_UNFENCED) == 0, "blob-only job");
    char **list;
    int n;
    CHECK(store_list(s, &list, &n) == 0 && n == 3, "list: %d", n);
    if (n == 3)
        CHECK(!strcmp(list[0], id3) && !strcmp(list[1], ID2) && !strcmp(list[2], ID1),
              "order %s %s %s", list[0], list[1], list[2]);
    store_ids_free(list, n);
    freeReplyObject(raw("ZADD nstd:jobs 1 not-a-job-id"));
    CHECK(store_list(s, &list, &n) == 0 && n == 3, "a stray member listed: %d", n);
    store_ids_free(list, n);

    /* removal leaves no key of the job */
    CHECK(store_job_remove(s, ID1) == 0, "remove");
    CHECK(raw_int("EXISTS", job, NULL) == 0 && raw_int("EXISTS", "nstd:blobs:" ID1, NULL) == 0 &&
              raw_int("EXISTS", "nstd:blob:" ID1 ":content", NULL) == 0,
          "keys left after removal");

    /* an unusable hash says why; a hash of another job too */
    freeReplyObject(raw("HSET nstd:job:%s id 1 state nonsense", ID1));
    CHECK(store_record_get(s, ID1, &out, &why) == -EBADMSG && why, "bad record accepted");
    freeReplyObject(raw("HSET nstd:job:%s id %s state queued params {}", ID1, ID2));
    CHECK(store_record_get(s, ID1, &out, &why) == -EBADMSG && why, "another job's record accepted");
    freeReplyObject(raw("HSET nstd:job:%s id %s params not-json", ID1, ID1));
    CHECK(store_record_get(s, ID1, &out, &why) == -EBADMSG && why, "bad params accepted");

    /* SELECT: a store on db 3 writes there, and over the Unix socket too */
    char db3[700];
    snprintf(db3, sizeof db3, "unix://%s?db=3", sock_path);
    store *s3 = open_url(db3);
    if (s3) {
        CHECK(store_blob_put(s3, ID2, "content", "d3", 2, STORE_UNFENCED) == 0, "put on db 3");
        freeReplyObject(raw("SELECT 3"));
        CHECK(raw_int("EXISTS", "nstd:blob:" ID2 ":content", NULL) == 1, "not on db 3");
        freeReplyObject(raw("SELECT 0"));
        CHECK(raw_int("EXISTS", "nstd:blob:" ID2 ":content", NULL) == 0, "on db 0");
        store_close(s3);
    }
    job_info_free(&in);
    job_info_free(&b);
    store_close(s);
}

/* ================================================================ idempotency keys */

static void test_idem_keys(void)
{
    freeReplyObject(raw("FLUSHALL"));
    store *s = open_store();
    if (!s) return;
    const char *key = "nstd:idem:alice:k1";
    char bound[JOB_ID_LEN + 1] = "";
    CHECK(store_idem_bind(s, "alice", "k1", ID1, bound) == 0, "bind");
    CHECK(raw_int("TTL", key, NULL) > 0, "a binding without its record expires: TTL %d",
          raw_int("TTL", key, NULL));
    CHECK(store_idem_bind(s, "alice", "k1", ID2, bound) == -EEXIST && !strcmp(bound, ID1),
          "second bind: '%s'", bound);
    CHECK(store_idem_bind(s, "bob", "k1", ID2, bound) == 0, "another owner's same key");
    CHECK(store_idem_unbind(s, "bob", "k1", ID1) == 0 && raw_int("EXISTS", "nstd:idem:bob:k1", NULL) == 1,
          "unbind by another job removed the binding");
    CHECK(store_idem_unbind(s, "bob", "k1", ID2) == 0 && raw_int("EXISTS", "nstd:idem:bob:k1", NULL) == 0,
          "unbind left the binding");

    /* with its record the binding lives as long as the job */
    store_set_retention(s, 500);
    job_info rec;
    fill_record(&rec, ID1, JOB_QUEUED);
    snprintf(rec.owner, sizeof rec.owner, "alice");
    snprintf(rec.idem_key, sizeof rec.idem_key, "k1");
    CHECK(store_record_put(s, &rec, STORE_UNFENCED) == 0, "record put");
    CHECK(raw_int("TTL", key, NULL) == -1, "a queued job's binding expires: TTL %d",
          raw_int("TTL", key, NULL));
    rec.state = JOB_SUCCEEDED;
    CHECK(store_record_put(s, &rec, STORE_UNFENCED) == 0, "record put 2");
    int ttl = raw_int("TTL", key, NULL), job_ttl = raw_int("TTL", "nstd:job:" ID1, NULL);
    CHECK(ttl > 0 && ttl <= 500 && job_ttl > 0, "a finished job's binding: TTL %d (job %d)", ttl,
          job_ttl);
    /* another job's record with the same key does not touch the binding */
    job_info other;
    fill_record(&other, ID2, JOB_SUCCEEDED);
    snprintf(other.owner, sizeof other.owner, "alice");
    snprintf(other.idem_key, sizeof other.idem_key, "k1");
    CHECK(store_record_put(s, &other, STORE_UNFENCED) == 0, "record put 3");
    CHECK(store_job_remove(s, ID2) == 0 && raw_int("EXISTS", key, NULL) == 1,
          "removing another job removed the binding");
    CHECK(store_job_remove(s, ID1) == 0 && raw_int("EXISTS", key, NULL) == 0,
          "the binding outlived its job");
    CHECK(store_idem_bind(s, "alice", "k1", ID2, bound) == 0, "bind after the job went");
    job_info_free(&rec);
    job_info_free(&other);
    store_close(s);
}

/* ================================================================ two processes */

typedef struct {
    store *s;
    job_info rec;
    int rc;
    store_fence fence;
    pthread_barrier_t *go;
} claimer;

static void *claim_thread(void *arg)
{
    claimer *c = arg;
    pthread_barrier_wait(c->go);
    c->rc = store_claim(c->s, &c->rec, &c->fence);
    return NULL;
}

static void test_two_handles(void)
{
    freeReplyObject(raw("FLUSHALL"));
    store *a = open_store(), *b = open_store();
    if (!a || !b) {
        store_close(a);
        store_close(b);
        return;
    }
    job_info rec, out;
    const char *why;
    fill_record(&rec, ID1, JOB_QUEUED);
    CHECK(store_record_put(a, &rec, STORE_UNFENCED) == 0, "put through a");
    CHECK(store_record_get(b, ID1, &out, &why) == 0 && out.state == JOB_QUEUED, "b reads a's record");
    job_info_free(&out);
    CHECK(store_blob_put(b, ID1, "content", "c", 1, STORE_UNFENCED) == 0 &&
              store_blob_exists(a, ID1, "content"),
          "a sees b's blob");

    store_fence fa = 0, fb = 0;
    rec.state = JOB_RUNNING;
    CHECK(store_claim(a, &rec, &fa) == 0, "a claims");
    CHECK(store_claim(b, &rec, &fb) == -EBUSY, "b claims a's job");
    rec.state = JOB_QUEUED;
    CHECK(store_record_put(a, &rec, fa) == 0, "a requeues");
    rec.state = JOB_RUNNING;
    CHECK(store_claim(b, &rec, &fb) == 0 && fb > fa, "b claims: %llu after %llu", fb, fa);
    CHECK(store_blob_put(a, ID1, "preview.png", "old", 3, fa) == -ESTALE, "a's old-token blob");
    CHECK(store_blob_remove(a, ID1, "content", fa) == -ESTALE, "a's old-token remove");
    rec.state = JOB_SUCCEEDED;
    CHECK(store_record_put(a, &rec, fa) == -ESTALE, "a's old-token record");
    CHECK(store_record_put(b, &rec, fb) == 0, "b's record");
    CHECK(store_record_get(a, ID1, &out, &why) == 0 && out.state == JOB_SUCCEEDED, "a reads b's end");
    job_info_free(&out);

    /* a race: both claim the same queued job at once, one wins */
    int wins = 0, busy = 0;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        rec.state = JOB_QUEUED;
        store_record_put(a, &rec, STORE_UNFENCED);
        rec.state = JOB_RUNNING;
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        claimer c[2] = {{.s = a, .rec = rec, .go = &go}, {.s = b, .rec = rec, .go = &go}};
        pthread_t t[2];
        for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, claim_thread, &c[i]);
        for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < 2; i++) {
            wins += c[i].rc == 0;
            busy += c[i].rc == -EBUSY;
        }
    }
    CHECK(wins == RACE_ROUNDS && busy == RACE_ROUNDS, "race: %d wins, %d busy in %d rounds", wins,
          busy, RACE_ROUNDS);
    job_info_free(&rec);
    store_close(a);
    store_close(b);
}

/* ================================================================ a restart */

static void test_reconnect(void)
{
    freeReplyObject(raw("FLUSHALL"));
    store *s = open_store();
    if (!s) return;
    CHECK(store_blob_put(s, ID1, "content", "before", 6, STORE_UNFENCED) == 0, "before the outage");
    server_stop();
    unsigned char *data = NULL;
    size_t len;
    CHECK(store_blob_put(s, ID1, "content", "during", 6, STORE_UNFENCED) == -ENOTCONN, "write in the outage");
    CHECK(store_blob_get(s, ID1, "content", &data, &len) == -ENOTCONN && !data, "read in the outage");
    CHECK(!store_blob_exists(s, ID1, "content"), "exists in the outage");
    CHECK(!store_writable(s), "writable in the outage");
    char **list;
    int n;
    CHECK(store_list(s, &list, &n) == -ENOTCONN, "list in the outage");
    if (server_start() < 0) {
        store_close(s);
        return;
    }
    /* the first call after the restart goes through (no persistence: empty) */
    CHECK(store_blob_get(s, ID1, "content", &data, &len) == -ENOENT, "read after the restart");
    CHECK(store_blob_put(s, ID1, "content", "after", 5, STORE_UNFENCED) == 0, "write after the restart");
    CHECK(store_writable(s), "writable after the restart");

    /* and a restart between two calls on a connection that was up */
    server_stop();
    if (server_start() < 0) {
        store_close(s);
        return;
    }
    CHECK(store_writable(s), "the first call after a quiet restart");
    job_info rec;
    fill_record(&rec, ID2, JOB_QUEUED);
    CHECK(store_record_put(s, &rec, STORE_UNFENCED) == 0, "record after restart");
    server_stop();
    if (server_start() < 0) {
        job_info_free(&rec);
        store_close(s);
        return;
    }
    store_fence f;
    rec.state = JOB_RUNNING;
    CHECK(store_claim(s, &rec, &f) == -ENOENT, "claim after a restart that lost the record");
    job_info_free(&rec);
    store_close(s);
}

int main(void)
{
    redis_server_init("test_store_redis");
    TEST_RUN(test_urls);
    if (port > 0 && server_start() == 0) {
        TEST_RUN(test_open_errors);
        TEST_RUN(test_cases);
        TEST_RUN(test_layout);
        TEST_RUN(test_idem_keys);
        TEST_RUN(test_two_handles);
        TEST_RUN(test_reconnect);
    } else {
        CHECK(0, "no redis-server: the Redis store was not tested");
    }
    redis_server_tidy();
    return TEST_EXIT();
}
