/*
 * store_redis.c — the Redis store (store.h): jobs kept in one Redis
 * database that several nstd processes can share, with the disk store's
 * semantics (records, fenced writes, claims, blobs, removal, listing).
 *
 * Keys, all under "nstd:":
 *   nstd:job:<id>          HASH, the record: one hash field per stored field
 *                          of job_fields[] (its record key, e.g. "loss/total"),
 *                          values as text (numbers %.17g, bools 1/0, the state
 *                          by name, params as JSON text), a JOB_R_LOSS or
 *                          JOB_R_ERROR field only when job_to_json has it;
 *                          plus "fence" (the job's fencing token, 0 before its
 *                          first claim) and "claim" (the last claim's nonce)
 *   nstd:blobs:<id>        SET, the names of the job's blobs
 *   nstd:blob:<id>:<name>  STRING, a blob's bytes
 *   nstd:jobs              ZSET, every job's id scored by its record's seq
 *                          (0 while the job has only blobs): the listing
 *   nstd:idem:<owner>:<key>  the job an idempotency key created
 *                          (store_redis_idem.c); it shares its job's expiry
 *
 * Atomicity: each write is one Lua script (scripts below), so the fence
 * check and the write, or a claim's check, new token and record, happen in
 * one step for every process on the database.
 *
 * Not here: the connection (store_redis_conn.c), the URL
 * (store_redis_url.c), the record as hash fields (store_redis_record.c),
 * expiry, TLS, Redis Cluster (a removal deletes blob keys it finds in the
 * job's set, not ones it declares).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "store.h"
#include "store_redis_conn.h"
#include "store_redis_record.h"
#include "store_redis_url.h"

#define KEY_MAX REDIS_KEY_MAX

/* ================================================================ scripts */

/* Every fenced script starts so. KEYS[1] = the job's hash, ARGV[1] = the
 * writer's token, "0" for an unfenced write; cur = the job's token. */
#define FENCE_CHECK                                                              \
    "local cur = redis.call('HGET', KEYS[1], 'fence') or '0'\n"                  \
    "if ARGV[1] ~= '0' and cur ~= ARGV[1] then return redis.error_reply('NSTD_STALE') end\n"

/* What the record scripts share. ARGV: [1] token or nonce, [2] id, [3] seq,
 * [4] the script's own argument, then field, value pairs. field(name) is a
 * pair's value; settle(id, state, ttl) keeps the sets of queued and
 * running ids, makes a finished job's keys expire after ttl seconds (0:
 * never) and an unfinished one's persist, and announces the change. */
#define RECORD_HELPERS                                                                 \
    "local function field(name)\n"                                                     \
    "  for i = 5, #ARGV, 2 do if ARGV[i] == name then return ARGV[i + 1] end end\n"    \
    "end\n"                                                                            \
    "local function settle(id, st, ttl)\n"                                             \
    "  if st == 'queued' then redis.call('SADD', 'nstd:queued', id)\n"                 \
    "  else redis.call('SREM', 'nstd:queued', id) end\n"                               \
    "  if st == 'running' then redis.call('SADD', 'nstd:running', id)\n"               \
    "  else redis.call('SREM', 'nstd:running', id) end\n"                              \
    "  local final = st == 'succeeded' or st == 'failed' or st == 'canceled'\n"        \
    "  local keys = {'nstd:job:' .. id, 'nstd:blobs:' .. id}\n"                        \
    "  for _, n in ipairs(redis.call('SMEMBERS', keys[2])) do\n"                       \
    "    keys[#keys + 1] = 'nstd:blob:' .. id .. ':' .. n\n"                           \
    "  end\n"                                                                          \
    REDIS_IDEM_KEY_OF("keys[1]", "id", "keys")                                         \
    "  for _, k in ipairs(keys) do\n"                                                  \
    "    if final and tonumber(ttl) > 0 then redis.call('EXPIRE', k, ttl)\n"           \
    "    else redis.call('PERSIST', k) end\n"                                          \
    "  end\n"                                                                          \
    "  redis.call('PUBLISH', '" REDIS_CHANNEL "', id)\n"                               \
    "end\n"

/* KEYS: job hash, nstd:jobs. ARGV[4]: seconds a finished job is kept.
 * Replaces the record, keeping the token; lists the job by seq. An
 * unfenced write that ends a running job (a cancel) takes it from its
 * worker: the token moves on, so the worker's next write is refused. */
static const char record_put_lua[] =
    FENCE_CHECK RECORD_HELPERS
    "local st = field('state')\n"
    "if ARGV[1] == '0' and st ~= 'running' and redis.call('HGET', KEYS[1], 'state') == 'running' then\n"
    "  cur = tostring(tonumber(cur) + 1)\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'fence', cur, unpack(ARGV, 5))\n"
    "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])\n"
    "settle(ARGV[2], st, ARGV[4])\n"
    "return 1\n";

/* KEYS: job hash, nstd:jobs. ARGV[1]: the claim's nonce; ARGV[4]: "1" to
 * take over a running job (whose worker lost its lease). NSTD_NOENT
 * without a record, NSTD_BUSY unless it is queued (or running, taking
 * over), or already taken by this very claim (its token again); else the
 * next token, the running record and the nonce, returning the token. */
static const char claim_lua[] =
    RECORD_HELPERS
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NSTD_NOENT') end\n"
    "local was = redis.call('HGET', KEYS[1], 'state')\n"
    "if was ~= 'queued' and not (ARGV[4] == '1' and was == 'running') then\n"
    "  if redis.call('HGET', KEYS[1], 'claim') == ARGV[1] then\n"
    "    return tonumber(redis.call('HGET', KEYS[1], 'fence'))\n"
    "  end\n"
    "  return redis.error_reply('NSTD_BUSY')\n"
    "end\n"
    "local f = redis.call('HINCRBY', KEYS[1], 'fence', 1)\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'fence', f, 'claim', ARGV[1], unpack(ARGV, 5))\n"
    "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])\n"
    "settle(ARGV[2], field('state'), 0)\n"
    "return f\n";

/* KEYS: job hash, nstd:jobs, the queue stream. ARGV[4]: the most queued
 * jobs (0: any). Creates a queued job: NSTD_FULL when the queue holds
 * ARGV[4] jobs; else the next seq, the record with it, and the job's
 * entry in the queue, returning the seq. */
static const char enqueue_lua[] =
    RECORD_HELPERS REDIS_ENSURE_GROUP(3)
    "local limit = tonumber(ARGV[4])\n"
    "if limit > 0 and redis.call('SCARD', 'nstd:queued') >= limit then\n"
    "  return redis.error_reply('NSTD_FULL')\n"
    "end\n"
    "local seq = redis.call('INCR', 'nstd:seq')\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'fence', 0, unpack(ARGV, 5))\n"
    "redis.call('HSET', KEYS[1], 'seq', seq)\n"
    "redis.call('ZADD', KEYS[2], seq, ARGV[2])\n"
    "redis.call('XADD', KEYS[3], '*', 'job', ARGV[2])\n"
    "settle(ARGV[2], 'queued', 0)\n"
    "return seq\n";

/* KEYS: job hash, blob, blob set, nstd:jobs. ARGV: token, bytes, name, id.
 * Lists a job that has no record yet with score 0, and makes the blobs of
 * such a job expire after ORPHAN_TTL_S unless its record comes (settle
 * makes them persist): a submit whose process died leaves nothing behind. */
#define ORPHAN_TTL_S "3600"
static const char blob_put_lua[] =
    FENCE_CHECK
    "redis.call('SET', KEYS[2], ARGV[2])\n"
    "redis.call('SADD', KEYS[3], ARGV[3])\n"
    "redis.call('ZADD', KEYS[4], 'NX', 0, ARGV[4])\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then\n"   /* a submit's input: kept a while */
    "  redis.call('EXPIRE', KEYS[2], " ORPHAN_TTL_S ")\n"
    "  redis.call('EXPIRE', KEYS[3], " ORPHAN_TTL_S ")\n"
    "end\n"
    "return 1\n";

/* KEYS: job hash, blob, blob set. ARGV: token, name. */
static const char blob_remove_lua[] =
    FENCE_CHECK
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('SREM', KEYS[3], ARGV[2])\n"
    "return 1\n";

/* KEYS: job hash, blob set, nstd:jobs. ARGV: id, the blob keys' prefix.
 * Removes the binding of the job's idempotency key too. */
static const char job_remove_lua[] =
    "local idem = {}\n"
    REDIS_IDEM_KEY_OF("KEYS[1]", "ARGV[1]", "idem")
    "for _, k in ipairs(idem) do redis.call('DEL', k) end\n"
    "for _, n in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('DEL', ARGV[2] .. n) end\n"
    "redis.call('DEL', KEYS[1], KEYS[2])\n"
    "redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "redis.call('SREM', 'nstd:queued', ARGV[1])\n"
    "redis.call('SREM', 'nstd:running', ARGV[1])\n"
    "redis.call('PUBLISH', '" REDIS_CHANNEL "', ARGV[1])\n"
    "return 1\n";

/* ================================================================ keys */

#define JOBS_KEY REDIS_JOBS_KEY

static void key_job(char *buf, const char *id) { redis_key_job(buf, id); }
static void key_blobs(char *buf, const char *id) { snprintf(buf, KEY_MAX, "nstd:blobs:%s", id); }
static void key_blob(char *buf, const char *id, const char *name)
{
    snprintf(buf, KEY_MAX, "nstd:blob:%s:%s", id, name);
}

/* ================================================================ open, close, readiness */

static const store_ops redis_ops;

int store_redis_open(store **out, const char *url, char *err, size_t errlen)
{
    *out = NULL;
    redis_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (store_redis_url_parse(url, &s->url, err, errlen) < 0) {
        free(s);
        return -1;
    }
    if (s->url.is_unix) snprintf(s->where, sizeof s->where, "%s", s->url.path);
    else snprintf(s->where, sizeof s->where, "%s:%d", s->url.host, s->url.port);
    s->base.ops = &redis_ops;
    pthread_mutex_init(&s->mu, NULL);
    char why[REDIS_WHY_MAX];
    if (redis_connect(s, why, sizeof why) < 0) {
        snprintf(err, errlen, "Redis store at %s: %s", s->where, why);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return -1;
    }
    *out = &s->base;
    return 0;
}

static void redis_close(store *st)
{
    redis_store *s = RS(st);
    redis_watch_stop(s);
    if (s->c) redisFree(s->c);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int redis_writable(store *st)
{
    redis_store *s = RS(st);
    redis_args a = {0};
    redis_arg_s(&a, "PING");
    pthread_mutex_lock(&s->mu);
    redisReply *r = redis_command(s, &a, "ping");
    int ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r && !ok) redis_log_failure(s, "ping", r->type == REDIS_REPLY_ERROR ? r->str : "not PONG");
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* ================================================================ records */

/* EVAL of a record script (RECORD_HELPERS's ARGV): first is the token or
 * nonce, arg the script's own argument; enqueue_lua also gets the queue's
 * key. *result (may be NULL) gets the script's positive number. */
static int record_script(redis_store *s, const char *lua, const job_info *rec, const char *first,
                         const char *arg, long long *result, const char *what)
{
    if (!job_id_valid(rec->id)) return -EINVAL;
    store_redis_fields t;
    int rc = store_redis_fields_of(rec, &t);
    if (rc < 0) return rc;
    int queue = lua == enqueue_lua;
    char job[KEY_MAX], seq[32];
    key_job(job, rec->id);
    snprintf(seq, sizeof seq, "%lu", rec->seq);
    redis_args a = {0};
    redis_arg_s(&a, "EVAL");
    redis_arg_s(&a, lua);
    redis_arg_s(&a, queue ? "3" : "2");
    redis_arg_s(&a, job);
    redis_arg_s(&a, JOBS_KEY);
    if (queue) redis_arg_s(&a, REDIS_QUEUE_KEY);
    redis_arg_s(&a, first);
    redis_arg_s(&a, rec->id);
    redis_arg_s(&a, seq);
    redis_arg_s(&a, arg);
    for (int i = 0; i < t.n; i++) {
        redis_arg_s(&a, t.key[i]);
        redis_arg_s(&a, t.val[i]);
    }
    pthread_mutex_lock(&s->mu);
    redisReply *r = redis_command(s, &a, what);
    rc = redis_reply_status(s, r, what);
    if (rc == 0 && result) {
        if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
            *result = r->integer;
        } else {
            redis_log_failure(s, what, "the script answered no number");
            rc = -EIO;
        }
    }
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    store_redis_fields_free(&t);
    return rc;
}

static int redis_record_put(store *st, const job_info *rec, store_fence fence)
{
    char token[32], ttl[32];
    snprintf(token, sizeof token, "%llu", fence);
    snprintf(ttl, sizeof ttl, "%d", RS(st)->retention);
    return record_script(RS(st), record_put_lua, rec, token, ttl, NULL, "record_put");
}

static int claim(store *st, const job_info *running, store_fence *fence, const char *takeover)
{
    char nonce[JOB_ID_LEN + 1];
    job_id_new(nonce);
    long long token = 0;
    int rc = record_script(RS(st), claim_lua, running, nonce, takeover, &token, "claim");
    if (rc == 0) *fence = (store_fence)token;
    return rc;
}

static int redis_claim(store *st, const job_info *running, store_fence *fence)
{
    return claim(st, running, fence, "0");
}

static int redis_take_over(store *st, const job_info *running, store_fence *fence)
{
    return claim(st, running, fence, "1");
}

static int redis_enqueue(store *st, job_info *rec, int limit)
{
    char most[32];
    snprintf(most, sizeof most, "%d", limit);
    long long seq = 0;
    int rc = record_script(RS(st), enqueue_lua, rec, "0", most, &seq, "enqueue");
    if (rc == 0) rec->seq = (unsigned long)seq;
    return rc;
}

/* The hash's fields as the JSON record job_from_json reads. */
static cJSON *record_decode(const redisReply *r)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i + 1 < r->elements; i += 2)
        store_redis_field_json(o, r->element[i]->str, r->element[i + 1]->str);
    return o;
}

static int redis_record_get(store *st, const char *id, job_info *out, const char **why)
{
    redis_store *s = RS(st);
    memset(out, 0, sizeof *out);
    *why = NULL;
    if (!job_id_valid(id)) return -EINVAL;
    char job[KEY_MAX];
    key_job(job, id);
    redis_args a = {0};
    redis_arg_s(&a, "HGETALL");
    redis_arg_s(&a, job);
    pthread_mutex_lock(&s->mu);
    redisReply *r = redis_command(s, &a, "record_get");
    int rc = redis_reply_status(s, r, "record_get");
    cJSON *o = NULL;
    if (rc == 0 && r->type != REDIS_REPLY_ARRAY) rc = -EIO;
    if (rc == 0 && r->elements == 0) rc = -ENOENT;
    if (rc == 0 && !(o = record_decode(r))) rc = -ENOMEM;
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    if (rc < 0) return rc;
    rc = job_from_json(o, out, why) == 0 && strcmp(out->id, id) == 0 ? 0 : -EBADMSG;
    if (rc < 0 && !*why) *why = "the record is of another job";
    if (rc < 0) job_info_free(out);
    cJSON_Delete(o);
    return rc;
}

/* ================================================================ blobs */

static int blob_write(store *st, const char *id, const char *name, const void *data, size_t len,
                      store_fence fence, int remove)
{
    if (!job_id_valid(id) || !store_name_valid(name)) return -EINVAL;
    char job[KEY_MAX], blob[KEY_MAX], blobs[KEY_MAX], token[32];
    key_job(job, id);
    key_blob(blob, id, name);
    key_blobs(blobs, id);
    snprintf(token, sizeof token, "%llu", fence);
    redis_args a = {0};
    redis_arg_s(&a, "EVAL");
    redis_arg_s(&a, remove ? blob_remove_lua : blob_put_lua);
    redis_arg_s(&a, remove ? "3" : "4");
    redis_arg_s(&a, job);
    redis_arg_s(&a, blob);
    redis_arg_s(&a, blobs);
    if (!remove) redis_arg_s(&a, JOBS_KEY);
    redis_arg_s(&a, token);
    if (!remove) redis_arg(&a, len ? data : "", len);
    redis_arg_s(&a, name);
    if (!remove) redis_arg_s(&a, id);
    return redis_run(RS(st), &a, remove ? "blob_remove" : "blob_put");
}

static int redis_blob_put(store *st, const char *id, const char *name, const void *data,
                          size_t len, store_fence fence)
{
    return blob_write(st, id, name, data, len, fence, 0);
}

static int redis_blob_remove(store *st, const char *id, const char *name, store_fence fence)
{
    return blob_write(st, id, name, NULL, 0, fence, 1);
}

static int redis_blob_get(store *st, const char *id, const char *name, unsigned char **data,
                          size_t *len)
{
    redis_store *s = RS(st);
    *data = NULL;
    *len = 0;
    if (!job_id_valid(id) || !store_name_valid(name)) return -EINVAL;
    char blob[KEY_MAX];
    key_blob(blob, id, name);
    redis_args a = {0};
    redis_arg_s(&a, "GET");
    redis_arg_s(&a, blob);
    pthread_mutex_lock(&s->mu);
    redisReply *r = redis_command(s, &a, "blob_get");
    int rc = redis_reply_status(s, r, "blob_get");
    if (rc == 0 && r->type == REDIS_REPLY_NIL) rc = -ENOENT;
    else if (rc == 0 && r->type != REDIS_REPLY_STRING) rc = -EIO;
    if (rc == 0 && !(*data = malloc(r->len + 1))) rc = -ENOMEM;
    if (rc == 0) {
        memcpy(*data, r->str, r->len);
        (*data)[r->len] = 0;
        *len = r->len;
    }
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int redis_blob_exists(store *st, const char *id, const char *name)
{
    redis_store *s = RS(st);
    if (!job_id_valid(id) || !store_name_valid(name)) return 0;
    char blob[KEY_MAX];
    key_blob(blob, id, name);
    redis_args a = {0};
    redis_arg_s(&a, "EXISTS");
    redis_arg_s(&a, blob);
    pthread_mutex_lock(&s->mu);
    redisReply *r = redis_command(s, &a, "blob_exists");
    int yes = redis_reply_status(s, r, "blob_exists") == 0 && r->type == REDIS_REPLY_INTEGER
              && r->integer > 0;
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    return yes;
}

/* ================================================================ whole jobs */

static int redis_job_remove(store *st, const char *id)
{
    if (!job_id_valid(id)) return -EINVAL;
    char job[KEY_MAX], blobs[KEY_MAX], prefix[KEY_MAX];
    key_job(job, id);
    key_blobs(blobs, id);
    key_blob(prefix, id, "");
    redis_args a = {0};
    redis_arg_s(&a, "EVAL");
    redis_arg_s(&a, job_remove_lua);
    redis_arg_s(&a, "3");
    redis_arg_s(&a, job);
    redis_arg_s(&a, blobs);
    redis_arg_s(&a, JOBS_KEY);
    redis_arg_s(&a, id);
    redis_arg_s(&a, prefix);
    return redis_run(RS(st), &a, "job_remove");
}

static int redis_list(store *st, char ***ids, int *n)
{
    redis_store *s = RS(st);
    *ids = NULL;
    *n = 0;
    redis_args a = {0};
    redis_arg_s(&a, "ZRANGE");
    redis_arg_s(&a, JOBS_KEY);
    redis_arg_s(&a, "0");
    redis_arg_s(&a, "-1");
    pthread_mutex_lock(&s->mu);
    redisReply *r = redis_command(s, &a, "list");
    int rc = redis_reply_status(s, r, "list");
    if (rc == 0 && r->type != REDIS_REPLY_ARRAY) rc = -EIO;
    char **list = NULL;
    int count = 0;
    if (rc == 0 && r->elements && !(list = calloc(r->elements, sizeof *list))) rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < r->elements; i++) {
        const char *id = r->element[i]->str;
        if (!id || !job_id_valid(id)) continue;   /* never written by a store */
        if (!(list[count] = strdup(id))) rc = -ENOMEM;
        else count++;
    }
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    if (rc < 0) {
        store_ids_free(list, count);
        return rc;
    }
    *ids = list;
    *n = count;
    return 0;
}

static void redis_set_retention(store *st, int seconds) { RS(st)->retention = seconds; }

static const store_ops redis_ops = {
    .close = redis_close,
    .set_retention = redis_set_retention,
    .enqueue = redis_enqueue,
    .take_over = redis_take_over,
    .take = redis_queue_take,
    .renew = redis_queue_renew,
    .done = redis_queue_done,
    .counts = redis_queue_counts,
    .heartbeat = redis_queue_heartbeat,
    .watch = redis_watch,
    .idem_bind = redis_idem_bind,
    .idem_unbind = redis_idem_unbind,
    .writable = redis_writable,
    .record_put = redis_record_put,
    .record_get = redis_record_get,
    .claim = redis_claim,
    .blob_put = redis_blob_put,
    .blob_get = redis_blob_get,
    .blob_exists = redis_blob_exists,
    .blob_remove = redis_blob_remove,
    .job_remove = redis_job_remove,
    .list = redis_list,
};
