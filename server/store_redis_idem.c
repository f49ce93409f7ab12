/*
 * store_redis_idem.c — the Redis store's idempotency keys (store.h,
 * store_idem_bind): which job a client's Idempotency-Key created.
 *
 * Keys, besides those store_redis.c describes:
 *   nstd:idem:<owner>:<key>   STRING, the id of the job the owner's key
 *                             created (owner "" without tokens; an owner
 *                             name has no ':', so the pair is unambiguous)
 *
 * A binding is made with SET NX, so of submits racing with the same key in
 * any number of processes exactly one binds it. It expires after an hour
 * until its job's record exists; from then on the record scripts
 * (store_redis.c: settle) give it the job's lifetime, and removing the job
 * removes it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "store_redis_conn.h"

#define IDEM_KEY_MAX (REDIS_KEY_MAX + 320)   /* the prefix, an owner, a key of 255 */
#define IDEM_ORPHAN_TTL_S "3600"             /* a binding whose job got no record */

static void key_idem(char *buf, const char *owner, const char *key)
{
    snprintf(buf, IDEM_KEY_MAX, REDIS_IDEM_PREFIX "%s:%s", owner ? owner : "", key);
}

/* KEYS: the binding. ARGV: id. The id bound before, or nil when bound now. */
static const char bind_lua[] =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', " IDEM_ORPHAN_TTL_S ") then\n"
    "  return false\n"
    "end\n"
    "return redis.call('GET', KEYS[1])\n";

/* KEYS: the binding. ARGV: id. Deletes it when it is id's. */
static const char unbind_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
    "return 1\n";

int redis_idem_bind(store *st, const char *owner, const char *key, const char *id, char *bound)
{
    redis_store *s = RS(st);
    if (!job_id_valid(id)) return -EINVAL;
    char k[IDEM_KEY_MAX];
    key_idem(k, owner, key);
    redis_args a = {0};
    redis_arg_s(&a, "EVAL");
    redis_arg_s(&a, bind_lua);
    redis_arg_s(&a, "1");
    redis_arg_s(&a, k);
    redis_arg_s(&a, id);
    pthread_mutex_lock(&s->mu);
    redisReply *r = redis_command(s, &a, "idem_bind");
    int rc = redis_reply_status(s, r, "idem_bind");
    if (rc == 0 && r->type == REDIS_REPLY_STRING) {
        snprintf(bound, JOB_ID_LEN + 1, "%s", r->str);
        rc = -EEXIST;
    }
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int redis_idem_unbind(store *st, const char *owner, const char *key, const char *id)
{
    char k[IDEM_KEY_MAX];
    key_idem(k, owner, key);
    redis_args a = {0};
    redis_arg_s(&a, "EVAL");
    redis_arg_s(&a, unbind_lua);
    redis_arg_s(&a, "1");
    redis_arg_s(&a, k);
    redis_arg_s(&a, id);
    return redis_run(RS(st), &a, "idem_unbind");
}
