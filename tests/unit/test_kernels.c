/*
 * test_kernels.c — every kernel path this CPU has (cpu.h: portable, avx2,
 * avx512) gives the portable path's Winograd convolution on the same
 * inputs, forward (with and without the fused ReLU) and backward, within
 * test_ops.c's 1e-5 of the largest element; the portable path itself is
 * held to the im2col path the same way. The shapes reach the AVX-512
 * GEMM kernel's edges: row counts that end a pair of panels early (every
 * remainder of 12), an odd number of tile panels, depths past one pass
 * (WINO_KC = 256), more row panels than one cache block (WINO_MC = 42),
 * both the fused (few channels) and the shared-block schemes, and outputs
 * past WINO_STREAM_FLOATS (written past the caches, rows aligned or not).
 * The same kernels' panel GEMM (panel_gemm.h, the style gradient) on every
 * path against a sum in double, with and without its mask, its columns in
 * one call and split at odd places (the same bits either way), and its
 * Gram product (panel_gram, the Gram matrices) the same way. Also the
 * path switch itself and its names. Prints the worst differences.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "ops.h"
#include "panel_gemm.h"
#define TEST_RNG_SEED 0x6a09e667f3bcc909ull
#include "test.h"
#include "winograd.h"

static nst_pool *pool; /* see test_with_pools */

typedef struct {
    int C, OC, H, W;
} shape;

static const shape shapes[] = {
    {3, 64, 33, 47},   {64, 64, 40, 36},  {300, 70, 20, 36}, {17, 263, 9, 70},
    {520, 16, 30, 30}, {130, 131, 12, 12}, {7, 29, 18, 150}, {256, 256, 16, 16},
    {64, 64, 258, 260},
};

/* The outputs of one path for shape s: forward, forward with ReLU,
 * backward (caller frees). */
typedef struct {
    float *fwd, *relu, *bwd;
} outputs;

static outputs run_path(cpu_kernels_path k, shape s, const float *x, const float *y,
                        const float *w, const float *b, float *scratch)
{
    size_t ni = (size_t)s.C * s.H * s.W, no = (size_t)s.OC * s.H * s.W;
    outputs o = {malloc(sizeof(float) * no), malloc(sizeof(float) * no),
                 malloc(sizeof(float) * ni)};
    CHECK(cpu_kernels_set(k) == 0 && cpu_kernels() == k, "cannot switch to %s",
          cpu_kernels_name(k));
    wino_conv3x3_forward(o.fwd, x, w, NULL, b, 0, s.C, s.OC, s.H, s.W, scratch, pool);
    wino_conv3x3_forward(o.relu, x, w, NULL, b, 1, s.C, s.OC, s.H, s.W, scratch, pool);
    for (size_t i = 0; i < ni; i++) o.bwd[i] = 1e6f; /* overwritten, not accumulated */
    wino_conv3x3_backward(o.bwd, y, w, NULL, s.C, s.OC, s.H, s.W, scratch, pool);
    return o;
}

static void outputs_free(outputs o) { free(o.fwd), free(o.relu), free(o.bwd); }

/* Largest |a − b| over the largest |b| (at least 1). */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0, m = 1.0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / m;
}

static double worst[CPU_KERNELS];
static int paths_run;

static void check_shape(shape s)
{
    size_t ni = (size_t)s.C * s.H * s.W, no = (size_t)s.OC * s.H * s.W;
    float *x = rand_floats(ni, 1.0), *y = rand_floats(no, 1.0);
    float *w = rand_floats((size_t)s.OC * s.C * 9, 0.5), *b = rand_floats(s.OC, 1.0);
    /* Winograd's, or im2col's whole column matrix (9·C·H·W at most) */
    size_t sn = (size_t)9 * s.C * s.H * s.W, wn = wino_scratch_floats(s.C, s.OC, s.H, s.W);
    float *scratch = malloc(sizeof(float) * (sn > wn ? sn : wn));

    outputs ref = run_path(CPU_PORTABLE, s, x, y, w, b, scratch);
    float *im_fwd = malloc(sizeof(float) * no), *im_bwd = malloc(sizeof(float) * ni);
    conv3x3_forward_im2col(im_fwd, x, w, b, s.C, s.OC, s.H, s.W, scratch, pool);
    conv3x3_backward_im2col(im_bwd, y, w, s.C, s.OC, s.H, s.W, scratch, pool);
    double anchor = fmax(rel_diff(ref.fwd, im_fwd, no), rel_diff(ref.bwd, im_bwd, ni));
    CHECK(anchor < 1e-5, "portable vs im2col C=%d OC=%d H=%d W=%d: %g", s.C, s.OC, s.H, s.W,
          anchor);
    worst[CPU_PORTABLE] = fmax(worst[CPU_PORTABLE], anchor);
    printf("  C=%-4d OC=%-4d H=%-3d W=%-3d  portable vs im2col %.2e", s.C, s.OC, s.H, s.W, anchor);

    for (int k = CPU_PORTABLE + 1; k < CPU_KERNELS; k++) {
        if (!cpu_kernels_supported((cpu_kernels_path)k)) continue;
        outputs o = run_path((cpu_kernels_path)k, s, x, y, w, b, scratch);
        double f = rel_diff(o.fwd, ref.fwd, no), r = rel_diff(o.relu, ref.relu, no);
        double g = rel_diff(o.bwd, ref.bwd, ni), e = fmax(f, fmax(r, g));
        CHECK(e < 1e-5, "%s vs portable C=%d OC=%d H=%d W=%d: forward %g, relu %g, backward %g",
              cpu_kernels_name((cpu_kernels_path)k), s.C, s.OC, s.H, s.W, f, r, g);
        size_t clipped = 0;
        for (size_t i = 0; i < no; i++) clipped += o.relu[i] == 0.0f && o.fwd[i] > 1e-3f;
        CHECK(clipped == 0, "%s: %zu positive outputs clipped by the fused ReLU",
              cpu_kernels_name((cpu_kernels_path)k), clipped);
        worst[k] = fmax(worst[k], e);
        printf(", %s %.2e", cpu_kernels_name((cpu_kernels_path)k), e);
        outputs_free(o);
        paths_run++;
    }
    printf("\n");
    outputs_free(ref);
    free(x), free(y), free(w), free(b), free(scratch), free(im_fwd), free(im_bwd);
}

static void test_paths_match_portable(void)
{
    cpu_kernels_path before = cpu_kernels();
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) check_shape(shapes[i]);
    printf("  worst:");
    for (int k = 0; k < CPU_KERNELS; k++)
        if (cpu_kernels_supported((cpu_kernels_path)k))
            printf(" %s %.2e", cpu_kernels_name((cpu_kernels_path)k), worst[k]);
    printf(" (%d path runs besides the portable one)\n", paths_run);
    CHECK(cpu_kernels_set(before) == 0, "cannot switch back to %s", cpu_kernels_name(before));
}

/* The default is the best path the CPU has unless NST_KERNELS says
 * otherwise; a path the CPU lacks cannot be set; names are distinct. */
/* C += alpha·A·B on each path: rows past a pair of panels and not a
 * multiple of them, depths past one pass of the kernel, columns past one
 * chunk and not whole panels; within 1e-5 of the largest |A|·|B| sum, the
 * masked elements exactly 0 or the unmasked result, and a split call the
 * same bits as one call. */
static void test_panel_gemm(void)
{
    static const int dims[][3] = {{13, 70, 150}, {64, 64, 2100}, {512, 300, 77}, {1, 1, 1}};
    cpu_kernels_path before = cpu_kernels();
    double most = 0;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        int rows = dims[d][0], K = dims[d][1], cols = dims[d][2];
        float *A = rand_floats((size_t)rows * K, 1.0), *B = rand_floats((size_t)K * cols, 1.0);
        float *C0 = rand_floats((size_t)rows * cols, 1.0);
        float *Ap = malloc(sizeof(float) * panel_a_floats(rows, K));
        float *work = malloc(sizeof(float) * panel_work_floats(rows, K));
        float *C = malloc(sizeof(float) * rows * cols), *Cs = malloc(sizeof(float) * rows * cols);
        float *Cm = malloc(sizeof(float) * rows * cols);
        panel_pack_a(Ap, A, (size_t)K, rows, K);
        for (int k = 0; k < CPU_KERNELS; k++) {
            if (!cpu_kernels_supported((cpu_kernels_path)k)) continue;
            CHECK(cpu_kernels_set((cpu_kernels_path)k) == 0, "switch to %d", k);
            memcpy(C, C0, sizeof(float) * rows * cols);
            memcpy(Cs, C0, sizeof(float) * rows * cols);
            memcpy(Cm, C0, sizeof(float) * rows * cols);
            panel_gemm_cols(C, (size_t)cols, Ap, B, (size_t)cols, rows, K, 0, (size_t)cols, 0.5f,
                            NULL, work);
            size_t cut = (size_t)cols / 3 + 1; /* inside a panel */
            panel_gemm_cols(Cs, (size_t)cols, Ap, B, (size_t)cols, rows, K, 0, cut, 0.5f, NULL,
                            work);
            panel_gemm_cols(Cs, (size_t)cols, Ap, B, (size_t)cols, rows, K, cut, (size_t)cols,
                            0.5f, NULL, work);
            /* masked by C0 itself (rows and columns of C's shape) */
            panel_gemm_cols(Cm, (size_t)cols, Ap, B, (size_t)cols, rows, K, 0, (size_t)cols, 0.5f,
                            C0, work);
            double err = 0, scale = 0;
            size_t bad_mask = 0;
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) {
                    double sum = 0, mag = 0;
                    for (int q = 0; q < K; q++) {
                        sum += (double)A[(size_t)i * K + q] * B[(size_t)q * cols + j];
                        mag += fabs((double)A[(size_t)i * K + q] * B[(size_t)q * cols + j]);
                    }
                    size_t at = (size_t)i * cols + j;
                    err = fmax(err, fabs(C[at] - (C0[at] + 0.5 * sum)));
                    scale = fmax(scale, 0.5 * mag + fabs(C0[at]));
                    bad_mask += Cm[at] != (C0[at] > 0.0f ? C[at] : 0.0f);
                }
            err /= scale > 0 ? scale : 1;
            most = fmax(most, err);
            CHECK(err < 1e-5, "%s %dx%dx%d: %g", cpu_kernels_name((cpu_kernels_path)k), rows, K,
                  cols, err);
            CHECK(memcmp(C, Cs, sizeof(float) * rows * cols) == 0, "%s %dx%dx%d: split differs",
                  cpu_kernels_name((cpu_kernels_path)k), rows, K, cols);
            CHECK(bad_mask == 0, "%s %dx%dx%d: %zu masked elements differ",
                  cpu_kernels_name((cpu_kernels_path)k), rows, K, cols, bad_mask);
        }
        free(A), free(B), free(C0), free(Ap), free(work), free(C), free(Cs), free(Cm);
    }
    printf("  panel GEMM: worst %.2e of the largest |A||B| sum\n", most);
    CHECK(cpu_kernels_set(before) == 0, "cannot switch back");
}

/* F Fᵀ's upper triangle on each path (panel_gram): row counts inside one
 * pair of tile panels and past several, not multiples of a panel; depths
 * inside one chunk and past several (PANEL_GRAM_KC), from an offset; within
 * 1e-5 of the largest Σ|F||F|, and acc adding a second range onto the
 * first the same as one call over both. */
static void test_panel_gram(void)
{
    static const int dims[][2] = {{1, 1}, {5, 300}, {17, 256}, {40, 700}, {100, 513}, {130, 90}};
    cpu_kernels_path before = cpu_kernels();
    double most = 0;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        int rows = dims[d][0], K = dims[d][1], off = 3;
        size_t ld = (size_t)K + off;
        float *F = rand_floats((size_t)rows * ld, 1.0);
        float *G = malloc(sizeof(float) * panel_gram_floats(rows));
        float *G2 = malloc(sizeof(float) * panel_gram_floats(rows));
        float *work = malloc(sizeof(float) * panel_gram_work_floats(rows));
        for (int k = 0; k < CPU_KERNELS; k++) {
            if (!cpu_kernels_supported((cpu_kernels_path)k)) continue;
            CHECK(cpu_kernels_set((cpu_kernels_path)k) == 0, "switch to %d", k);
            panel_gram(G, F, ld, rows, off, (size_t)off + K, 0, work);
            /* the same columns as two ranges, the second added */
            size_t cut = (size_t)off + PANEL_GRAM_KC / 2;
            if (cut > (size_t)off + K) cut = (size_t)off + K;
            panel_gram(G2, F, ld, rows, off, cut, 0, work);
            panel_gram(G2, F, ld, rows, cut, (size_t)off + K, 1, work);
            double err = 0, scale = 0;
            for (int i = 0; i < rows; i++)
                for (int j = i; j < rows; j++) {
                    double sum = 0, mag = 0;
                    for (int q = off; q < off + K; q++) {
                        double x = (double)F[(size_t)i * ld + q] * F[(size_t)j * ld + q];
                        sum += x, mag += fabs(x);
                    }
                    size_t at = panel_gram_at(rows, i, j);
                    err = fmax(err, fmax(fabs(G[at] - sum), fabs(G2[at] - sum)));
                    scale = fmax(scale, mag);
                }
            err /= scale > 0 ? scale : 1;
            most = fmax(most, err);
            CHECK(err < 1e-5, "%s gram %dx%d: %g", cpu_kernels_name((cpu_kernels_path)k), rows,
                  K, err);
        }
        free(F), free(G), free(G2), free(work);
    }
    printf("  panel Gram: worst %.2e of the largest Σ|F||F|\n", most);
    CHECK(cpu_kernels_set(before) == 0, "cannot switch back");
}

static void test_path_choice(void)
{
    const char *env = getenv("NST_KERNELS");
    int best = CPU_PORTABLE;
    for (int k = 0; k < CPU_KERNELS; k++)
        if (cpu_kernels_supported((cpu_kernels_path)k)) best = k;
    if (!env) CHECK(cpu_kernels() == (cpu_kernels_path)best, "default %s, best %s",
                    cpu_kernels_name(cpu_kernels()), cpu_kernels_name((cpu_kernels_path)best));
    printf("  this CPU: best path %s, in use %s\n", cpu_kernels_name((cpu_kernels_path)best),
           cpu_kernels_name(cpu_kernels()));
    CHECK(cpu_kernels_supported(CPU_PORTABLE), "the portable path must always run");
    CHECK(cpu_kernels_set(CPU_KERNELS) == -1, "an unknown path was accepted");
    for (int k = 0; k < CPU_KERNELS; k++) {
        if (!cpu_kernels_supported((cpu_kernels_path)k))
            CHECK(cpu_kernels_set((cpu_kernels_path)k) == -1, "%s set without the CPU's support",
                  cpu_kernels_name((cpu_kernels_path)k));
        for (int j = 0; j < k; j++)
            CHECK(strcmp(cpu_kernels_name((cpu_kernels_path)j),
                         cpu_kernels_name((cpu_kernels_path)k)) != 0, "two paths named alike");
    }
}

static void suite(void)
{
    TEST_RUN(test_path_choice);
    TEST_RUN(test_paths_match_portable);
    TEST_RUN(test_panel_gemm);
    TEST_RUN(test_panel_gram);
}

int main(void)
{
    test_with_pools(&pool, suite);
    return TEST_EXIT();
}
