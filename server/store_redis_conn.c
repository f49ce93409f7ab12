/*
 * store_redis_conn.c — the Redis store's connection (see store_redis_conn.h).
 *
 * One hiredis connection, guarded by a mutex (the store is called from
 * several threads). A call that finds the connection broken drops it and
 * tries once more on a new one, so the first call after a server restart
 * succeeds; every write is safe to repeat (a claim carries a nonce, so a
 * repeated claim that had gone through gets its token back). When Redis
 * cannot be reached or answers an error the call returns -EIO and logs one
 * line (store_failed); the next call connects again.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "store_redis_conn.h"

#define CONNECT_TIMEOUT_MS 2000
#define COMMAND_TIMEOUT_MS 10000

void redis_arg(redis_args *a, const void *v, size_t len)
{
    if (a->n >= REDIS_ARGS_MAX) abort();   /* a programming error: the record table outgrew it */
    a->v[a->n] = v;
    a->len[a->n++] = len;
}

void redis_arg_s(redis_args *a, const char *v) { redis_arg(a, v, strlen(v)); }

void redis_log_failure(redis_store *s, const char *what, const char *why)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "store", "redis");
    cJSON_AddStringToObject(f, "server", s->where);
    cJSON_AddStringToObject(f, "what", what);
    cJSON_AddStringToObject(f, "error", why);
    log_event("error", "store_failed", f);
    s->down = 1;
}

/* A command's reply, or NULL; c is left with err set when it broke.
 * SIGPIPE (a write to a closed socket) is held back for the call and
 * dropped, so a lost server cannot end a process that did not ignore it. */
static redisReply *command_once(redisContext *c, const redis_args *a)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    redisReply *r = redisCommandArgv(c, a->n, (const char **)a->v, a->len);
    if (!was_pending) {
        struct timespec zero = {0, 0};
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE)) sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

static redisReply *command_once_s(redisContext *c, const char *a0, const char *a1, const char *a2)
{
    redis_args a = {0};
    redis_arg_s(&a, a0);
    if (a1) redis_arg_s(&a, a1);
    if (a2) redis_arg_s(&a, a2);
    return command_once(c, &a);
}

/* Connect, AUTH and SELECT as the URL says. 0, or -1 with why. */
int redis_connect(redis_store *s, char *why, size_t whylen)
{
    return redis_open_context(&s->url, &s->c, why, whylen);
}

int redis_open_context(const store_redis_url *u, redisContext **out, char *why, size_t whylen)
{
    struct timeval ct = {CONNECT_TIMEOUT_MS / 1000, (CONNECT_TIMEOUT_MS % 1000) * 1000};
    struct timeval rt = {COMMAND_TIMEOUT_MS / 1000, (COMMAND_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = u->is_unix ? redisConnectUnixWithTimeout(u->path, ct)
                                 : redisConnectWithTimeout(u->host, u->port, ct);
    if (!c || c->err) {
        snprintf(why, whylen, "cannot connect: %s", c ? c->errstr : "out of memory");
        redisFree(c);
        return -1;
    }
    redisSetTimeout(c, rt);
    char db[16];
    snprintf(db, sizeof db, "%d", u->db);
    /* PING last: a server that wants a password refuses it without AUTH */
    const char *step[3] = {u->password[0] ? "AUTH" : NULL, u->db ? "SELECT" : NULL, "PING"};
    for (int i = 0; i < 3; i++) {
        if (!step[i]) continue;
        redisReply *r = i == 0   ? command_once_s(c, "AUTH", u->user[0] ? u->user : u->password,
                                                  u->user[0] ? u->password : NULL)
                        : i == 1 ? command_once_s(c, "SELECT", db, NULL)
                                 : command_once_s(c, "PING", NULL, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(why, whylen, "%s refused: %s", step[i], r ? r->str : c->errstr);
            freeReplyObject(r);
            redisFree(c);
            return -1;
        }
        freeReplyObject(r);
    }
    *out = c;
    return 0;
}

/* Run one command under s->mu. A call on a connection that was up before
 * is tried once more on a new connection when it breaks (the server may
 * have restarted since). NULL (logged once) when Redis cannot be reached. */
redisReply *redis_command(redis_store *s, const redis_args *a, const char *what)
{
    char why[REDIS_WHY_MAX] = "";
    for (int attempt = 0; attempt < 2; attempt++) {
        int fresh = 0;
        if (!s->c) {
            if (redis_connect(s, why, sizeof why) < 0) break;
            fresh = 1;
        }
        redisReply *r = command_once(s->c, a);
        if (r) {
            if (s->down) {
                cJSON *f = cJSON_CreateObject();
                cJSON_AddStringToObject(f, "store", "redis");
                cJSON_AddStringToObject(f, "server", s->where);
                log_event("info", "store_reconnected", f);
                s->down = 0;
            }
            return r;
        }
        snprintf(why, sizeof why, "%s", s->c->errstr[0] ? s->c->errstr : "connection lost");
        redisFree(s->c);
        s->c = NULL;
        if (fresh) break;
    }
    if (!s->down) redis_log_failure(s, what, why);   /* once an outage */
    return NULL;
}

/* 0 for a reply that is not an error; the scripts' own errors as errno
 * values; any other error -EIO (logged); no reply -ENOTCONN. */
int redis_reply_status(redis_store *s, const redisReply *r, const char *what)
{
    if (!r) return -ENOTCONN;
    if (r->type != REDIS_REPLY_ERROR) return 0;
    if (strstr(r->str, "NSTD_FULL")) return -EAGAIN;
    if (strstr(r->str, "NSTD_STALE")) return -ESTALE;
    if (strstr(r->str, "NSTD_BUSY")) return -EBUSY;
    if (strstr(r->str, "NSTD_NOENT")) return -ENOENT;
    redis_log_failure(s, what, r->str);
    return -EIO;
}

/* Run a command and keep only its status. */
int redis_run(redis_store *s, const redis_args *a, const char *what)
{
    pthread_mutex_lock(&s->mu);
    redisReply *r = redis_command(s, a, what);
    int rc = redis_reply_status(s, r, what);
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    return rc;
}
