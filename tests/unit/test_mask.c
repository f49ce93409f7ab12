/*
 * test_mask.c — masks (mask.h) against plain double-precision references
 * written here: a mask at each layer's resolution is the 2×2 average
 * pooling of the one above it wherever the network pools; the guided style
 * loss equals 1/(4N²) Σ ((F∘m)(F∘m)ᵀ / Σm² − A)² and its gradient central
 * finite differences of that reference; the weighted content loss likewise.
 * An all-ones mask gives the unmasked loss and gradient bit for bit, in the
 * kernels and through the whole objective (a single style with an all-ones
 * mask, an all-black content mask). test_reference checks whole masked
 * objectives against PyTorch.
 */
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "loss.h"
#include "mask.h"
#include "objective.h"
#define TEST_RNG_SEED 0x452821e638d01377ull
#include "test.h"
#include "testimg.h"

static nst_pool *pool; /* see test_with_pools */

/* A mask in [0,1] with a run of exact zeros (no region there). */
static float *rand_mask(size_t M)
{
    float *m = malloc(sizeof(float) * M);
    for (size_t j = 0; j < M; j++) m[j] = j % 7 == 3 ? 0.0f : (float)(0.5 + 0.5 * rnd());
    return m;
}

/* ------------------------------------------------------------ levels */

/* Each level against pooling written out in double from the image-sized
 * mask, and its scale √(M / Σ m²). */
static void test_levels(void)
{
    int W = 37, H = 29, depth = NST_NUM_LAYERS;
    float *m = rand_mask((size_t)W * H);
    mask_levels ml;
    CHECK(mask_levels_build(&ml, m, W, H, depth, 0xffffu) == NST_OK, "build");
    double *cur = malloc(sizeof(double) * W * H);
    for (int j = 0; j < W * H; j++) cur[j] = m[j];
    int w = W, h = H;
    double worst = 0;
    size_t kept = 0;
    for (int l = 0; l < depth; l++) {
        double sum = 0;
        for (int j = 0; j < w * h; j++) {
            worst = fmax(worst, fabs(ml.at[l][j] - cur[j]));
            sum += cur[j] * cur[j];
        }
        kept += (size_t)w * h;
        CHECK(ml.n[l] == (size_t)w * h, "layer %d: %zu positions, expected %dx%d", l, ml.n[l], w, h);
        double s = sum > 0 ? sqrt(w * h / sum) : 0;
        CHECK(fabs(ml.scale[l] - s) <= 1e-5 * s, "layer %d: scale %g, expected %g", l,
              ml.scale[l], s);
        if (!nst_layers[l].pool_after) continue;
        int ow = w / 2, oh = h / 2;
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
                cur[y * ow + x] = (cur[2 * y * w + 2 * x] + cur[2 * y * w + 2 * x + 1] +
                                   cur[(2 * y + 1) * w + 2 * x] + cur[(2 * y + 1) * w + 2 * x + 1]) / 4;
        w = ow, h = oh;
    }
    printf("  levels of a %dx%d mask: worst difference %.2e\n", W, H, worst);
    CHECK(worst < 1e-6, "levels differ by %g", worst);
    CHECK(mask_levels_floats(W, H, depth, 0xffffu, NULL) == kept, "floats kept");
    mask_levels_free(&ml);

    /* only the layers asked for */
    CHECK(mask_levels_build(&ml, m, W, H, 5, 1u << 2 | 1u << 4) == NST_OK, "build");
    for (int l = 0; l < NST_NUM_LAYERS; l++)
        CHECK((ml.at[l] != NULL) == (l == 2 || l == 4), "layer %d kept: %d", l, ml.at[l] != NULL);
    mask_levels_free(&ml);
    free(cur);
    free(m);
}

/* ------------------------------------------------------------ guided style loss */

typedef struct {
    int N, M;
    const double *m, *target;
} guided_ctx;

/* The formula of mask.h, written out. */
static double ref_guided(const double *feat, const void *ctx_)
{
    const guided_ctx *c = ctx_;
    double area = 0, e = 0;
    for (int j = 0; j < c->M; j++) area += c->m[j] * c->m[j];
    if (area == 0) return 0;
    for (int a = 0; a < c->N; a++)
        for (int b = 0; b < c->N; b++) {
            double g = 0;
            for (int j = 0; j < c->M; j++)
                g += feat[a * c->M + j] * c->m[j] * feat[b * c->M + j] * c->m[j];
            double d = g / area - c->target[a * c->N + b];
            e += d * d;
        }
    return e / (4.0 * c->N * c->N);
}

static void check_guided(int N, int M, int zero_mask)
{
    size_t nf = (size_t)N * M;
    float *f = rand_floats(nf, 1.0), *m = rand_mask((size_t)M), *a = malloc(sizeof(float) * N * N);
    float *scratch = malloc(sizeof(float) * loss_scratch_floats(N));
    float *other = rand_floats((size_t)N * 2 * M, 1.0);
    gram_compute(a, other, N, 2 * M, scratch, pool);
    if (zero_mask) memset(m, 0, sizeof(float) * M);
    mask_levels ml = {{0}, {0}, {0}};
    CHECK(mask_levels_build(&ml, m, M, 1, 1, 1u) == NST_OK, "levels");
    float s = ml.scale[0];

    float *diff = malloc(sizeof(float) * N * N), *work = malloc(sizeof(float) * nf);
    float *g = calloc(nf, sizeof(float)), *acc = rand_floats(nf, 1.0), *base = malloc(sizeof(float) * nf);
    memcpy(base, acc, sizeof(float) * nf);
    double e = mask_style_loss(diff, work, f, m, s, a, N, M, scratch, pool);
    mask_style_grad(g, 1.0f, work, f, m, s, diff, N, M, scratch, pool);
    mask_style_grad(acc, -1.5f, work, f, m, s, diff, N, M, scratch, pool);

    double *fd = malloc(sizeof(double) * nf), *md = malloc(sizeof(double) * M);
    double *ad = malloc(sizeof(double) * N * N);
    for (size_t i = 0; i < nf; i++) fd[i] = f[i];
    for (int j = 0; j < M; j++) md[j] = m[j];
    for (int i = 0; i < N * N; i++) ad[i] = a[i];
    guided_ctx ctx = {N, M, md, ad};
    double ref = ref_guided(fd, &ctx), gmax = 0, accum = 0;
    double worst = test_fd_worst(ref_guided, &ctx, fd, g, nf, 0, 1e-4);
    for (size_t i = 0; i < nf; i++) gmax = fmax(gmax, fabs(g[i]));
    for (size_t i = 0; i < nf; i++)
        accum = fmax(accum, fabs(acc[i] - (base[i] - 1.5 * g[i])) / (1.0 + 1.5 * gmax));
    printf("  guided N=%-2d M=%-4d%s E %.6g (ref %.6g)  fd worst rel diff %.2e\n", N, M,
           zero_mask ? " (empty mask)" : "", e, ref, worst);
    CHECK(test_rel_diff(e, ref, 1e-12) < 1e-5, "guided value %.9g vs %.9g", e, ref);
    CHECK(worst < 1e-3, "guided finite differences: %g", worst);
    CHECK(accum < 1e-6, "guided gradient does not accumulate: %g", accum);
    CHECK(!zero_mask || (e == 0 && gmax == 0), "an empty mask: E %g, max |g| %g", e, gmax);
    mask_levels_free(&ml);
    free(f), free(m), free(a), free(scratch), free(other), free(diff), free(work), free(g);
    free(acc), free(base), free(fd), free(md), free(ad);
}

/* With m = 1 the guided loss is the plain one, bit for bit. */
static void check_ones(int N, int M)
{
    size_t nf = (size_t)N * M;
    float *f = rand_floats(nf, 1.0), *a = malloc(sizeof(float) * N * N);
    float *ones = malloc(sizeof(float) * M), *scratch = malloc(sizeof(float) * loss_scratch_floats(N));
    for (int j = 0; j < M; j++) ones[j] = 1.0f;
    float *other = rand_floats((size_t)N * M, 1.0);
    gram_compute(a, other, N, M, scratch, pool);
    mask_levels ml;
    CHECK(mask_levels_build(&ml, ones, M, 1, 1, 1u) == NST_OK, "levels");
    CHECK(ml.scale[0] == 1.0f, "scale of all ones %.9g", ml.scale[0]);
    float *d1 = malloc(sizeof(float) * N * N), *d2 = malloc(sizeof(float) * N * N);
    float *work = malloc(sizeof(float) * nf), *g1 = calloc(nf, sizeof(float));
    float *g2 = calloc(nf, sizeof(float));
    double e1 = style_loss(d1, f, a, N, M, scratch, pool);
    double e2 = mask_style_loss(d2, work, f, ones, ml.scale[0], a, N, M, scratch, pool);
    style_grad(g1, 0.75f, f, d1, N, M, 0, scratch, pool);
    mask_style_grad(g2, 0.75f, work, f, ones, ml.scale[0], d2, N, M, scratch, pool);
    CHECK(e1 == e2, "all ones: E %.17g, unmasked %.17g", e2, e1);
    CHECK(memcmp(g1, g2, sizeof(float) * nf) == 0, "all ones: the gradient differs");
    mask_levels_free(&ml);
    free(f), free(a), free(ones), free(scratch), free(other), free(d1), free(d2), free(work);
    free(g1), free(g2);
}

static void test_guided_style(void)
{
    check_guided(1, 1, 0);
    check_guided(4, 9, 0);
    check_guided(16, 25, 0);
    check_guided(5, 200, 0); /* the Gram split by columns */
    check_guided(13, 300, 0);
    check_guided(6, 40, 1);
    check_ones(16, 25);
    check_ones(13, 1000);
}

/* ------------------------------------------------------------ weighted content */

typedef struct {
    int C, M;
    const double *target, *w;
} content_ctx;

static double ref_content(const double *feat, const void *ctx_)
{
    const content_ctx *c = ctx_;
    double s = 0;
    for (int i = 0; i < c->C * c->M; i++) {
        double d = feat[i] - c->target[i];
        s += c->w[i % c->M] * d * d;
    }
    return 0.5 * s;
}

static void test_weighted_content(void)
{
    enum { C = 7, M = 60 };
    float *f = rand_floats(C * M, 1.0), *p = rand_floats(C * M, 1.0), *w = rand_mask(M);
    for (int j = 0; j < M; j++) w[j] = 1.0f + 4.0f * w[j];
    float *g = calloc(C * M, sizeof(float));
    double l = mask_content_loss(f, p, w, C, M);
    mask_content_grad(g, 1.0f, f, p, w, C, M);
    double fd[C * M], pd[C * M], wd[M];
    for (int i = 0; i < C * M; i++) fd[i] = f[i], pd[i] = p[i];
    for (int j = 0; j < M; j++) wd[j] = w[j];
    content_ctx ctx = {C, M, pd, wd};
    double ref = ref_content(fd, &ctx), worst = test_fd_worst(ref_content, &ctx, fd, g, C * M, 0, 1e-3);
    printf("  weighted content L %.6g (ref %.6g)  fd worst rel diff %.2e\n", l, ref, worst);
    CHECK(test_rel_diff(l, ref, 1e-12) < 1e-6, "value %.9g vs %.9g", l, ref);
    CHECK(worst < 1e-4, "finite differences: %g", worst);
    free(f), free(p), free(w), free(g);
}

/* ------------------------------------------------------------ the objective */

static nst_model *model;

/* Value, parts and gradient of an objective at the test point x. */
static void eval(const nst_params *p, const nst_image *content, const nst_image *styles, int ns,
                 const nst_masks *masks, const nst_image *x, nst_losses *parts, float *g)
{
    nst_objective *o = NULL;
    nst_error e = {0};
    CHECK(nst_objective_create(model, p, content, styles, ns, masks, 2, &o, &e) == 0, "%s",
          e.message);
    if (!o) return;
    nst_objective_value(o, x->data, parts);
    nst_objective_gradient(o, x->data, g);
    nst_objective_free(o);
}

/* One style with an all-ones mask, and an all-black content mask (of other
 * sizes than the output's: resized), give today's loss and gradient
 * exactly. */
static void test_objective_ones(void)
{
    int w = 40, h = 28;
    nst_params p;
    nst_error e = {0};
    nst_params_default(&p, model);
    const char *json = "{\"beta\":1e4,\"content_layers\":[\"conv2_2\",\"conv4_2\"]}";
    CHECK(nst_params_parse(&p, json, strlen(json), NULL, &e) == 0, "%s", e.message);
    nst_image content, style, x, white, black;
    testimg_make(&content, "content", w, h);
    testimg_make(&style, "style0", 33, 50);
    testimg_make(&x, "x", w, h);
    nst_image_alloc(&white, 17, 9);
    nst_image_alloc(&black, 90, 61); /* zeroed */
    for (int i = 0; i < 3 * 17 * 9; i++) white.data[i] = 1.0f;
    size_t n = (size_t)3 * w * h;
    float *g0 = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float));
    float *g2 = malloc(n * sizeof(float));
    nst_losses l0, l1, l2;
    nst_masks ones = {.content = NULL}, keep_none = {.content = &black};
    ones.style[0] = &white;
    eval(&p, &content, &style, 1, NULL, &x, &l0, g0);
    eval(&p, &content, &style, 1, &ones, &x, &l1, g1);
    eval(&p, &content, &style, 1, &keep_none, &x, &l2, g2);
    printf("  unmasked total %.9g, all-ones style mask %.9g, all-black content mask %.9g\n",
           l0.total, l1.total, l2.total);
    CHECK(memcmp(&l0, &l1, sizeof l0) == 0, "all-ones mask: losses differ");
    CHECK(memcmp(g0, g1, n * sizeof(float)) == 0, "all-ones mask: the gradient differs");
    CHECK(memcmp(&l0, &l2, sizeof l0) == 0, "all-black content mask: losses differ");
    CHECK(memcmp(g0, g2, n * sizeof(float)) == 0, "all-black content mask: the gradient differs");
    free(g0), free(g1), free(g2);
    nst_image_free(&content), nst_image_free(&style), nst_image_free(&x);
    nst_image_free(&white), nst_image_free(&black);
}

/* Two styles masked left and right: swapping the masks changes the loss,
 * and a mask that covers nothing leaves only the other style's term,
 * weighed by its blend weight. */
static void test_objective_regions(void)
{
    int w = 32, h = 24;
    nst_params p;
    nst_params_default(&p, model);
    nst_image content, styles[2], x, left, right, black;
    testimg_make(&content, "content", w, h);
    testimg_make(&styles[0], "style0", w, h);
    testimg_make(&styles[1], "style1", w, h);
    testimg_make(&x, "x", w, h);
    testimg_make(&left, "mask_left", w, h);
    testimg_make(&right, "mask_right", w, h);
    nst_image_alloc(&black, 8, 8);
    size_t n = (size_t)3 * w * h;
    float *g = malloc(n * sizeof(float));
    nst_losses a, b, only1, plain1;
    nst_masks lr = {.content = NULL}, rl = {.content = NULL}, none0 = {.content = NULL};
    lr.style[0] = &left, lr.style[1] = &right;
    rl.style[0] = &right, rl.style[1] = &left;
    none0.style[0] = &black, none0.style[1] = &right;
    eval(&p, &content, styles, 2, &lr, &x, &a, g);
    eval(&p, &content, styles, 2, &rl, &x, &b, g);
    eval(&p, &content, styles, 2, &none0, &x, &only1, g);
    /* style 1 alone, masked right: its term weighed all of the style
     * weight, not the half of two equal blend weights */
    nst_masks right1 = {.content = NULL};
    right1.style[0] = &right;
    eval(&p, &content, &styles[1], 1, &right1, &x, &plain1, g);
    printf("  style loss masks left/right %.6g, right/left %.6g, style 1 alone %.6g (%.6g)\n",
           a.style, b.style, only1.style, plain1.style);
    CHECK(test_rel_diff(a.style, b.style, 1e-30) > 1e-3, "swapping the masks changed nothing");
    CHECK(test_rel_diff(only1.style, 0.5 * plain1.style, 1e-30) < 1e-5,
          "an all-black mask should leave the other style's term: %.9g vs %.9g", only1.style,
          0.5 * plain1.style);
    free(g);
    nst_image_free(&content), nst_image_free(&styles[0]), nst_image_free(&styles[1]);
    nst_image_free(&x), nst_image_free(&left), nst_image_free(&right), nst_image_free(&black);
}

static void suite(void)
{
    TEST_RUN(test_levels);
    TEST_RUN(test_guided_style);
    TEST_RUN(test_weighted_content);
}

int main(void)
{
    test_with_pools(&pool, suite);
    nst_error e;
    CHECK(nst_model_random(&model, &e) == 0, "%s", e.message);
    if (model) {
        TEST_RUN(test_objective_ones);
        TEST_RUN(test_objective_regions);
    }
    nst_model_free(model);
    return TEST_EXIT();
}
