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
} redis_store;

#define RS(s) ((redis_store *)(s))

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

/* Run one command; the caller holds s->mu. A call on a connection that
 * was up before is tried once more on a new connection when it breaks.
 * NULL (logged once) when Redis cannot be reached. */
redisReply *redis_command(redis_store *s, const redis_args *a, const char *what);

/* 0 for a reply that is not an error; a script's own error as -ESTALE,
 * -EBUSY or -ENOENT; any other error -EIO (logged); no reply -EIO. */
int redis_reply_status(redis_store *s, const redisReply *r, const char *what);

/* Run a command under s->mu and keep only its status. */
int redis_run(redis_store *s, const redis_args *a, const char *what);

#endif
