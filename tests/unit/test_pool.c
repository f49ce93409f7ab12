/*
 * test_pool.c — the engine's worker threads (core/pool.h): every part of
 * every run is executed exactly once and the run returns only after all of
 * them; back-to-back runs (the spinning path) and runs after a pause long
 * enough for the workers to fall asleep (the condition-variable path) both
 * lose no wake-up; a NULL pool and a one-thread pool run inline; shares
 * cover 0 … n−1 in order without gaps or overlaps; nst_pool_for does every
 * item once, in pieces of at most its grain, and a slow thread takes fewer
 * pieces.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool.h"
#include "test.h"

#define MAX_PARTS 8

/* Plain ints, each written by its own part only: the caller reads them
 * after the run, so a sanitizer build also checks that the pool orders the
 * parts' writes before nst_pool_run returns. */
typedef struct {
    int calls[MAX_PARTS];
    int parts_seen;           /* written by part 0 */
} counter;

static void count_part(void *arg, int part, int parts)
{
    counter *c = arg;
    if (part == 0) c->parts_seen = parts;
    if (part < MAX_PARTS) c->calls[part]++;
}

/* Runs that each count their parts; every part exactly once per run, and
 * all of them done when nst_pool_run returns. pause_us > 0 sleeps between
 * runs so the workers give up spinning and wait on the condition variable. */
static void check_runs(int threads, int runs, long pause_us)
{
    nst_pool *pool = nst_pool_create(threads);
    CHECK(pool, "pool of %d threads", threads);
    if (!pool) return;
    CHECK(nst_pool_threads(pool) == threads, "threads %d", nst_pool_threads(pool));
    counter c;
    memset(&c, 0, sizeof c);
    for (int r = 0; r < runs; r++) {
        nst_pool_run(pool, count_part, &c);
        for (int k = 0; k < threads; k++) {
            int n = c.calls[k];
            if (n != r + 1) {
                CHECK(n == r + 1, "%d threads, run %d: part %d ran %d times", threads, r, k, n);
                nst_pool_free(pool);
                return;
            }
        }
        if (pause_us > 0) {
            struct timespec ts = {0, pause_us * 1000};
            nanosleep(&ts, NULL);
        }
    }
    CHECK(c.parts_seen == threads, "parts %d", c.parts_seen);
    nst_pool_free(pool);
}

static void test_back_to_back(void)
{
    check_runs(2, 5000, 0);
    check_runs(3, 5000, 0);
}

static void test_after_sleeping(void)
{
    /* 5 ms between runs: far beyond the spin, so every run wakes sleepers */
    check_runs(2, 100, 5000);
    check_runs(4, 50, 5000);
}

static void test_inline(void)
{
    counter c;
    memset(&c, 0, sizeof c);
    nst_pool_run(NULL, count_part, &c);
    CHECK(c.calls[0] == 1 && c.parts_seen == 1, "NULL pool runs part 0 of 1");
    CHECK(nst_pool_threads(NULL) == 1, "NULL pool has one thread");
    nst_pool *one = nst_pool_create(1);
    CHECK(one && nst_pool_threads(one) == 1, "one-thread pool");
    nst_pool_run(one, count_part, &c);
    CHECK(c.calls[0] == 2 && c.parts_seen == 1, "one-thread pool runs inline");
    nst_pool_free(one);
    nst_pool *dflt = nst_pool_create(0);
    CHECK(dflt && nst_pool_threads(dflt) >= 1, "a pool of one thread per core");
    nst_pool_free(dflt);
}

static void test_shares(void)
{
    static const size_t ns[] = {0, 1, 2, 5, 36, 1000};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
        for (int parts = 1; parts <= 7; parts++) {
            size_t next = 0;
            for (int p = 0; p < parts; p++) {
                size_t lo, hi;
                nst_pool_share(ns[i], p, parts, &lo, &hi);
                CHECK(lo == next && hi >= lo, "n=%zu parts=%d part %d: [%zu,%zu)", ns[i], parts, p,
                      lo, hi);
                CHECK(hi - lo <= ns[i] / parts + 1, "uneven share %zu of %zu", hi - lo, ns[i]);
                next = hi;
            }
            CHECK(next == ns[i], "n=%zu parts=%d: shares end at %zu", ns[i], parts, next);
        }
}

/* nst_pool_for: every item of [0, n) exactly once, in pieces of at most
 * grain items, with each piece's part in range; items are disjoint, so the
 * plain ints are written by one thread each. */
typedef struct {
    int *seen;
    size_t grain;
    int threads;
    int bad;                  /* pieces too large or with a bad part */
    int pieces[MAX_PARTS];    /* per part */
    long sleep_us[MAX_PARTS]; /* a part's delay per piece */
} for_check;

static void for_piece(void *arg, int part, size_t lo, size_t hi)
{
    for_check *f = arg;
    if (part < 0 || part >= f->threads || hi <= lo || hi - lo > f->grain) {
        f->bad = 1; /* racy only when the pool is already broken */
        return;
    }
    for (size_t i = lo; i < hi; i++) f->seen[i]++;
    f->pieces[part]++;
    if (f->sleep_us[part] > 0) {
        struct timespec ts = {0, f->sleep_us[part] * 1000};
        nanosleep(&ts, NULL);
    }
}

static void test_for(void)
{
    static const size_t ns[] = {0, 1, 5, 36, 1000};
    static const size_t grains[] = {0, 1, 7, 2000};
    for (int threads = 0; threads <= 3; threads++) { /* 0: a NULL pool */
        nst_pool *pool = threads ? nst_pool_create(threads) : NULL;
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
            for (size_t g = 0; g < sizeof grains / sizeof *grains; g++) {
                for_check f = {.grain = grains[g] ? grains[g] : 1,
                               .threads = threads ? threads : 1};
                f.seen = calloc(ns[i] + 1, sizeof *f.seen);
                nst_pool_for(pool, ns[i], grains[g], for_piece, &f);
                int once = 1;
                for (size_t k = 0; k < ns[i]; k++) once &= f.seen[k] == 1;
                CHECK(once && !f.bad, "threads %d n=%zu grain %zu: items not each done once",
                      threads, ns[i], grains[g]);
                free(f.seen);
            }
        nst_pool_free(pool);
    }
    /* a part that is slow takes fewer pieces: part 1 sleeps 20 ms per piece */
    nst_pool *pool = nst_pool_create(2);
    for_check f = {.grain = 1, .threads = 2, .sleep_us = {0, 20000}};
    f.seen = calloc(50, sizeof *f.seen);
    nst_pool_for(pool, 50, 1, for_piece, &f);
    printf("  50 pieces: the fast part took %d, the slow part %d\n", f.pieces[0], f.pieces[1]);
    CHECK(f.pieces[0] + f.pieces[1] == 50 && f.pieces[0] > 25, "pieces %d + %d", f.pieces[0],
          f.pieces[1]);
    free(f.seen);
    nst_pool_free(pool);
}

int main(void)
{
    TEST_RUN(test_back_to_back);
    TEST_RUN(test_after_sleeping);
    TEST_RUN(test_inline);
    TEST_RUN(test_shares);
    TEST_RUN(test_for);
    return TEST_EXIT();
}
