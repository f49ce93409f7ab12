/*
 * test_winograd.c — the Winograd F(4×4,3×3) convolution (winograd.h)
 * against a direct sum in double precision, forward and backward to the
 * input, with the tolerances test_ops.c holds the im2col path to: forward
 * error relative to Σ|w·x| of each output, backward error relative to the
 * largest element. Also the adjoint identity <conv x, y> = <x, convᵀ y>,
 * agreement with ops.c's im2col path, and the fused ReLU against
 * relu_forward. Shapes: odd sizes, sizes not multiples of 4, H or W below
 * 4, channel counts not multiples of 8, rows wider than one transform chunk
 * and images of several tile blocks (one block border falling inside a
 * tile row). Scratch is allocated at exactly
 * wino_scratch_floats, so a sanitizer build catches overruns. Prints the
 * worst errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#define TEST_RNG_SEED 0x2545f4914f6cdd1dull
#include "test.h"

static nst_pool *pool; /* see test_with_pools */
#include "conv_ref.h"
#include "winograd.h"


typedef struct {
    int C, OC, H, W;
} shape;

/* The 1000-channel shapes take two tile blocks (285 tiles, blocks of 143:
 * the border falls inside a tile row); W = 150 takes two transform chunks
 * per tile row. */
static const shape shapes[] = {
    {1, 1, 1, 1},    {16, 16, 4, 4},  {17, 9, 5, 7},   {8, 24, 3, 9},  {24, 8, 9, 2},
    {3, 5, 6, 6},    {33, 40, 13, 11}, {64, 64, 16, 16}, {4, 5, 9, 150}, {130, 3, 2, 133},
    {1000, 2, 74, 58}, {2, 1000, 74, 58}, {512, 512, 8, 8}, {256, 128, 12, 10},
};

static double worst_fwd = 0, worst_bwd = 0, worst_adj = 0;

static size_t clipped; /* elements the fused ReLUs set to 0, over all shapes */

/* The fused ReLU gives exactly what the plain convolution (out, for x)
 * gives through relu_forward. */
static void check_fused(shape s, const float *x, const float *w, const float *b,
                        const float *out, float *scratch)
{
    size_t no = (size_t)s.OC * s.H * s.W;
    float *r = malloc(sizeof(float) * no);
    wino_conv3x3_forward(r, x, w, NULL, b, 1, s.C, s.OC, s.H, s.W, scratch, pool);
    size_t bad = 0;
    for (size_t i = 0; i < no; i++) bad += r[i] != (out[i] > 0.0f ? out[i] : 0.0f);
    CHECK(bad == 0, "fused ReLU C=%d OC=%d H=%d W=%d: %zu elements differ", s.C, s.OC, s.H,
          s.W, bad);
    for (size_t i = 0; i < no; i++) clipped += r[i] == 0.0f;
    free(r);
}

static void check_shape(shape s)
{
    size_t ni = (size_t)s.C * s.H * s.W, no = (size_t)s.OC * s.H * s.W;
    float *x = rand_floats(ni, 1.0), *y = rand_floats(no, 1.0);
    float *w = rand_floats((size_t)s.OC * s.C * 9, 0.5), *b = rand_floats(s.OC, 1.0);
    float *out = malloc(sizeof(float) * no), *dinp = malloc(sizeof(float) * ni);
    float *cx = malloc(sizeof(float) * no);
    size_t sn = wino_scratch_floats(s.C, s.OC, s.H, s.W);
    float *scratch = malloc(sizeof(float) * (sn ? sn : 1));
    double *ref = malloc(sizeof(double) * no), *abs = malloc(sizeof(double) * no);
    double *dref = malloc(sizeof(double) * ni);

    wino_conv3x3_forward(out, x, w, NULL, b, 0, s.C, s.OC, s.H, s.W, scratch, pool);
    double *xd = to_double(x, ni), *yd = to_double(y, no);
    ref_conv(ref, abs, xd, w, b, s.C, s.OC, s.H, s.W);
    double fwd = 0, fwdmax = 0, refmax = 0;
    for (size_t i = 0; i < no; i++) {
        double e = fabs(out[i] - ref[i]);
        fwd = fmax(fwd, e / (abs[i] > 1e-3 ? abs[i] : 1e-3));
        fwdmax = fmax(fwdmax, e);
        refmax = fmax(refmax, fabs(ref[i]));
    }
    fwdmax /= refmax > 1.0 ? refmax : 1.0;

    for (size_t i = 0; i < ni; i++) dinp[i] = 1e6f; /* overwritten, not accumulated */
    wino_conv3x3_backward(dinp, y, w, NULL, s.C, s.OC, s.H, s.W, scratch, pool);
    ref_conv_backward(dref, yd, w, s.C, s.OC, s.H, s.W);
    double bwd = 0, scale = 0;
    for (size_t i = 0; i < ni; i++) scale = fmax(scale, fabs(dref[i]));
    for (size_t i = 0; i < ni; i++) bwd = fmax(bwd, fabs(dinp[i] - dref[i]));
    bwd /= scale > 1.0 ? scale : 1.0;

    wino_conv3x3_forward(cx, x, w, NULL, NULL, 0, s.C, s.OC, s.H, s.W, scratch, pool);
    double lhs = 0, rhs = 0, mag = 0;
    for (size_t i = 0; i < no; i++) {
        lhs += (double)cx[i] * y[i];
        mag += fabs((double)cx[i] * y[i]);
    }
    for (size_t i = 0; i < ni; i++) rhs += (double)x[i] * dinp[i];
    double adj = fabs(lhs - rhs) / (mag > 1e-12 ? mag : 1e-12);

    printf("  C=%-4d OC=%-4d H=%-3d W=%-3d  fwd err/Σ|wx| %.2e (of max %.2e)  "
           "bwd %.2e  adjoint %.2e\n", s.C, s.OC, s.H, s.W, fwd, fwdmax, bwd, adj);
    CHECK(fwd < 1e-5, "forward C=%d OC=%d H=%d W=%d: %g", s.C, s.OC, s.H, s.W, fwd);
    CHECK(bwd < 1e-5, "backward C=%d OC=%d H=%d W=%d: %g", s.C, s.OC, s.H, s.W, bwd);
    CHECK(adj < 1e-5, "adjoint C=%d OC=%d H=%d W=%d: %g", s.C, s.OC, s.H, s.W, adj);
    check_fused(s, x, w, b, out, scratch);
    worst_fwd = fmax(worst_fwd, fwd);
    worst_bwd = fmax(worst_bwd, bwd);
    worst_adj = fmax(worst_adj, adj);
    free(x), free(y), free(w), free(b), free(out), free(dinp), free(cx), free(scratch);
    free(ref), free(abs), free(dref), free(xd), free(yd);
}

static void test_winograd_against_direct(void)
{
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) check_shape(shapes[i]);
    printf("  worst: forward %.2e, backward %.2e, adjoint %.2e; fused ReLU clipped %zu\n",
           worst_fwd, worst_bwd, worst_adj, clipped);
    CHECK(clipped > 0, "no output was clipped: the fused ReLU check tested nothing");
}

/* The dispatching conv3x3_forward agrees with the im2col path on a VGG-like
 * shape (whichever path it takes), with its own scratch size. */
static void test_dispatch_matches_im2col(void)
{
    int C = 64, OC = 128, H = 20, W = 18;
    size_t ni = (size_t)C * H * W, no = (size_t)OC * H * W;
    float *x = rand_floats(ni, 1.0), *w = rand_floats((size_t)OC * C * 9, 0.1);
    float *b = rand_floats(OC, 1.0);
    float *o1 = malloc(sizeof(float) * no), *o2 = malloc(sizeof(float) * no);
    float *scratch = malloc(sizeof(float) * conv3x3_scratch_floats(C, OC, H, W));
    conv3x3_forward(o1, x, w, NULL, b, C, OC, H, W, scratch, pool);
    conv3x3_forward_im2col(o2, x, w, b, C, OC, H, W, scratch, pool);
    double worst = 0, mx = 0;
    for (size_t i = 0; i < no; i++) {
        worst = fmax(worst, fabs(o1[i] - o2[i]));
        mx = fmax(mx, fabs(o2[i]));
    }
    printf("  dispatch vs im2col: max diff %.2e of max %.3g\n", worst, mx);
    CHECK(worst <= 1e-5 * mx, "dispatch differs from im2col by %g", worst);
    free(x), free(w), free(b), free(o1), free(o2), free(scratch);
}

/* Weights transformed once (wino_weights) give the same bits as weights
 * transformed on every call, forward (with and without the ReLU) and
 * backward, on every shape. */
static void test_kept_weights_same_bits(void)
{
    size_t differ = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        shape s = shapes[k];
        size_t ni = (size_t)s.C * s.H * s.W, no = (size_t)s.OC * s.H * s.W;
        float *x = rand_floats(ni, 1.0), *y = rand_floats(no, 1.0);
        float *w = rand_floats((size_t)s.OC * s.C * 9, 0.5), *b = rand_floats(s.OC, 1.0);
        float *uf = malloc(sizeof(float) * wino_weights_floats(s.C, s.OC, 0));
        float *ub = malloc(sizeof(float) * wino_weights_floats(s.C, s.OC, 1));
        float *o1 = malloc(sizeof(float) * no), *o2 = malloc(sizeof(float) * no);
        float *d1 = malloc(sizeof(float) * ni), *d2 = malloc(sizeof(float) * ni);
        float *scratch = malloc(sizeof(float) * wino_scratch_floats(s.C, s.OC, s.H, s.W));
        wino_weights(uf, w, s.C, s.OC, 0, pool);
        wino_weights(ub, w, s.C, s.OC, 1, pool);
        for (int relu = 0; relu < 2; relu++) {
            wino_conv3x3_forward(o1, x, w, NULL, b, relu, s.C, s.OC, s.H, s.W, scratch, pool);
            wino_conv3x3_forward(o2, x, w, uf, b, relu, s.C, s.OC, s.H, s.W, scratch, pool);
            differ += memcmp(o1, o2, sizeof(float) * no) != 0;
        }
        wino_conv3x3_backward(d1, y, w, NULL, s.C, s.OC, s.H, s.W, scratch, pool);
        wino_conv3x3_backward(d2, y, w, ub, s.C, s.OC, s.H, s.W, scratch, pool);
        differ += memcmp(d1, d2, sizeof(float) * ni) != 0;
        free(x), free(y), free(w), free(b), free(uf), free(ub), free(o1), free(o2), free(d1);
        free(d2), free(scratch);
    }
    CHECK(differ == 0, "%zu convolutions differ with kept weights", differ);
    CHECK(wino_weights_floats(512, 512, 0) == (size_t)36 * 516 * 512 &&
              wino_weights_floats(3, 64, 1) == (size_t)36 * 6 * 64 &&
              wino_weights_floats(3, 64, 0) == (size_t)36 * 66 * 3,
          "kept weights' sizes (rows padded to the GEMM's panels)");
}

/* The scratch does not grow with the image beyond the weights and a block. */
static void test_scratch_bounded(void)
{
    size_t a = wino_scratch_floats(64, 64, 1024, 1024);
    size_t b = wino_scratch_floats(64, 64, 8192, 8192);
    size_t c = wino_scratch_floats(512, 512, 1024, 1024);
    printf("  scratch floats: 64ch 1024px %zu, 64ch 8192px %zu, 512ch 1024px %zu\n", a, b, c);
    CHECK(a == b, "scratch grows with the image: %zu vs %zu", a, b);
    /* weights and a block of 256 tiles; rows padded to 516 for the GEMM
     * kernel's panels, 16 floats of alignment slack */
    CHECK(c <= (size_t)36 * 516 * 512 + (size_t)36 * 1032 * 256 + 16, "scratch %zu floats", c);
}

static void suite(void)
{
    TEST_RUN(test_winograd_against_direct);
    TEST_RUN(test_dispatch_matches_im2col);
    TEST_RUN(test_kept_weights_same_bits);
    TEST_RUN(test_scratch_bounded);
}

int main(void)
{
    test_with_pools(&pool, suite);
    return TEST_EXIT();
}
