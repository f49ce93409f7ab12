/*
 * pool.c — the engine's worker threads (see pool.h).
 *
 * A run: the caller publishes fn and arg, bumps a generation number and
 * runs part 0; each worker runs its part and counts `pending` down; the
 * caller waits for it to reach zero. Between runs a thread first spins a
 * short while on the generation (or on `pending`), then sleeps on a
 * condition variable. The spin is bounded (POOL_SPIN pauses, some tens of
 * microseconds): long enough to catch the next run of a convolution, whose
 * steps follow each other within microseconds, too short to take a core
 * from anything else for long. Sleeping at once cost a futex wake-up and a
 * wait on every run, about 500 runs per evaluation at 512 px.
 *
 * No wake-up is lost: a thread re-checks the state under the mutex before
 * it waits, and the other side changes the state before it takes the mutex
 * to broadcast or signal.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "pool.h"

void openblas_set_num_threads(int n);

/* Pauses a waiting thread spins before it sleeps. */
#ifndef POOL_SPIN
#define POOL_SPIN 4000
#endif

struct nst_pool {
    int threads;             /* counting the caller's */
    int started;             /* workers running */
    pthread_t *tid;
    pthread_mutex_t lock;
    pthread_cond_t go, done;
    atomic_ulong generation; /* bumped by each run */
    atomic_int pending;      /* workers yet to finish this run */
    atomic_int quit;
    nst_pool_fn fn;          /* published before generation is bumped */
    void *arg;
};

typedef struct {
    nst_pool *pool;
    int part;
} worker_arg;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* The next generation after `seen`, or 0 when the pool is quitting. */
static unsigned long next_run(nst_pool *pool, unsigned long seen)
{
    for (int i = 0; i < POOL_SPIN; i++) {
        unsigned long g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (atomic_load(&pool->quit)) return 0;
        if (g != seen) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&pool->lock);
    unsigned long g;
    while ((g = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->quit))
        pthread_cond_wait(&pool->go, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
    return atomic_load(&pool->quit) ? 0 : g;
}

static void *worker(void *p)
{
    worker_arg *w = p;
    nst_pool *pool = w->pool;
    int part = w->part;
    free(w);
    unsigned long seen = 0;
    while ((seen = next_run(pool, seen)) != 0) {
        pool->fn(pool->arg, part, pool->threads);
        if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->lock);
        }
    }
    return NULL;
}

nst_pool *nst_pool_create(int threads)
{
    if (threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (int)cores : 1;
    }
    openblas_set_num_threads(1);
    nst_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->threads = threads;
    pool->tid = calloc((size_t)threads, sizeof *pool->tid);
    if (!pool->tid) {
        free(pool);
        return NULL;
    }
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->quit, 0);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->go, NULL);
    pthread_cond_init(&pool->done, NULL);
    for (int k = 1; k < threads; k++) {
        worker_arg *w = malloc(sizeof *w);
        if (w) *w = (worker_arg){pool, k};
        if (!w || pthread_create(&pool->tid[k], NULL, worker, w) != 0) {
            free(w);
            nst_pool_free(pool);
            return NULL;
        }
        pool->started++;
    }
    return pool;
}

void nst_pool_free(nst_pool *pool)
{
    if (!pool) return;
    atomic_store(&pool->quit, 1);
    pthread_mutex_lock(&pool->lock);
    pthread_cond_broadcast(&pool->go);
    pthread_mutex_unlock(&pool->lock);
    for (int k = 1; k <= pool->started; k++) pthread_join(pool->tid[k], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->go);
    pthread_cond_destroy(&pool->done);
    free(pool->tid);
    free(pool);
}

int nst_pool_threads(const nst_pool *pool) { return pool ? pool->threads : 1; }

void nst_pool_run(nst_pool *pool, nst_pool_fn fn, void *arg)
{
    if (!pool || pool->threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->pending, pool->threads - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_mutex_lock(&pool->lock);      /* for the workers already asleep */
    pthread_cond_broadcast(&pool->go);
    pthread_mutex_unlock(&pool->lock);
    fn(arg, 0, pool->threads);
    for (int i = 0; i < POOL_SPIN; i++) {
        if (atomic_load_explicit(&pool->pending, memory_order_acquire) == 0) return;
        cpu_relax();
    }
    pthread_mutex_lock(&pool->lock);
    while (atomic_load_explicit(&pool->pending, memory_order_acquire) > 0)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}

/* A run of nst_pool_for: every thread takes pieces until none is left. */
typedef struct {
    nst_pool_range_fn fn;
    void *arg;
    size_t n, grain;
    atomic_size_t next; /* first item of the next piece */
} pool_for;

static void pool_for_part(void *p, int part, int parts)
{
    pool_for *f = p;
    (void)parts;
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&f->next, f->grain, memory_order_relaxed);
        if (i >= f->n) return;
        f->fn(f->arg, part, i, f->n - i > f->grain ? i + f->grain : f->n);
    }
}

void nst_pool_for(nst_pool *pool, size_t n, size_t grain, nst_pool_range_fn fn, void *arg)
{
    if (n == 0) return;
    pool_for f = {.fn = fn, .arg = arg, .n = n, .grain = grain ? grain : 1};
    atomic_init(&f.next, 0);
    nst_pool_run(pool, pool_for_part, &f);
}
