/*
 * store_redis_watch.c — the Redis store's change feed (store_watch): a
 * thread with a connection of its own, subscribed to the channel the
 * record scripts publish every changed job's id on. It reconnects with
 * backoff when Redis goes away, and after every (re)connection tells the
 * caller that changes may have been missed (fn(user, NULL)).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "store_redis_conn.h"

#define POLL_MS 250               /* how often the thread looks at its stop flag */
#define BACKOFF_MIN_MS 100        /* first wait before reconnecting */
#define BACKOFF_MAX_MS 2000       /* longest wait */

struct redis_watcher {
    pthread_t thread;
    atomic_int stop;
    store_change_fn fn;
    void *user;
    redis_store *s;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait ms in POLL_MS steps; 1 when asked to stop meanwhile. */
static int pause_ms(struct redis_watcher *w, int ms)
{
    for (int waited = 0; waited < ms; waited += POLL_MS) {
        if (atomic_load(&w->stop)) return 1;
        sleep_ms(ms - waited < POLL_MS ? ms - waited : POLL_MS);
    }
    return atomic_load(&w->stop);
}

/* A message's job id, or NULL for other replies (the subscription's own). */
static const char *message_id(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) return NULL;
    const redisReply *kind = r->element[0], *data = r->element[2];
    if (kind->type != REDIS_REPLY_STRING || strcmp(kind->str, "message") != 0) return NULL;
    return data->type == REDIS_REPLY_STRING ? data->str : NULL;
}

/* Read messages until the connection breaks or the watcher stops. */
static void listen(struct redis_watcher *w, redisContext *c)
{
    while (!atomic_load(&w->stop)) {
        void *reply = NULL;
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK) return;
        if (reply) {
            const char *id = message_id(reply);
            if (id) w->fn(w->user, id);
            freeReplyObject(reply);
            continue;
        }
        struct pollfd p = {c->fd, POLLIN, 0};
        int n = poll(&p, 1, POLL_MS);
        if (n < 0 && errno != EINTR) return;
        if (n > 0 && redisBufferRead(c) != REDIS_OK) return;
    }
}

static void *watch_main(void *arg)
{
    struct redis_watcher *w = arg;
    int backoff = BACKOFF_MIN_MS;
    while (!atomic_load(&w->stop)) {
        redisContext *c = NULL;
        char why[REDIS_WHY_MAX];
        redisReply *r = NULL;
        if (redis_open_context(&w->s->url, &c, why, sizeof why) == 0) {
            r = redisCommand(c, "SUBSCRIBE %s", REDIS_CHANNEL);
            if (!r || r->type == REDIS_REPLY_ERROR) {
                snprintf(why, sizeof why, "SUBSCRIBE: %s", r ? r->str : c->errstr);
                freeReplyObject(r);
                r = NULL;
            }
        }
        if (r) {
            freeReplyObject(r);
            backoff = BACKOFF_MIN_MS;
            w->fn(w->user, NULL);   /* whatever happened while not subscribed */
            listen(w, c);
        } else {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "store", "redis");
            cJSON_AddStringToObject(f, "server", w->s->where);
            cJSON_AddStringToObject(f, "error", why);
            log_event("warn", "store_watch_failed", f);
        }
        if (c) redisFree(c);
        if (pause_ms(w, backoff)) break;
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return NULL;
}

int redis_watch(store *st, store_change_fn fn, void *user)
{
    redis_store *s = RS(st);
    if (!fn) {
        redis_watch_stop(s);
        return 0;
    }
    if (s->watcher) return -EBUSY;
    struct redis_watcher *w = calloc(1, sizeof *w);
    if (!w) return -ENOMEM;
    w->fn = fn;
    w->user = user;
    w->s = s;
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        free(w);
        return -EAGAIN;
    }
    s->watcher = w;
    return 0;
}

void redis_watch_stop(redis_store *s)
{
    struct redis_watcher *w = s->watcher;
    if (!w) return;
    atomic_store(&w->stop, 1);
    pthread_join(w->thread, NULL);
    free(w);
    s->watcher = NULL;
}
