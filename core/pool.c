/*
 * pool.c — the engine's worker threads (see pool.h).
 *
 * One mutex and two condition variables: the caller bumps a generation
 * number and broadcasts `go`; every worker runs its part and the last one
 * to finish signals `done`. A worker that finds no new generation sleeps;
 * nothing spins. A run costs a wake-up and a join, some microseconds, where
 * the parts take milliseconds.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "pool.h"

void openblas_set_num_threads(int n);

struct nst_pool {
    int threads;             /* counting the caller's */
    int started;             /* workers running */
    pthread_t *tid;
    pthread_mutex_t lock;
    pthread_cond_t go, done;
    unsigned long generation; /* bumped by each run */
    int pending;             /* workers yet to finish this run */
    int quit;
    nst_pool_fn fn;
    void *arg;
};

typedef struct {
    nst_pool *pool;
    int part;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    nst_pool *pool = w->pool;
    int part = w->part;
    free(w);
    unsigned long seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->quit && pool->generation == seen) pthread_cond_wait(&pool->go, &pool->lock);
        if (pool->quit) break;
        seen = pool->generation;
        nst_pool_fn fn = pool->fn;
        void *arg = pool->arg;
        pthread_mutex_unlock(&pool->lock);
        fn(arg, part, pool->threads);
        pthread_mutex_lock(&pool->lock);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
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
    pthread_mutex_lock(&pool->lock);
    pool->quit = 1;
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
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->arg = arg;
    pool->pending = pool->threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->go);
    pthread_mutex_unlock(&pool->lock);
    fn(arg, 0, pool->threads);
    pthread_mutex_lock(&pool->lock);
    while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}
