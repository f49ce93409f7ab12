/*
 * conv_bench.c — speed of the 3×3 convolution on every VGG19 layer shape at
 * one image size: the im2col path (core/ops.c) against Winograd F(4×4,3×3)
 * (core/winograd.c), forward and backward to the input, next to a single
 * sgemm of the direct convolution's shape.
 *
 * For each layer it prints milliseconds (best of several interleaved runs)
 * and "effective" GFLOP/s, 2·OC·C·9·H·W (the direct convolution's FLOPs)
 * over the time, of: im2col forward and backward, Winograd forward and
 * backward, and raw sgemm with the forward's (OC × 9C)·(9C × HW) shape,
 * the ceiling im2col can approach; then which path conv3x3_forward and
 * conv3x3_backward take, and totals of the dispatched convolutions for the
 * layers a style-transfer evaluation uses (to conv5_1) and for all 16.
 * Not part of CI.
 *
 *   cmake --build build --target nst
 *   cc -O3 -march=native -D_GNU_SOURCE -Icore -Icore/include -I<cblas include> \
 *      bench/conv_bench.c build/libnst.a -lopenblas -lcjson -lstb -lpthread -lm -o conv_bench
 *   [NST_KERNELS=portable|avx2|avx512] ./conv_bench [size=256] [seconds per layer=1] \
 *      [layer name prefix] [threads=cores]
 *
 * Threads: the engine's pool (core/pool.h), each thread calling a one-thread
 * OpenBLAS; the raw sgemm's columns are shared out over the same threads.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layers.h"
#include "ops.h"
#include "winograd.h"

typedef struct {
    int C, OC, H, W;
    const float *x, *w, *b, *dout;
    float *out, *dinp, *scratch, *col;
    nst_pool *pool;
} bench_case;

typedef void (*bench_fn)(bench_case *k);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best time of each of n functions over interleaved rounds (at least 5, and
 * at least `budget` seconds in all, after a warm-up round), so that a burst
 * of load from elsewhere on the machine hits every variant alike. */
static void best_times(const bench_fn *fn, int n, bench_case *k, double budget, double *best)
{
    for (int j = 0; j < n; j++) fn[j](k), best[j] = 1e30;
    double start = now();
    for (int i = 0; i < 5 || now() - start < budget; i++)
        for (int j = 0; j < n; j++) {
            double t = now();
            fn[j](k);
            t = now() - t;
            if (t < best[j]) best[j] = t;
        }
}

static void run_forward(bench_case *k)
{
    conv3x3_forward_im2col(k->out, k->x, k->w, k->b, k->C, k->OC, k->H, k->W, k->scratch, k->pool);
}

static void run_backward(bench_case *k)
{
    conv3x3_backward_im2col(k->dinp, k->dout, k->w, k->C, k->OC, k->H, k->W, k->scratch, k->pool);
}

static void run_wino_forward(bench_case *k)
{
    wino_conv3x3_forward(k->out, k->x, k->w, NULL, k->b, 0, k->C, k->OC, k->H, k->W, k->scratch,
                         k->pool);
}

static void run_wino_backward(bench_case *k)
{
    wino_conv3x3_backward(k->dinp, k->dout, k->w, NULL, k->C, k->OC, k->H, k->W, k->scratch,
                          k->pool);
}

/* One thread's columns of the raw sgemm. */
static void sgemm_part(void *p, int part, int parts)
{
    bench_case *k = p;
    size_t n = (size_t)k->H * k->W, lo, hi;
    int K = 9 * k->C;
    nst_pool_share(n, part, parts, &lo, &hi);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k->OC, (int)(hi - lo), K, 1.0f, k->w,
                K, k->col + lo, (int)n, 0.0f, k->out + lo, (int)n);
}

/* The raw sgemm, its columns shared out over the same threads as the
 * convolutions (OpenBLAS itself runs one thread in each). */
static void run_sgemm_forward(bench_case *k) { nst_pool_run(k->pool, sgemm_part, k); }

/* Which path the dispatching entry points take: ops.c's choice is not
 * exported, so tell it by the result, which matches one path bit for bit. */
static int takes_winograd(bench_case *k, int backward)
{
    size_t n = (size_t)(backward ? k->C : k->OC) * k->H * k->W;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    if (backward) {
        conv3x3_backward(a, k->dout, k->w, NULL, k->C, k->OC, k->H, k->W, k->scratch, k->pool);
        run_wino_backward(k);
        memcpy(b, k->dinp, sizeof(float) * n);
    } else {
        conv3x3_forward(a, k->x, k->w, NULL, k->b, k->C, k->OC, k->H, k->W, k->scratch, k->pool);
        run_wino_forward(k);
        memcpy(b, k->out, sizeof(float) * n);
    }
    int same = memcmp(a, b, sizeof(float) * n) == 0;
    free(a), free(b);
    return same;
}

static float *rand_buf(size_t n)
{
    float *p = malloc(sizeof(float) * n);
    uint32_t s = 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

int main(int argc, char **argv)
{
    int size = argc > 1 ? atoi(argv[1]) : 256;
    double budget = argc > 2 ? atof(argv[2]) : 1.0;
    const char *only = argc > 3 ? argv[3] : "";
    nst_pool *pool = nst_pool_create(argc > 4 ? atoi(argv[4]) : 0);
    printf("3x3 conv at %d px, %d threads; ms and effective GFLOP/s (direct FLOPs / time), "
           "best of runs\n", size, nst_pool_threads(pool));
    printf("%-8s %4s %4s %4s %6s | %15s %15s | %15s %15s | %6s | %s\n", "layer", "C", "OC",
           "H", "scrM", "im2col fwd", "winograd fwd", "im2col bwd", "winograd bwd", "sgemm",
           "uses");
    double used[2][2] = {{0}}, flops_used[2] = {0}; /* [to conv5_1, all][fwd, bwd] */
    double base[2][2] = {{0}};
    int H = size, W = size;
    for (int l = 0; l < NST_NUM_LAYERS; l++) {
        bench_case k = {.C = nst_layers[l].cin, .OC = nst_layers[l].cout, .H = H, .W = W,
                        .pool = pool};
        if (strncmp(nst_layers[l].name, only, strlen(only)) != 0) {
            if (nst_layers[l].pool_after) H /= 2, W /= 2;
            continue;
        }
        size_t plane = (size_t)H * W, K = 9 * (size_t)k.C;
        size_t sc = conv3x3_scratch_floats(k.C, k.OC, H, W);
        size_t sw = wino_scratch_floats(k.C, k.OC, H, W);
        size_t si = (size_t)9 * k.C * W * H; /* enough for any im2col band */
        size_t smax = sc > sw ? sc : sw;
        smax = smax > si ? smax : si;
        k.x = rand_buf(k.C * plane);
        k.w = rand_buf((size_t)k.OC * K);
        k.b = rand_buf(k.OC);
        k.dout = rand_buf(k.OC * plane);
        k.out = malloc(sizeof(float) * k.OC * plane);
        k.dinp = malloc(sizeof(float) * k.C * plane);
        k.scratch = malloc(sizeof(float) * smax);
        k.col = rand_buf(K * plane);
        double flops = 2.0 * k.OC * K * plane;
        static const bench_fn fns[5] = {run_forward, run_wino_forward, run_backward,
                                        run_wino_backward, run_sgemm_forward};
        double t[5];
        best_times(fns, 5, &k, budget, t);
        int wf = takes_winograd(&k, 0), wb = takes_winograd(&k, 1);
        printf("%-8s %4d %4d %4d %6.1f | %6.2f %6.1f/s  %6.2f %6.1f/s | %6.2f %6.1f/s  %6.2f "
               "%6.1f/s | %6.1f | %s %s\n",
               nst_layers[l].name, k.C, k.OC, H, sc * 4.0 / (1 << 20), t[0] * 1e3,
               flops / t[0] * 1e-9, t[1] * 1e3, flops / t[1] * 1e-9, t[2] * 1e3,
               flops / t[2] * 1e-9, t[3] * 1e3, flops / t[3] * 1e-9, flops / t[4] * 1e-9,
               wf ? "wino" : "im2col", wb ? "wino" : "im2col");
        for (int r = 0; r < 2; r++) {
            if (r == 0 && l > 12) continue; /* an evaluation stops at conv5_1 */
            used[r][0] += wf ? t[1] : t[0];
            used[r][1] += wb ? t[3] : t[2];
            base[r][0] += t[0];
            base[r][1] += t[2];
            flops_used[r] += flops;
        }
        free((void *)k.x), free((void *)k.w), free((void *)k.b), free((void *)k.dout);
        free(k.out), free(k.dinp), free(k.scratch), free(k.col);
        if (nst_layers[l].pool_after) H /= 2, W /= 2;
    }
    static const char *what[2] = {"to conv5_1", "all 16"};
    for (int r = 0; r < 2; r++)
        printf("%-10s: im2col fwd+bwd %.1f ms (%.1f GFLOP/s); dispatched fwd %.1f + bwd %.1f = "
               "%.1f ms (%.1f effective GFLOP/s), %.2fx\n",
               what[r], (base[r][0] + base[r][1]) * 1e3,
               2 * flops_used[r] / (base[r][0] + base[r][1]) * 1e-9, used[r][0] * 1e3,
               used[r][1] * 1e3, (used[r][0] + used[r][1]) * 1e3,
               2 * flops_used[r] / (used[r][0] + used[r][1]) * 1e-9,
               (base[r][0] + base[r][1]) / (used[r][0] + used[r][1]));
    nst_pool_free(pool);
    return 0;
}
