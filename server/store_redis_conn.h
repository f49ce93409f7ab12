/*
 * store_redis_conn.h — the Redis store's connection: the store's struct,
 * one command's arguments, and running a command on the one hiredis
 * connection with reconnection, error mapping and failure logging.
 *
 * Private to the Redis store (store_redis.c, store_redis_conn.c). Not
 * here: the URL (store_redis_url.h); the keys, scripts and store_ops
 * (store_redis.c).
 */
#ifndef NSTD_STORE_REDIS_CONN_H
#define NSTD_STORE_REDIS_CONN_H

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#include <hiredis/hiredis.h>

#include "store.h"
#include "store_redis_record.h"
#include "store_redis_url.h"

#define REDIS_ARGS_MAX (8 + 2 * STORE_REDIS_FIELDS_MAX)   /* arguments of one command */
#define REDIS_WHY_MAX 256

typedef struct {
    store base;
    pthread_mutex_t mu;             /* the connection and every call on it */
    redisContext *c;                /* NULL: connect at the next call */
    store_redis_url url;
    char where[300];                /* host:port or the socket, for messages */
    int down;                       /* the last call failed: log the reconnection */
    int retention;                  /* seconds a finished job's keys live (0: always) */
    struct redis_watcher *watcher;  /* the change subscriber (store_redis_watch.c) */
} redis_store;

#define RS(s) ((redis_store *)(s))

/* Keys (store_redis.c describes them). */
#define REDIS_KEY_MAX 160           /* longest key: nstd:blob:<id>:<name> */
#define REDIS_JOBS_KEY "nstd:jobs"
#define REDIS_QUEUE_KEY "nstd:queue"        /* the stream of queued jobs */
#define REDIS_GROUP "workers"               /* its consumer group */
#define REDIS_CHANNEL "nstd:changes"        /* ids of changed jobs are published here */
#define REDIS_IDEM_PREFIX "nstd:idem:"      /* + owner:key, an idempotency key's job */

/* Lua: the binding of the job's idempotency key (store_redis_idem.c) when
 * it is bound to that job, appended to the table `keys`; hash is the job's
 * record, id its id. */
#define REDIS_IDEM_KEY_OF(hash, id, keys)                                                \
    "do\n"                                                                                \
    "  local ik = redis.call('HGET', " hash ", 'idempotency/key')\n"                      \
    "  if ik and ik ~= '' then\n"                                                         \
    "    local k = '" REDIS_IDEM_PREFIX "' .. (redis.call('HGET', " hash ", 'owner') or '')" \
    " .. ':' .. ik\n"                                                                     \
    "    if redis.call('GET', k) == " id " then " keys "[#" keys " + 1] = k end\n"         \
    "  end\n"                                                                             \
    "end\n"

/* Lua: create the queue's stream and group when KEYS[k] (the stream) is
 * missing. */
#define REDIS_ENSURE_GROUP(k)                                                           \
    "if redis.call('EXISTS', KEYS[" #k "]) == 0 then\n"                               \
    "  redis.call('XGROUP', 'CREATE', KEYS[" #k "], '" REDIS_GROUP "', '0', 'MKSTREAM')\n" \
    "end\n"

static inline void redis_key_job(char *buf, const char *id)
{
    snprintf(buf, REDIS_KEY_MAX, "nstd:job:%s", id);
}

/* One command's arguments, pointing into the caller's buffers. */
typedef struct {
    int n;
    const char *v[REDIS_ARGS_MAX];
    size_t len[REDIS_ARGS_MAX];
} redis_args;

/* Append an argument of len bytes; aborts past REDIS_ARGS_MAX. */
void redis_arg(redis_args *a, const void *v, size_t len);
/* Append a string argument. */
void redis_arg_s(redis_args *a, const char *v);

/* Log one store_failed line for what and mark the connection down. */
void redis_log_failure(redis_store *s, const char *what, const char *why);

/* Connect, AUTH and SELECT as s->url says, setting s->c. 0, or -1 with why. */
int redis_connect(redis_store *s, char *why, size_t whylen);
/* The same for a connection of the caller's own (*out), such as a
 * subscriber's. */
int redis_open_context(const store_redis_url *u, redisContext **out, char *why, size_t whylen);

/* Run one command; the caller holds s->mu. A call on a connection that
 * was up before is tried once more on a new connection when it breaks.
 * NULL (logged once) when Redis cannot be reached. */
redisReply *redis_command(redis_store *s, const redis_args *a, const char *what);

/* 0 for a reply that is not an error; a script's own error as -ESTALE,
 * -EBUSY, -ENOENT or -EAGAIN (NSTD_FULL); any other error -EIO (logged);
 * no reply (Redis cannot be reached) -ENOTCONN. */
int redis_reply_status(redis_store *s, const redisReply *r, const char *what);

/* Run a command under s->mu and keep only its status. */
int redis_run(redis_store *s, const redis_args *a, const char *what);

/* The shared queue (store_redis_queue.c) and change feed
 * (store_redis_watch.c): store_ops of store.h. */
int redis_queue_take(store *st, const char *worker, int lease_ms, store_task *t);
int redis_queue_renew(store *st, const store_task *t, const char *worker, store_fence fence);
int redis_queue_done(store *st, const store_task *t, store_fence fence, int again);
int redis_queue_counts(store *st, int alive_ms, store_counts *c);
int redis_queue_heartbeat(store *st, const char *worker, int gone);
int redis_watch(store *st, store_change_fn fn, void *user);
/* Idempotency keys (store_redis_idem.c): store_ops of store.h. */
int redis_idem_bind(store *st, const char *owner, const char *key, const char *id, char *bound);
int redis_idem_unbind(store *st, const char *owner, const char *key, const char *id);
void redis_watch_stop(redis_store *s);

#endif
