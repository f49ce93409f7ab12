/*
 * store_redis_queue.c — the Redis store's shared queue (store.h, "the
 * shared queue"): a stream of queued job ids read by one consumer group,
 * leases, and the cluster's counts.
 *
 * Keys, besides those store_redis.c describes:
 *   nstd:queue     STREAM, one entry {job: <id>} per queued job, read by the
 *                  consumer group "workers"; each worker process is a
 *                  consumer. An entry a worker read stays pending (its
 *                  lease) until store_done acknowledges and deletes it.
 *   nstd:queued    SET, ids of queued jobs   } kept by the record scripts
 *   nstd:running   SET, ids of running jobs  } (store_redis.c: settle)
 *   nstd:seq       STRING, the last job's seq
 *   nstd:workers   ZSET, worker processes scored by their last heartbeat
 *
 * A lease is the entry's idle time in the group: store_renew resets it
 * (XCLAIM to the same worker), and an entry idle for longer than the lease
 * is taken over by the next worker that asks (XAUTOCLAIM). Renewing and
 * acknowledging check the job's fencing token in the same script, so a
 * worker that lost its job cannot keep or drop the new owner's entry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "store_redis_conn.h"

/* KEYS: the stream. ARGV: worker, lease ms. {entry, id, taken over 0/1}
 * or nil. */
static const char take_lua[] =
    REDIS_ENSURE_GROUP(1)
    "local c = redis.call('XAUTOCLAIM', KEYS[1], '" REDIS_GROUP "', ARGV[1], ARGV[2], '0-0',"
    " 'COUNT', 1)\n"
    "local e = c[2][1]\n"
    "if e and e[2] then return {e[1], e[2][2], 1} end\n"
    "local r = redis.call('XREADGROUP', 'GROUP', '" REDIS_GROUP "', ARGV[1], 'COUNT', 1,"
    " 'STREAMS', KEYS[1], '>')\n"
    "if r and r[1][2][1] then local x = r[1][2][1]; return {x[1], x[2][2], 0} end\n"
    "return false\n";

/* KEYS: job hash, stream. ARGV: token, worker, entry. */
static const char renew_lua[] =
    "if (redis.call('HGET', KEYS[1], 'fence') or '0') ~= ARGV[1] then\n"
    "  return redis.error_reply('NSTD_STALE')\n"
    "end\n"
    "redis.call('XCLAIM', KEYS[2], '" REDIS_GROUP "', ARGV[2], 0, ARGV[3], 'JUSTID')\n"
    "return 1\n";

/* KEYS: job hash, stream. ARGV: token ("0": unfenced), entry, again 0/1, id. */
static const char done_lua[] =
    "if ARGV[1] ~= '0' and (redis.call('HGET', KEYS[1], 'fence') or '0') ~= ARGV[1] then\n"
    "  return redis.error_reply('NSTD_STALE')\n"
    "end\n"
    "redis.call('XACK', KEYS[2], '" REDIS_GROUP "', ARGV[2])\n"
    "redis.call('XDEL', KEYS[2], ARGV[2])\n"
    "if ARGV[3] == '1' then redis.call('XADD', KEYS[2], '*', 'job', ARGV[4]) end\n"
    "return 1\n";

/* ARGV: alive ms. {queued, running, workers alive}; forgets dead workers. */
static const char counts_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "redis.call('ZREMRANGEBYSCORE', 'nstd:workers', '-inf', now - 10 * tonumber(ARGV[1]))\n"
    "return {redis.call('SCARD', 'nstd:queued'), redis.call('SCARD', 'nstd:running'),"
    " redis.call('ZCOUNT', 'nstd:workers', now - tonumber(ARGV[1]), '+inf')}\n";

/* ARGV: worker, gone 0/1. */
static const char heartbeat_lua[] =
    "if ARGV[2] == '1' then return redis.call('ZREM', 'nstd:workers', ARGV[1]) end\n"
    "local t = redis.call('TIME')\n"
    "return redis.call('ZADD', 'nstd:workers', t[1] * 1000 + math.floor(t[2] / 1000), ARGV[1])\n";

/* EVAL lua with KEYS[1] = the job's hash (when id) and the stream. */
static void eval_start(redis_args *a, const char *lua, const char *id, char *job)
{
    redis_arg_s(a, "EVAL");
    redis_arg_s(a, lua);
    if (id) {
        redis_key_job(job, id);
        redis_arg_s(a, "2");
        redis_arg_s(a, job);
    } else {
        redis_arg_s(a, "1");
    }
    redis_arg_s(a, REDIS_QUEUE_KEY);
}

int redis_queue_take(store *st, const char *worker, int lease_ms, store_task *t)
{
    redis_store *s = RS(st);
    memset(t, 0, sizeof *t);
    char lease[32];
    snprintf(lease, sizeof lease, "%d", lease_ms);
    redis_args a = {0};
    eval_start(&a, take_lua, NULL, NULL);
    redis_arg_s(&a, worker);
    redis_arg_s(&a, lease);
    pthread_mutex_lock(&s->mu);
    redisReply *r = redis_command(s, &a, "take");
    int rc = redis_reply_status(s, r, "take");
    if (rc == 0 && r->type == REDIS_REPLY_NIL) rc = -EAGAIN;
    else if (rc == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
                         r->element[0]->type != REDIS_REPLY_STRING ||
                         r->element[1]->type != REDIS_REPLY_STRING ||
                         r->element[0]->len >= sizeof t->entry))
        rc = -EIO;
    if (rc == 0) {
        snprintf(t->entry, sizeof t->entry, "%s", r->element[0]->str);
        snprintf(t->id, sizeof t->id, "%s", r->element[1]->str);
        t->taken_over = r->element[2]->integer == 1;
    }
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int redis_queue_renew(store *st, const store_task *t, const char *worker, store_fence fence)
{
    char job[REDIS_KEY_MAX], token[32];
    snprintf(token, sizeof token, "%llu", fence);
    redis_args a = {0};
    eval_start(&a, renew_lua, t->id, job);
    redis_arg_s(&a, token);
    redis_arg_s(&a, worker);
    redis_arg_s(&a, t->entry);
    return redis_run(RS(st), &a, "renew");
}

int redis_queue_done(store *st, const store_task *t, store_fence fence, int again)
{
    char job[REDIS_KEY_MAX], token[32];
    snprintf(token, sizeof token, "%llu", fence);
    redis_args a = {0};
    eval_start(&a, done_lua, t->id, job);
    redis_arg_s(&a, token);
    redis_arg_s(&a, t->entry);
    redis_arg_s(&a, again ? "1" : "0");
    redis_arg_s(&a, t->id);
    return redis_run(RS(st), &a, "done");
}

int redis_queue_counts(store *st, int alive_ms, store_counts *c)
{
    redis_store *s = RS(st);
    memset(c, 0, sizeof *c);
    char alive[32];
    snprintf(alive, sizeof alive, "%d", alive_ms);
    redis_args a = {0};
    redis_arg_s(&a, "EVAL");
    redis_arg_s(&a, counts_lua);
    redis_arg_s(&a, "0");
    redis_arg_s(&a, alive);
    pthread_mutex_lock(&s->mu);
    redisReply *r = redis_command(s, &a, "counts");
    int rc = redis_reply_status(s, r, "counts");
    if (rc == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements != 3)) rc = -EIO;
    if (rc == 0) {
        c->queued = r->element[0]->integer;
        c->running = r->element[1]->integer;
        c->workers = r->element[2]->integer;
    }
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int redis_queue_heartbeat(store *st, const char *worker, int gone)
{
    redis_args a = {0};
    redis_arg_s(&a, "EVAL");
    redis_arg_s(&a, heartbeat_lua);
    redis_arg_s(&a, "0");
    redis_arg_s(&a, worker);
    redis_arg_s(&a, gone ? "1" : "0");
    return redis_run(RS(st), &a, "heartbeat");
}
