/*
 * test.h — the few assertions the C tests use. A failed check prints its
 * place and message and counts; a test program returns the count of
 * failures (0: passed), which is what ctest reads.
 */
#ifndef NST_TEST_H
#define NST_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#if __has_include("rng.h") /* the engine's private generator: unit tests only */
#include "rng.h"
#define TEST_HAVE_RNG 1
#endif

static int test_failures_ = 0;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (!(cond)) {                                                           \
            test_failures_++;                                                    \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
        }                                                                        \
    } while (0)

/* |a - b| <= tol * max(1, |b|) */
#define CHECK_CLOSE(a, b, tol)                                                   \
    do {                                                                         \
        double a_ = (a), b_ = (b), t_ = (tol) * fmax(1.0, fabs(b_));            \
        CHECK(fabs(a_ - b_) <= t_, "%s = %.9g, expected %.9g (tol %.3g)", #a, a_, b_, t_); \
    } while (0)

#define TEST_RUN(fn)                                                             \
    do {                                                                         \
        int before_ = test_failures_;                                            \
        fn();                                                                    \
        printf("%-40s %s\n", #fn, test_failures_ == before_ ? "ok" : "FAILED"); \
    } while (0)

#define TEST_EXIT() (test_failures_ ? 1 : 0)

#ifdef NST_POOL_H
/* Runs suite() twice: with *pool NULL (the caller's thread alone), then with
 * a pool of three threads, so shares split unevenly. */
static inline void test_with_pools(nst_pool **pool, void (*suite)(void))
{
    for (int round = 0; round < 2; round++) {
        *pool = round ? nst_pool_create(3) : NULL;
        CHECK(!round || *pool, "cannot start a pool of 3 threads");
        printf("-- on %d thread(s)\n", nst_pool_threads(*pool));
        suite();
        nst_pool_free(*pool);
        *pool = NULL;
    }
}
#endif

#ifdef TEST_HAVE_RNG
/* Reproducible random data: a file may #define TEST_RNG_SEED before
 * including this header to get its own sequence. */
#ifndef TEST_RNG_SEED
#define TEST_RNG_SEED 0x9e3779b97f4a7c15ull
#endif
static uint64_t rng_state __attribute__((unused)) = TEST_RNG_SEED;

/* Uniform in [-1, 1). */
static inline double rnd(void)
{
    return (double)(nst_splitmix64(&rng_state) >> 11) / (double)(1ull << 52) - 1.0;
}

/* n floats uniform in [-scale, scale); caller free()s. */
static inline float *rand_floats(size_t n, double scale)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) p[i] = (float)(scale * rnd());
    return p;
}

/* Relative difference with a floor so near-zero entries compare absolutely. */
static inline double test_rel_diff(double a, double b, double floor)
{
    double den = fabs(a) + fabs(b);
    return fabs(a - b) / (den > floor ? den : floor);
}

/* A loss evaluated in double at x (n values); ctx holds its other inputs. */
typedef double (*test_loss_fn)(const double *x, const void *ctx);

/* Compares grad (n) with central differences of f around x with step h at
 * `probes` random coordinates (all when 0); returns the worst relative
 * difference, floored at 1e-3 of the largest |grad|. x is restored. */
static inline double test_fd_worst(test_loss_fn f, const void *ctx, double *x, const float *grad,
                                   size_t n, int probes, double h)
{
    double gmax = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(grad[i]));
    size_t count = probes ? (size_t)probes : n;
    for (size_t p = 0; p < count; p++) {
        size_t i = probes ? (size_t)((rnd() + 1.0) * 0.5 * n) % n : p;
        double x0 = x[i];
        x[i] = x0 + h;
        double lp = f(x, ctx);
        x[i] = x0 - h;
        double lm = f(x, ctx);
        x[i] = x0;
        worst = fmax(worst, test_rel_diff(grad[i], (lp - lm) / (2 * h), 1e-3 * gmax + 1e-30));
    }
    return worst;
}
#endif

#endif
