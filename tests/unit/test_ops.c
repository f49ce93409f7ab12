/*
 * test_ops.c — the layers of ops.h against plain references written here in
 * double precision: 3×3 convolution forward against a direct six-loop sum,
 * backward against the direct transposed sum, the adjoint identity
 * <conv(x), y> = <x, convᵀ(y)> and central finite differences; ReLU and both
 * poolings by finite differences; the fused convolution + ReLU against the
 * two one after the other, and the pooling backward through a ReLU against
 * a plain pooling backward written here followed by relu_backward. Sizes include odd heights and widths, one
 * row or column, three input channels, and images tall enough to take
 * several row bands; the last two take the Winograd path (winograd.c,
 * tested on its own in test_winograd.c) in both directions. Scratch buffers
 * are allocated at exactly the size conv3x3_scratch_floats asks for, so a
 * sanitizer build catches overruns.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#define TEST_RNG_SEED 0x9e3779b97f4a7c15ull
#include "test.h"

static nst_pool *pool; /* see test_with_pools */
#include "conv_ref.h"

/* ------------------------------------------------------------ helpers */


/* Relative difference with a floor so near-zero entries compare absolutely. */
static double rel_diff(double a, double b, double floor)
{
    double den = fabs(a) + fabs(b);
    return fabs(a - b) / (den > floor ? den : floor);
}

/* ------------------------------------------------------------ convolution */

typedef struct {
    int C, OC, H, W;
} conv_shape;

/* Odd sizes, a single row or column, C = 3; then two large enough for
 * several row bands (the second with bands of a single row), with two
 * output channels so that their backward takes im2col's bands too; then two
 * on the Winograd path, and one (20 tiles, three output channels) that
 * takes it only with its weights kept. */
static const conv_shape conv_shapes[] = {
    {1, 1, 1, 1},   {3, 4, 5, 7},    {3, 2, 1, 9},   {2, 3, 9, 1},  {3, 5, 1, 1},
    {4, 5, 6, 6},   {3, 8, 13, 11},  {16, 7, 4, 31}, {5, 3, 2, 2},  {64, 2, 157, 64},
    {256, 2, 3, 1000}, {24, 40, 29, 27}, {40, 16, 30, 33}, {8, 3, 16, 17},
};

/* With keep, weights w kept for shape s (conv3x3_keep), which take the
 * convolution to Winograd from 8 tiles; NULL without keep or where none
 * are kept. */
static float *kept_for(conv_shape s, const float *w, int backward, int keep)
{
    size_t n = keep ? conv3x3_kept_floats(s.C, s.OC, s.H, s.W, backward) : 0;
    float *k = n ? malloc(sizeof(float) * n) : NULL;
    if (k) conv3x3_keep(k, w, s.C, s.OC, backward, pool);
    return k;
}

static void check_conv_forward(conv_shape s, int with_bias, int keep)
{
    size_t ni = (size_t)s.C * s.H * s.W, no = (size_t)s.OC * s.H * s.W;
    float *x = rand_floats(ni, 1.0), *w = rand_floats((size_t)s.OC * s.C * 9, 0.5);
    float *b = with_bias ? rand_floats(s.OC, 1.0) : NULL;
    float *out = malloc(sizeof(float) * no), *kept = kept_for(s, w, 0, keep);
    float *scratch = malloc(sizeof(float) * conv3x3_scratch_floats(s.C, s.OC, s.H, s.W));
    double *xd = to_double(x, ni), *ref = malloc(sizeof(double) * no),
           *abs = malloc(sizeof(double) * no);
    conv3x3_forward(out, x, w, kept, b, s.C, s.OC, s.H, s.W, scratch, pool);
    ref_conv(ref, abs, xd, w, b, s.C, s.OC, s.H, s.W);
    double worst = 0.0;
    for (size_t i = 0; i < no; i++) {
        double e = fabs(out[i] - ref[i]) / (abs[i] > 1e-3 ? abs[i] : 1e-3);
        if (e > worst) worst = e;
    }
    printf("  conv forward  C=%-3d OC=%d H=%-3d W=%-4d bias=%d%s  worst err/Σ|wx| %.2e\n", s.C,
           s.OC, s.H, s.W, with_bias, kept ? " kept" : "", worst);
    CHECK(worst < 1e-5, "conv forward C=%d OC=%d H=%d W=%d: %g", s.C, s.OC, s.H, s.W, worst);
    free(x), free(w), free(b), free(out), free(kept), free(scratch), free(xd), free(ref),
        free(abs);
}

static void test_conv_forward(void)
{
    for (int keep = 0; keep < 2; keep++)
        for (size_t i = 0; i < sizeof conv_shapes / sizeof *conv_shapes; i++) {
            check_conv_forward(conv_shapes[i], 1, keep);
            if (i < 4) check_conv_forward(conv_shapes[i], 0, keep);
        }
}

/* Backward element by element against the transposed sum, and the adjoint
 * identity over the whole tensors. */
static void check_conv_backward(conv_shape s, int keep)
{
    size_t ni = (size_t)s.C * s.H * s.W, no = (size_t)s.OC * s.H * s.W;
    float *x = rand_floats(ni, 1.0), *y = rand_floats(no, 1.0);
    float *w = rand_floats((size_t)s.OC * s.C * 9, 0.5);
    float *cx = malloc(sizeof(float) * no), *cty = malloc(sizeof(float) * ni);
    float *fwd = kept_for(s, w, 0, keep), *bwd = kept_for(s, w, 1, keep);
    float *scratch = malloc(sizeof(float) * conv3x3_scratch_floats(s.C, s.OC, s.H, s.W));
    /* dinp is overwritten, not accumulated: start it dirty */
    for (size_t i = 0; i < ni; i++) cty[i] = 1e6f;
    conv3x3_forward(cx, x, w, fwd, NULL, s.C, s.OC, s.H, s.W, scratch, pool);
    conv3x3_backward(cty, y, w, bwd, s.C, s.OC, s.H, s.W, scratch, pool);

    double *yd = to_double(y, no), *ref = malloc(sizeof(double) * ni);
    ref_conv_backward(ref, yd, w, s.C, s.OC, s.H, s.W);
    double worst = 0.0, scale = 0.0;
    for (size_t i = 0; i < ni; i++) scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < ni; i++) worst = fmax(worst, fabs(cty[i] - ref[i]));
    worst /= scale > 1.0 ? scale : 1.0;

    double lhs = 0.0, rhs = 0.0, mag = 0.0;
    for (size_t i = 0; i < no; i++) {
        lhs += (double)cx[i] * y[i];
        mag += fabs((double)cx[i] * y[i]);
    }
    for (size_t i = 0; i < ni; i++) rhs += (double)x[i] * cty[i];
    double adj = fabs(lhs - rhs) / (mag > 1e-12 ? mag : 1e-12);
    printf("  conv backward C=%-3d OC=%d H=%-3d W=%-4d%s  worst elem %.2e  adjoint %.2e\n", s.C,
           s.OC, s.H, s.W, bwd ? " kept" : "", worst, adj);
    CHECK(worst < 1e-5, "conv backward C=%d OC=%d H=%d W=%d: %g", s.C, s.OC, s.H, s.W, worst);
    CHECK(adj < 1e-5, "adjoint <conv x, y> = %.12g, <x, convT y> = %.12g", lhs, rhs);
    free(x), free(y), free(w), free(cx), free(cty), free(fwd), free(bwd), free(scratch), free(yd),
        free(ref);
}

static void test_conv_backward(void)
{
    for (int keep = 0; keep < 2; keep++)
        for (size_t i = 0; i < sizeof conv_shapes / sizeof *conv_shapes; i++)
            check_conv_backward(conv_shapes[i], keep);
}

/* A convolution to run for shape s: a random input, weights and bias, and
 * scratch of exactly the size conv3x3_scratch_floats asks for. */
typedef struct {
    size_t ni, no; /* input and output floats */
    float *x, *w, *b, *scratch;
} conv_case;

static conv_case conv_case_new(conv_shape s)
{
    conv_case c = {.ni = (size_t)s.C * s.H * s.W, .no = (size_t)s.OC * s.H * s.W};
    c.x = rand_floats(c.ni, 1.0);
    c.w = rand_floats((size_t)s.OC * s.C * 9, 0.5);
    c.b = rand_floats(s.OC, 0.5);
    c.scratch = malloc(sizeof(float) * conv3x3_scratch_floats(s.C, s.OC, s.H, s.W));
    return c;
}

static void conv_case_free(conv_case *c) { free(c->x), free(c->w), free(c->b), free(c->scratch); }

/* L(x) = ½ Σ conv(x)², so dL/dx = convᵀ(conv(x)); compared with central
 * differences of L evaluated in double at `probes` coordinates (all when 0). */
static void check_conv_fd(conv_shape s, int probes)
{
    conv_case c = conv_case_new(s);
    size_t ni = c.ni, no = c.no;
    float *x = c.x, *w = c.w, *b = c.b, *scratch = c.scratch;
    float *out = malloc(sizeof(float) * no), *g = malloc(sizeof(float) * ni);
    conv3x3_forward(out, x, w, NULL, b, s.C, s.OC, s.H, s.W, scratch, pool);
    conv3x3_backward(g, out, w, NULL, s.C, s.OC, s.H, s.W, scratch, pool);

    double *xd = to_double(x, ni), *od = malloc(sizeof(double) * no);
    double gmax = 0.0, worst = 0.0, h = 1e-3;
    for (size_t i = 0; i < ni; i++) gmax = fmax(gmax, fabs(g[i]));
    int n = probes ? probes : (int)ni;
    for (int p = 0; p < n; p++) {
        size_t i = probes ? (size_t)((rnd() + 1.0) * 0.5 * ni) % ni : (size_t)p;
        double l[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            xd[i] = x[i] + (sgn ? -h : h);
            ref_conv(od, NULL, xd, w, b, s.C, s.OC, s.H, s.W);
            l[sgn] = 0.0;
            for (size_t k = 0; k < no; k++) l[sgn] += 0.5 * od[k] * od[k];
        }
        xd[i] = x[i];
        double fd = (l[0] - l[1]) / (2 * h);
        worst = fmax(worst, rel_diff(g[i], fd, 1e-3 * gmax));
    }
    printf("  conv fd       C=%-3d OC=%d H=%-3d W=%-4d  worst rel diff %.2e\n", s.C, s.OC,
           s.H, s.W, worst);
    CHECK(worst < 1e-4, "conv finite differences: %g", worst);
    conv_case_free(&c);
    free(out), free(g), free(xd), free(od);
}

static void test_conv_finite_differences(void)
{
    check_conv_fd((conv_shape){3, 4, 5, 7}, 0);
    check_conv_fd((conv_shape){2, 3, 1, 6}, 0);
    check_conv_fd((conv_shape){3, 2, 6, 1}, 0);
    check_conv_fd((conv_shape){8, 5, 9, 8}, 60);
}

/* Scratch is bounded: it does not grow with the height, and beyond the
 * transformed weights a Winograd convolution keeps (36·C·OC floats) it stays
 * within the tile budgets (8 MB im2col; Winograd 16 MB or 256 tiles, the
 * larger) for VGG shapes at 1024 px. */
static void test_conv_scratch_bounded(void)
{
    size_t a = conv3x3_scratch_floats(64, 64, 1024, 1024);
    size_t b = conv3x3_scratch_floats(64, 64, 8192, 1024);
    size_t c = conv3x3_scratch_floats(512, 512, 128, 128);
    size_t small = conv3x3_scratch_floats(3, 64, 4, 5);
    printf("  scratch floats: 64ch 1024px %zu, 64ch 8192x1024 %zu, 512ch 128px %zu\n", a, b,
           c);
    CHECK(a == b, "scratch grows with H: %zu vs %zu", a, b);
    CHECK(a * sizeof(float) <= (size_t)36 * 64 * 64 * 4 + ((size_t)16 << 20), "scratch %zu", a);
    /* 512 + 512 channels: weights plus a block of 256 tiles (wider than 16
     * MB), rows padded to 516 for Winograd's GEMM panels */
    CHECK(c <= (size_t)36 * 516 * 512 + (size_t)36 * 1032 * 256 + 16, "scratch %zu", c);
    CHECK(small == (size_t)27 * 4 * 5, "small image scratch %zu", small);
    /* the two largest conv_shapes are there to cross band borders */
    CHECK(conv3x3_scratch_floats(64, 2, 157, 64) < (size_t)9 * 64 * 157 * 64, "one band");
    CHECK(conv3x3_scratch_floats(256, 2, 3, 1000) == (size_t)9 * 256 * 1000, "not 1 row");
    CHECK(conv3x3_scratch_floats(3, 64, 1024, 1024) >= (size_t)27 * 1024, "one row fits");
}

/* conv3x3_relu_forward gives exactly what conv3x3_forward + relu_forward
 * give, on every shape (so on both paths). */
static void test_conv_relu_fused(void)
{
    size_t clipped = 0;
    for (size_t k = 0; k < sizeof conv_shapes / sizeof *conv_shapes; k++) {
        conv_shape s = conv_shapes[k];
        conv_case c = conv_case_new(s);
        size_t no = c.no;
        float *y = malloc(sizeof(float) * no), *yf = malloc(sizeof(float) * no);
        conv3x3_forward(y, c.x, c.w, NULL, c.b, s.C, s.OC, s.H, s.W, c.scratch, pool);
        relu_forward(y, no, pool);
        conv3x3_relu_forward(yf, c.x, c.w, NULL, c.b, s.C, s.OC, s.H, s.W, c.scratch, pool);
        CHECK(memcmp(y, yf, sizeof(float) * no) == 0, "conv+ReLU forward C=%d OC=%d H=%d W=%d",
              s.C, s.OC, s.H, s.W);
        for (size_t i = 0; i < no; i++) clipped += y[i] == 0.0f;
        conv_case_free(&c);
        free(y), free(yf);
    }
    printf("  fused conv+ReLU: identical on %zu shapes, %zu outputs clipped\n",
           sizeof conv_shapes / sizeof *conv_shapes, clipped);
    CHECK(clipped > 0, "no output was clipped: the ReLU was not tested");
}

/* ------------------------------------------------------------ relu */

static void test_relu(void)
{
    enum { N = 1000 };
    float *x = rand_floats(N, 1.0), *r = rand_floats(N, 1.0);
    /* keep every input at least 0.01 away from the kink */
    for (int i = 0; i < N; i++) x[i] += x[i] >= 0 ? 0.01f : -0.01f;
    float y[N], dx[N];
    memcpy(y, x, sizeof y);
    relu_forward(y, N, pool);
    memcpy(dx, r, sizeof dx);
    relu_backward(dx, y, N, pool);
    double worst = 0.0, h = 1e-3;
    int bad_fwd = 0;
    for (int i = 0; i < N; i++) {
        bad_fwd += y[i] != (x[i] > 0 ? x[i] : 0.0f);
        /* L = Σ r·relu(x): only coordinate i changes */
        double lp = r[i] * fmax(0.0, x[i] + h), lm = r[i] * fmax(0.0, x[i] - h);
        worst = fmax(worst, rel_diff(dx[i], (lp - lm) / (2 * h), 1e-6));
    }
    printf("  relu worst rel diff %.2e\n", worst);
    CHECK(bad_fwd == 0, "%d relu outputs wrong", bad_fwd);
    CHECK(worst < 1e-6, "relu finite differences: %g", worst);
    free(x), free(r);
}

/* ------------------------------------------------------------ pooling */

/* inp (C,H,W) double, out (C,H/2,W/2); avg selects the kind of pooling. */
static void ref_pool(double *out, const double *inp, int C, int H, int W, int avg)
{
    int OH = H / 2, OW = W / 2;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                const double *p = inp + ((size_t)c * H + 2 * i) * W + 2 * j;
                double v[4] = {p[0], p[1], p[W], p[W + 1]}, m = v[0], s = v[0];
                for (int q = 1; q < 4; q++) m = fmax(m, v[q]), s += v[q];
                out[((size_t)c * OH + i) * OW + j] = avg ? s / 4 : m;
            }
}

/* The pooling backward without a ReLU: dout (C,H/2,W/2), dinp (C,H,W)
 * overwritten, dropped rows/columns 0; max pooling routes each window's
 * gradient to its first maximum in row-major order. */
static void ref_pool_backward(float *dinp, const float *dout, const float *inp, int C, int H,
                              int W, int avg)
{
    int OH = H / 2, OW = W / 2;
    memset(dinp, 0, sizeof(float) * (size_t)C * H * W);
    for (int c = 0; c < C; c++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                size_t at = ((size_t)c * H + 2 * i) * W + 2 * j;
                size_t k[4] = {at, at + 1, at + W, at + W + 1}, best = k[0];
                float g = dout[((size_t)c * OH + i) * OW + j];
                for (int q = 0; q < 4; q++) {
                    if (avg) dinp[k[q]] = 0.25f * g;
                    else if (inp[k[q]] > inp[best]) best = k[q];
                }
                if (!avg) dinp[best] = g;
            }
}

/* Distinct inputs (a shuffled ramp, gaps 0.01 > 2h) so max pooling has no
 * ties, all positive so the engine's pooling backward through a ReLU (the
 * only one it has) passes every gradient; L = Σ r·pool(x); gradient and
 * forward compared with the reference. */
static void check_pool(int C, int H, int W, int avg)
{
    size_t ni = (size_t)C * H * W, no = (size_t)C * (H / 2) * (W / 2);
    float *x = malloc(sizeof(float) * ni), *r = rand_floats(no, 1.0);
    for (size_t i = 0; i < ni; i++) x[i] = 0.01f * (float)(i + 1);
    for (size_t i = ni; i > 1; i--) {
        size_t j = (size_t)((rnd() + 1.0) * 0.5 * i) % i;
        float t = x[i - 1];
        x[i - 1] = x[j], x[j] = t;
    }
    float *out = malloc(sizeof(float) * (no ? no : 1)), *g = malloc(sizeof(float) * ni);
    for (size_t i = 0; i < ni; i++) g[i] = 1e6f; /* must be overwritten */
    if (avg) {
        avgpool2_forward(out, x, C, H, W, pool);
        avgpool2_relu_backward(g, r, x, C, H, W, pool);
    } else {
        maxpool2_forward(out, x, C, H, W, pool);
        maxpool2_relu_backward(g, r, x, C, H, W, pool);
    }
    float *want = malloc(sizeof(float) * ni);
    ref_pool_backward(want, r, x, C, H, W, avg);
    CHECK(memcmp(g, want, sizeof(float) * ni) == 0, "pool backward differs from the reference");
    free(want);
    double *xd = to_double(x, ni), *od = malloc(sizeof(double) * (no ? no : 1));
    ref_pool(od, xd, C, H, W, avg);
    double fwd = 0.0, worst = 0.0, h = 1e-3;
    for (size_t i = 0; i < no; i++) fwd = fmax(fwd, fabs(out[i] - od[i]));
    for (size_t i = 0; i < ni; i++) {
        double l[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            xd[i] = x[i] + (sgn ? -h : h);
            ref_pool(od, xd, C, H, W, avg);
            l[sgn] = 0.0;
            for (size_t k = 0; k < no; k++) l[sgn] += r[k] * od[k];
        }
        xd[i] = x[i];
        worst = fmax(worst, rel_diff(g[i], (l[0] - l[1]) / (2 * h), 1e-3));
    }
    printf("  %s C=%d H=%-2d W=%-2d  forward err %.1e  worst rel diff %.2e\n",
           avg ? "avgpool" : "maxpool", C, H, W, fwd, worst);
    CHECK(fwd < 1e-5, "pool forward: %g", fwd);
    CHECK(worst < 1e-4, "pool finite differences: %g", worst);
    free(x), free(r), free(out), free(g), free(xd), free(od);
}

static void test_pooling(void)
{
    static const int sizes[][3] = {{2, 6, 8}, {3, 7, 9}, {1, 5, 4}, {2, 1, 6}, {1, 3, 3}};
    for (int avg = 0; avg < 2; avg++)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            check_pool(sizes[i][0], sizes[i][1], sizes[i][2], avg);
}

/* Max pooling routes a tied window's gradient to its first maximum only. */
/* maxpool2_relu_backward and avgpool2_relu_backward give exactly what the
 * pooling backward followed by relu_backward gives, on a ReLU's output with
 * many zeros (whole windows of them too) and odd sizes; the result is
 * written over whatever dinp held. */
static void test_pool_relu_backward(void)
{
    static const int sizes[][3] = {{3, 8, 10}, {2, 7, 9}, {4, 1, 5}, {1, 16, 16}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int C = sizes[k][0], H = sizes[k][1], W = sizes[k][2];
        size_t ni = (size_t)C * H * W, no = (size_t)C * (H / 2) * (W / 2);
        float *y = rand_floats(ni, 1.0), *r = rand_floats(no ? no : 1, 1.0);
        relu_forward(y, ni, pool);
        for (size_t i = 0; i < ni / 4; i++) y[i] = 0.0f; /* whole windows of zeros */
        float *want = malloc(sizeof(float) * ni), *got = malloc(sizeof(float) * ni);
        for (int avg = 0; avg < 2; avg++) {
            ref_pool_backward(want, r, y, C, H, W, avg);
            relu_backward(want, y, ni, pool);
            for (size_t i = 0; i < ni; i++) got[i] = 1e6f; /* must be overwritten */
            if (avg) avgpool2_relu_backward(got, r, y, C, H, W, pool);
            else maxpool2_relu_backward(got, r, y, C, H, W, pool);
            CHECK(memcmp(want, got, sizeof(float) * ni) == 0, "%s through ReLU C=%d H=%d W=%d",
                  avg ? "avgpool" : "maxpool", C, H, W);
        }
        free(y), free(r), free(want), free(got);
    }
}

static void test_maxpool_ties(void)
{
    float x[2 * 4] = {1, 5, 5, 2, 5, 5, 5, 5}, dout[2] = {3, 7}, g[8], out[2];
    maxpool2_forward(out, x, 1, 2, 4, pool);
    maxpool2_relu_backward(g, dout, x, 1, 2, 4, pool); /* x > 0: the ReLU passes all */
    float want[8] = {0, 3, 7, 0, 0, 0, 0, 0};
    CHECK(out[0] == 5 && out[1] == 5, "tie forward %g %g", out[0], out[1]);
    CHECK(memcmp(g, want, sizeof g) == 0, "tie gradient %g %g %g %g / %g %g %g %g", g[0],
          g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
}

static void suite(void)
{
    TEST_RUN(test_conv_forward);
    TEST_RUN(test_conv_backward);
    TEST_RUN(test_conv_finite_differences);
    TEST_RUN(test_conv_scratch_bounded);
    TEST_RUN(test_conv_relu_fused);
    TEST_RUN(test_relu);
    TEST_RUN(test_pooling);
    TEST_RUN(test_maxpool_ties);
    TEST_RUN(test_pool_relu_backward);
}

int main(void)
{
    test_with_pools(&pool, suite);
    return TEST_EXIT();
}
