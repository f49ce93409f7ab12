/*
 * ratelimit.c — token buckets per client (see ratelimit.h).
 *
 * Entries live in a hash table (chained, a power-of-two number of chains
 * near max_clients) and in one list ordered by last request, most recent
 * first. A request moves its client to the front; the back holds the
 * clients idle longest, so entries idle for burst / rate seconds (their
 * bucket full again) are dropped from there as requests come in, and at
 * max_clients the last one is reused for a newcomer.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

typedef struct entry {
    netaddr addr;
    double tokens;
    double last;                /* monotonic seconds of the last request */
    long refused;               /* refusals since the last request that went on */
    struct entry *chain;        /* next in the hash chain */
    struct entry *newer, *older;
} entry;

struct ratelimit {
    pthread_mutex_t mu;
    double rate, burst, idle;   /* idle: seconds after which a bucket is full */
    int max_clients, n;
    unsigned mask;              /* chains - 1 */
    entry **chains;
    entry *newest, *oldest;
};

static unsigned hash_of(const netaddr *a)
{
    unsigned h = 2166136261u;   /* FNV-1a */
    for (int i = 0; i < 16; i++) h = (h ^ a->b[i]) * 16777619u;
    return h;
}

int ratelimit_create(ratelimit **out, double rate, int burst, int max_clients)
{
    *out = NULL;
    ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl) return -1;
    unsigned chains = 64;
    while (chains < (unsigned)max_clients && chains < (1u << 24)) chains <<= 1;
    rl->chains = calloc(chains, sizeof *rl->chains);
    if (!rl->chains || pthread_mutex_init(&rl->mu, NULL) != 0) {
        free(rl->chains);
        free(rl);
        return -1;
    }
    rl->mask = chains - 1;
    rl->rate = rate;
    rl->burst = burst;
    rl->idle = burst / rate;
    rl->max_clients = max_clients;
    *out = rl;
    return 0;
}

void ratelimit_free(ratelimit *rl)
{
    if (!rl) return;
    for (entry *e = rl->newest, *next; e; e = next) {
        next = e->older;
        free(e);
    }
    pthread_mutex_destroy(&rl->mu);
    free(rl->chains);
    free(rl);
}

/* ---------------------------------------------------------------- lists (under mu) */

static void list_unlink(ratelimit *rl, entry *e)
{
    if (e->newer) e->newer->older = e->older;
    else rl->newest = e->older;
    if (e->older) e->older->newer = e->newer;
    else rl->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void list_push_front(ratelimit *rl, entry *e)
{
    e->newer = NULL;
    e->older = rl->newest;
    if (rl->newest) rl->newest->newer = e;
    else rl->oldest = e;
    rl->newest = e;
}

static void chain_unlink(ratelimit *rl, entry *e)
{
    for (entry **pp = &rl->chains[hash_of(&e->addr) & rl->mask]; *pp; pp = &(*pp)->chain) {
        if (*pp == e) {
            *pp = e->chain;
            break;
        }
    }
    e->chain = NULL;
}

/* Take the oldest entry out of both lists; the caller frees or reuses it. */
static entry *take_oldest(ratelimit *rl)
{
    entry *e = rl->oldest;
    list_unlink(rl, e);
    chain_unlink(rl, e);
    rl->n--;
    return e;
}

/* ---------------------------------------------------------------- take */

int ratelimit_take(ratelimit *rl, const netaddr *a, double now, long *run)
{
    *run = 0;
    pthread_mutex_lock(&rl->mu);
    while (rl->oldest && now - rl->oldest->last >= rl->idle) free(take_oldest(rl));
    entry **chain = &rl->chains[hash_of(a) & rl->mask];
    entry *e = *chain;
    while (e && memcmp(&e->addr, a, sizeof *a) != 0) e = e->chain;
    if (e) {
        double dt = now > e->last ? now - e->last : 0;
        e->tokens = fmin(rl->burst, e->tokens + dt * rl->rate);
        list_unlink(rl, e);
    } else {
        e = rl->n >= rl->max_clients ? take_oldest(rl) : malloc(sizeof *e);
        if (!e) {   /* out of memory: the request is not limited */
            pthread_mutex_unlock(&rl->mu);
            return 0;
        }
        memset(e, 0, sizeof *e);
        e->addr = *a;
        e->tokens = rl->burst;
        e->last = now;
        e->chain = *chain;
        *chain = e;
        rl->n++;
    }
    if (now > e->last) e->last = now;   /* threads may read the clock out of order */
    list_push_front(rl, e);
    int wait = 0;
    if (e->tokens >= 1) {
        e->tokens -= 1;
        *run = e->refused;
        e->refused = 0;
    } else {
        double s = ceil((1 - e->tokens) / rl->rate);
        wait = s < 1 ? 1 : s > 1e6 ? 1000000 : (int)s;
        *run = ++e->refused;
    }
    pthread_mutex_unlock(&rl->mu);
    return wait;
}

int ratelimit_clients(ratelimit *rl)
{
    pthread_mutex_lock(&rl->mu);
    int n = rl->n;
    pthread_mutex_unlock(&rl->mu);
    return n;
}
