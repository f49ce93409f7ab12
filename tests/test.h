/*
 * test.h — the few assertions the C tests use. A failed check prints its
 * place and message and counts; a test program returns the count of
 * failures (0: passed), which is what ctest reads.
 */
#ifndef NST_TEST_H
#define NST_TEST_H

#include <math.h>
#include <stdio.h>

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

#endif
