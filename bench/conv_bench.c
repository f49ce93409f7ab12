/*
 * conv_bench.c — speed of the 3×3 convolution (core/ops.c) on every VGG19
 * layer shape at one image size, next to a single sgemm of the same FLOPs.
 *
 * For each layer it prints GFLOP/s (2·OC·C·9·H·W per call, best of several
 * runs) of: conv3x3_forward; conv3x3_backward (Wᵀ·dout per row band, then
 * col2im); the alternative backward, a forward convolution of dout with the
 * flipped, transposed weights (weight flip included); and raw sgemm with the
 * forward's (OC × 9C)·(9C × HW) and the backward's (9C × OC)·(OC × HW)
 * shapes, which is the ceiling im2col can approach. Not part of CI.
 *
 *   cc -O3 -march=native -Icore -I<cblas include> bench/conv_bench.c \
 *      core/ops.c core/layers.c -lopenblas -lm -o conv_bench
 *   ./conv_bench [size=256] [seconds per layer=1]
 *
 * Threads: OpenBLAS's own (OPENBLAS_NUM_THREADS).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "layers.h"
#include "ops.h"

typedef struct {
    int C, OC, H, W;
    const float *x, *w, *b, *dout;
    float *out, *dinp, *scratch, *wflip, *col;
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
    conv3x3_forward(k->out, k->x, k->w, k->b, k->C, k->OC, k->H, k->W, k->scratch);
}

static void run_backward(bench_case *k)
{
    conv3x3_backward(k->dinp, k->dout, k->w, k->C, k->OC, k->H, k->W, k->scratch);
}

/* Backward as a forward convolution: wflip[c][oc][ky][kx] = w[oc][c][2-ky][2-kx]. */
static void run_backward_flipped(bench_case *k)
{
    for (int oc = 0; oc < k->OC; oc++)
        for (int c = 0; c < k->C; c++)
            for (int t = 0; t < 9; t++)
                k->wflip[((size_t)c * k->OC + oc) * 9 + 8 - t] =
                    k->w[((size_t)oc * k->C + c) * 9 + t];
    conv3x3_forward(k->dinp, k->dout, k->wflip, NULL, k->OC, k->C, k->H, k->W, k->scratch);
}

static void run_sgemm_forward(bench_case *k)
{
    int n = k->H * k->W, K = 9 * k->C;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k->OC, n, K, 1.0f, k->w, K, k->col,
                n, 0.0f, k->out, n);
}

static void run_sgemm_backward(bench_case *k)
{
    int n = k->H * k->W, K = 9 * k->C;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, n, k->OC, 1.0f, k->w, K, k->dout,
                n, 0.0f, k->col, n);
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
    printf("3x3 conv at %d px, %d BLAS threads; GFLOP/s, best of runs\n", size,
           openblas_get_num_threads());
    printf("%-8s %4s %4s %4s %8s | %7s %7s %7s | %7s %7s | %6s %6s\n", "layer", "C", "OC", "H",
           "scratchM", "fwd", "bwd", "bwdflip", "sgemmF", "sgemmB", "fwd ms", "bwd ms");
    double tf = 0, tb = 0, flops_all = 0;
    int H = size, W = size;
    for (int l = 0; l < NST_NUM_LAYERS; l++) {
        bench_case k = {.C = nst_layers[l].cin, .OC = nst_layers[l].cout, .H = H, .W = W};
        size_t plane = (size_t)H * W, K = 9 * (size_t)k.C;
        size_t sc = conv3x3_scratch_floats(k.C, k.OC, H, W);
        size_t sc2 = conv3x3_scratch_floats(k.OC, k.C, H, W);
        k.x = rand_buf(k.C * plane);
        k.w = rand_buf((size_t)k.OC * K);
        k.b = rand_buf(k.OC);
        k.dout = rand_buf(k.OC * plane);
        k.out = malloc(sizeof(float) * k.OC * plane);
        k.dinp = malloc(sizeof(float) * k.C * plane);
        k.scratch = malloc(sizeof(float) * (sc > sc2 ? sc : sc2));
        k.wflip = malloc(sizeof(float) * k.OC * K);
        k.col = rand_buf(K * plane);
        double flops = 2.0 * k.OC * K * plane;
        static const bench_fn fns[5] = {run_forward, run_backward, run_backward_flipped,
                                        run_sgemm_forward, run_sgemm_backward};
        double t[5];
        best_times(fns, 5, &k, budget, t);
        double f = t[0], b = t[1], bf = t[2], gf = t[3], gb = t[4];
        printf("%-8s %4d %4d %4d %8.2f | %7.1f %7.1f %7.1f | %7.1f %7.1f | %6.2f %6.2f\n",
               nst_layers[l].name, k.C, k.OC, H, sc * 4.0 / (1 << 20), flops / f * 1e-9,
               flops / b * 1e-9, flops / bf * 1e-9, flops / gf * 1e-9, flops / gb * 1e-9,
               f * 1e3, b * 1e3);
        tf += f, tb += b, flops_all += flops;
        free((void *)k.x), free((void *)k.w), free((void *)k.b), free((void *)k.dout);
        free(k.out), free(k.dinp), free(k.scratch), free(k.wflip), free(k.col);
        if (nst_layers[l].pool_after) H /= 2, W /= 2;
    }
    printf("all 16 convs: forward %.1f ms (%.1f GFLOP/s), backward %.1f ms (%.1f GFLOP/s)\n",
           tf * 1e3, flops_all / tf * 1e-9, tb * 1e3, flops_all / tb * 1e-9);
    return 0;
}
