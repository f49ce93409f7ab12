/*
 * pool.h — the engine's worker threads: a fixed set of threads that run one
 * function on every thread at once, each on its own part of the work.
 *
 * Why the engine has threads of its own: a convolution alternates short
 * loops of ours (Winograd transforms, im2col, ReLU, pooling) with GEMMs.
 * With OpenBLAS threading the GEMMs, its idle threads spin in sched_yield
 * through every loop of ours and take a core from it (a quarter of all
 * cycles at 512 px). Here the pool's threads do everything, each calling a
 * single-threaded OpenBLAS on its own GEMMs. Between runs a thread spins
 * only briefly (tens of microseconds, to catch the next step of a
 * convolution) and then sleeps on a condition variable (pool.c).
 *
 * A pool is used by one caller at a time (a net owns one); a NULL pool
 * means "run on the caller's thread only", so every op works without one.
 */
#ifndef NST_POOL_H
#define NST_POOL_H

#include <stddef.h>

typedef struct nst_pool nst_pool;

/* A pool of `threads` threads counting the caller's (threads − 1 are
 * started here); threads ≤ 0 means one per online core. Sets OpenBLAS to
 * one thread for the whole process (the pool's threads call it). NULL when
 * out of memory or threads; the caller then runs with a NULL pool. */
nst_pool *nst_pool_create(int threads);
void nst_pool_free(nst_pool *pool);

/* Threads of the pool, counting the caller's; 1 for NULL. */
int nst_pool_threads(const nst_pool *pool);

/* fn(arg, part, parts) for part = 0 … parts−1, parts = nst_pool_threads,
 * all at once (the caller runs part 0); returns when all have returned. */
typedef void (*nst_pool_fn)(void *arg, int part, int parts);
void nst_pool_run(nst_pool *pool, nst_pool_fn fn, void *arg);

/* fn(arg, part, lo, hi) over the items [0, n) in pieces of grain items (the
 * last may be shorter; grain 0 counts as 1): the pool's threads take the
 * pieces in order, each the next one free when it is done with its last,
 * so a core that runs slower (another process on it, a slower path to
 * memory) takes fewer instead of holding the others up at the end. part is
 * the taking thread's index, for scratch of its own. Returns when every
 * piece is done. */
typedef void (*nst_pool_range_fn)(void *arg, int part, size_t lo, size_t hi);
void nst_pool_for(nst_pool *pool, size_t n, size_t grain, nst_pool_range_fn fn, void *arg);

/* The share [*lo, *hi) of n items that part `part` of `parts` takes: even,
 * contiguous, in order. */
static inline void nst_pool_share(size_t n, int part, int parts, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)part / (size_t)parts;
    *hi = n * (size_t)(part + 1) / (size_t)parts;
}

#endif
