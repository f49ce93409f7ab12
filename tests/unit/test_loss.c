/*
 * test_loss.c — Gram matrices and the three losses of loss.h against plain
 * double-precision references written here: the Gram matrix is symmetric and
 * equals F Fᵀ / M; each loss's value matches its formula, its gradient
 * matches central finite differences of the double reference, and it is
 * added (× weight) into the gradient buffer, not written over it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#define TEST_RNG_SEED 0x243f6a8885a308d3ull
#include "test.h"

static nst_pool *pool; /* see test_with_pools */

/* ------------------------------------------------------------ helpers */


static double *to_double(const float *p, size_t n)
{
    double *d = malloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) d[i] = p[i];
    return d;
}

/* ------------------------------------------------------------ gram */

/* feat (N,M) double, gram (N,N) = F Fᵀ / M. */
static void ref_gram(double *gram, const double *feat, int N, int M)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < M; k++) s += feat[(size_t)i * M + k] * feat[(size_t)j * M + k];
            gram[(size_t)i * N + j] = s / M;
        }
}

static void check_gram(int N, int M)
{
    float *f = rand_floats((size_t)N * M, 1.0), *g = malloc(sizeof(float) * N * N);
    for (int i = 0; i < N * N; i++) g[i] = NAN; /* output only: must be overwritten */
    double *fd = to_double(f, (size_t)N * M), *ref = malloc(sizeof(double) * N * N);
    float *scratch = malloc(sizeof(float) * loss_scratch_floats(N));
    float *alone = malloc(sizeof(float) * N * N);
    gram_compute(g, f, N, M, scratch, pool);
    gram_compute(alone, f, N, M, scratch, NULL);
    CHECK(memcmp(g, alone, sizeof(float) * N * N) == 0,
          "gram N=%d M=%d: the pool's result differs from the caller's thread alone", N, M);
    free(scratch);
    free(alone);
    ref_gram(ref, fd, N, M);
    int asym = 0;
    double worst = 0.0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            asym += g[i * N + j] != g[j * N + i];
            /* entries are O(1/sqrt(M)) off the diagonal: compare against the
             * diagonal scale, which is O(1) */
            worst = fmax(worst, fabs(g[i * N + j] - ref[i * N + j]));
        }
    printf("  gram N=%-3d M=%-5d  max |G - F Fᵀ/M| %.2e\n", N, M, worst);
    CHECK(asym == 0, "gram N=%d M=%d: %d asymmetric entries", N, M, asym);
    CHECK(worst < 1e-5, "gram N=%d M=%d: %g", N, M, worst);
    free(f), free(g), free(fd), free(ref);
}

/* The first five are split by rows, the last three (16 or more positions
 * per channel) by columns, the last with an uneven last piece. */
static void test_gram(void)
{
    check_gram(1, 1);
    check_gram(3, 7);
    check_gram(17, 33);
    check_gram(64, 1000);
    check_gram(130, 257);
    check_gram(3, 50);
    check_gram(5, 200);
    check_gram(64, 4099);
}

/* ------------------------------------------------------------ style */

typedef struct {
    int N, M;
    const double *target; /* (N,N) */
} style_ctx;

static double ref_style(const double *feat, const void *ctx_)
{
    const style_ctx *ctx = ctx_;
    int N = ctx->N;
    double *g = malloc(sizeof(double) * N * N), s = 0.0;
    ref_gram(g, feat, N, ctx->M);
    for (int i = 0; i < N * N; i++) s += (g[i] - ctx->target[i]) * (g[i] - ctx->target[i]);
    free(g);
    return s / (4.0 * N * N);
}

/* Target: a style Gram (symmetric) or, with asym, any matrix. The gradient
 * is taken with weight 1 from zero, then checked to accumulate with weight
 * 2.5 onto a non-zero buffer, and with the ReLU's mask to give exactly that
 * sum zeroed where F ≤ 0. */
static void check_style(int N, int M, int asym, int probes)
{
    size_t nf = (size_t)N * M;
    float *f = rand_floats(nf, 1.0), *a = malloc(sizeof(float) * N * N);
    float *scratch = malloc(sizeof(float) * loss_scratch_floats(N));
    if (asym) {
        for (int i = 0; i < N * N; i++) a[i] = (float)(0.3 * rnd());
    } else {
        float *s = rand_floats((size_t)N * 2 * M, 1.0);
        gram_compute(a, s, N, 2 * M, scratch, pool);
        free(s);
    }
    float *g = calloc(nf, sizeof(float)), *acc = rand_floats(nf, 1.0);
    float *base = malloc(sizeof(float) * nf);
    memcpy(base, acc, sizeof(float) * nf);

    float *diff = malloc(sizeof(float) * N * N);
    double e = style_loss(diff, f, a, N, M, scratch, pool);
    float *masked = malloc(sizeof(float) * nf);
    memcpy(masked, acc, sizeof(float) * nf);
    style_grad(g, 1.0f, f, diff, N, M, 0, scratch, pool);
    style_grad(acc, 2.5f, f, diff, N, M, 0, scratch, pool);
    style_grad(masked, 2.5f, f, diff, N, M, 1, scratch, pool);
    double *fd = to_double(f, nf), *ad = to_double(a, (size_t)N * N);
    style_ctx ctx = {N, M, ad};
    double ref = ref_style(fd, &ctx);
    double worst = test_fd_worst(ref_style, &ctx, fd, g, nf, probes, 1e-4);
    double accum = 0.0, gmax = 0.0;
    for (size_t i = 0; i < nf; i++) gmax = fmax(gmax, fabs(g[i]));
    int unmasked = 0;
    for (size_t i = 0; i < nf; i++) {
        accum = fmax(accum, fabs(acc[i] - (base[i] + 2.5 * g[i])) / (1.0 + 2.5 * gmax));
        unmasked += masked[i] != (f[i] > 0.0f ? acc[i] : 0.0f);
    }
    printf("  style N=%-3d M=%-4d %s  E %.6g (ref %.6g)  fd worst rel diff %.2e\n", N, M,
           asym ? "asymmetric A" : "gram A      ", e, ref, worst);
    CHECK(test_rel_diff(e, ref, 1e-12) < 1e-5, "style value %.9g vs %.9g", e, ref);
    CHECK(worst < 1e-3, "style finite differences: %g", worst);
    CHECK(accum < 1e-6, "style gradient does not accumulate: %g", accum);
    CHECK(unmasked == 0, "%d elements differ from the sum masked by F > 0", unmasked);
    free(f), free(a), free(scratch), free(diff), free(g), free(acc), free(masked), free(base),
        free(fd), free(ad);
}

static void test_style_loss(void)
{
    check_style(1, 1, 0, 0);
    check_style(4, 9, 0, 0);
    check_style(5, 6, 1, 0);
    check_style(16, 25, 0, 0);
    check_style(64, 49, 0, 200);
    check_style(4, 100, 0, 0); /* the Gram split by columns */
    check_style(13, 1000, 0, 0); /* the gradient in 16 pieces */
}

/* ------------------------------------------------------------ content */

typedef struct {
    const double *target;
    size_t n;
} content_ctx;

static double ref_content(const double *feat, const void *ctx_)
{
    const content_ctx *ctx = ctx_;
    double s = 0.0;
    for (size_t i = 0; i < ctx->n; i++) {
        double d = feat[i] - ctx->target[i];
        s += d * d;
    }
    return 0.5 * s;
}

static void test_content_loss(void)
{
    enum { N = 500 };
    float *f = rand_floats(N, 1.0), *p = rand_floats(N, 1.0), *g = calloc(N, sizeof(float));
    float *acc = rand_floats(N, 1.0), base[N];
    memcpy(base, acc, sizeof base);
    double l = content_loss(f, p, N);
    content_grad(g, 1.0f, f, p, N);
    content_grad(acc, -0.75f, f, p, N);
    double *fd = to_double(f, N), *pd = to_double(p, N);
    content_ctx ctx = {pd, N};
    double ref = ref_content(fd, &ctx), worst = test_fd_worst(ref_content, &ctx, fd, g, N, 0, 1e-3);
    double accum = 0.0;
    for (int i = 0; i < N; i++) accum = fmax(accum, fabs(acc[i] - (base[i] - 0.75 * g[i])));
    printf("  content L %.6g (ref %.6g)  fd worst rel diff %.2e\n", l, ref, worst);
    CHECK(test_rel_diff(l, ref, 1e-12) < 1e-6, "content value %.9g vs %.9g", l, ref);
    CHECK(worst < 1e-4, "content finite differences: %g", worst);
    CHECK(accum < 1e-6, "content gradient does not accumulate: %g", accum);
    free(f), free(p), free(g), free(acc), free(fd), free(pd);
}

/* ------------------------------------------------------------ tv */

typedef struct {
    int C, H, W;
} tv_ctx;

static double ref_tv(const double *x, const void *ctx_)
{
    const tv_ctx *s = ctx_;
    double t = 0.0;
    for (int c = 0; c < s->C; c++)
        for (int y = 0; y < s->H; y++)
            for (int i = 0; i < s->W; i++) {
                const double *p = x + ((size_t)c * s->H + y) * s->W + i;
                if (i + 1 < s->W) t += (p[1] - p[0]) * (p[1] - p[0]);
                if (y + 1 < s->H) t += (p[s->W] - p[0]) * (p[s->W] - p[0]);
            }
    return t;
}

static void check_tv(int C, int H, int W)
{
    size_t n = (size_t)C * H * W;
    float *x = rand_floats(n, 1.0), *g = calloc(n, sizeof(float)), *acc = rand_floats(n, 1.0);
    float *base = malloc(sizeof(float) * n);
    memcpy(base, acc, sizeof(float) * n);
    double t = tv_loss(x, C, H, W);
    tv_grad(g, 1.0f, x, C, H, W);
    tv_grad(acc, 3.0f, x, C, H, W);
    double *xd = to_double(x, n);
    tv_ctx ctx = {C, H, W};
    double ref = ref_tv(xd, &ctx), worst = test_fd_worst(ref_tv, &ctx, xd, g, n, 0, 1e-3);
    double accum = 0.0;
    for (size_t i = 0; i < n; i++) accum = fmax(accum, fabs(acc[i] - (base[i] + 3.0 * g[i])));
    printf("  tv C=%d H=%-2d W=%-2d  T %.6g (ref %.6g)  fd worst rel diff %.2e\n", C, H, W, t,
           ref, worst);
    CHECK(test_rel_diff(t, ref, 1e-12) < 1e-6, "tv value %.9g vs %.9g", t, ref);
    CHECK(worst < 1e-4, "tv finite differences: %g", worst);
    CHECK(accum < 1e-5, "tv gradient does not accumulate: %g", accum);
    free(x), free(g), free(acc), free(base), free(xd);
}

static void test_tv_loss(void)
{
    check_tv(3, 7, 9);
    check_tv(1, 1, 5);
    check_tv(2, 6, 1);
    check_tv(1, 1, 1);
    check_tv(3, 16, 16);
}

static void suite(void)
{
    TEST_RUN(test_gram);
    TEST_RUN(test_style_loss);
    TEST_RUN(test_content_loss);
    TEST_RUN(test_tv_loss);
}

int main(void)
{
    test_with_pools(&pool, suite);
    return TEST_EXIT();
}
