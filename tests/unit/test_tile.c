/*
 * test_tile.c — the tiled evaluation (objective.h, nst_objective_create_tiled)
 * from the outside: at sizes where both fit, its loss and image gradient
 * equal the untiled objective's (within 1e-4 relative) with tiles much
 * smaller than the image, for max and avg pooling, shallow and deep layer
 * sets, even and odd sizes; a short transfer whose memory_limit forces
 * tiles equals the untiled one and shows no step across the tile
 * boundaries; the estimate with tiles stays within the limit, and a limit
 * below what x and the optimiser alone need is not met. With masks (a
 * masked style, an unmasked one, a content mask) too. The net's backward
 * pass of a rect of pixels (what a tile's interior asks for) equals that
 * rect of the whole image's gradient. Uses the embedded vgg19-random model
 * and generated images.
 */
#include <math.h>
#include <stdlib.h>

#include "objective.h"
#include "test.h"
#include "vgg.h"
#include "testimg.h"

static nst_model *model;

/* Under AddressSanitizer the arithmetic runs about 4× slower: the cases
 * marked FULL (other pooling on the same layers, the middle layers at
 * 328×216 rather than 256×176) run in the Release stage only; the others
 * still take every code path (border and interior tiles, masks, TV, deep
 * and shallow margins) under it. */
#if defined(__SANITIZE_ADDRESS__)
#define FULL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FULL 0
#endif
#endif
#ifndef FULL
#define FULL 1
#endif

static void params_for(nst_params *p, const char *json)
{
    nst_error e = {0};
    nst_params_default(p, model);
    if (json) CHECK(nst_params_parse(p, json, strlen(json), NULL, &e) == 0, "%s: %s", json, e.message);
}

/* Loss and gradient of the objective of `tile` (0: untiled) at x; with
 * masks (not NULL), two styles. */
static double eval(const nst_params *p, const nst_image *content, const nst_image *style,
                   const nst_image *x, int tile, float *g, nst_losses *parts,
                   const nst_masks *masks)
{
    nst_objective *o = NULL;
    nst_error e = {0};
    CHECK(nst_objective_create_tiled(model, p, content, style, masks ? 2 : 1, masks, 2, tile, 1, &o,
                                     &e) == 0,
          "create (tile %d): %s", tile, e.message);
    if (!o) return NAN;
    double f = nst_objective_value(o, x->data, parts);
    nst_objective_gradient(o, x->data, g);
    nst_objective_free(o);
    return f;
}

/* The tiled objective against the untiled one at w×h with tiles of `tile`;
 * masked: a second style, the first with a mask, and a content mask. */
static void check_exact_masks(const char *json, int w, int h, int tile, int masked)
{
    nst_params p;
    params_for(&p, json);
    nst_image content, style[2], x, m0, cm;
    testimg_make(&content, "content", w, h);
    testimg_make(&style[0], "style0", w * 3 / 4, h);
    testimg_make(&style[1], "style1", w, h * 3 / 4);
    testimg_make(&x, "x", w, h);
    testimg_make(&m0, "mask_left", w / 2, h / 2);
    testimg_make(&cm, "mask_spot", w, h);
    nst_masks masks = {.style = {&m0, NULL}, .content = &cm};
    size_t n = (size_t)3 * w * h;
    float *g0 = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float));
    nst_losses a, b;
    double f0 = eval(&p, &content, style, &x, 0, g0, &a, masked ? &masks : NULL);
    double f1 = eval(&p, &content, style, &x, tile, g1, &b, masked ? &masks : NULL);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)g0[i] - g1[i]));
        scale = fmax(scale, fabs((double)g0[i]));
    }
    double rel_f = fabs(f1 - f0) / fabs(f0), rel_g = worst / scale;
    printf("  %-70s%s %dx%d tile %d: loss %.6g (content %.4g style %.4g) rel %.1e, grad rel %.1e\n",
           json, masked ? " masks" : "", w, h, tile, f0, a.content, a.style, rel_f, rel_g);
    CHECK(rel_f <= 1e-4, "%s %dx%d tile %d: loss %.9g tiled, %.9g untiled", json, w, h, tile, f1,
          f0);
    CHECK(fabs(b.content - a.content) <= 1e-4 * fabs(a.content) &&
              fabs(b.style - a.style) <= 1e-4 * fabs(a.style),
          "%s: parts content %g/%g style %g/%g", json, b.content, a.content, b.style, a.style);
    CHECK(rel_g <= 1e-4, "%s %dx%d tile %d: gradient max |diff| %g of max |g| %g", json, w, h,
          tile, worst, scale);
    CHECK(a.content > 0 && a.style > 0, "%s: a loss part is 0", json);
    free(g0), free(g1);
    nst_image_free(&content), nst_image_free(&style[0]), nst_image_free(&style[1]);
    nst_image_free(&x), nst_image_free(&m0), nst_image_free(&cm);
}

static void check_exact(const char *json, int w, int h, int tile)
{
    check_exact_masks(json, w, h, tile, 0);
}

/* The default layers (content conv4_2, style conv1_1 … conv5_1): the value
 * pass's margin is 96 px, the gradient's 160; shallower sets have smaller
 * margins, so that their gradient pass runs on tiles smaller than the image
 * too. */
#define SHALLOW "\"content_layers\":[\"conv2_2\"],\"style_layers\":[\"conv1_1\",\"conv2_1\",\"conv3_1\"]"
#define MIDDLE "\"content_layers\":[\"conv4_2\"],\"style_layers\":[\"conv1_1\",\"conv2_1\",\"conv3_1\",\"conv4_1\"]"

static void test_exact(void)
{
    check_exact("{\"pooling\":\"max\"}", 160, 112, 48);
    if (FULL) check_exact("{\"pooling\":\"avg\"}", 200, 136, 48);
    check_exact("{\"pooling\":\"max\"," SHALLOW "}", 160, 112, 32);
    check_exact("{\"pooling\":\"avg\"," SHALLOW "}", 200, 136, 32);
    check_exact("{\"pooling\":\"max\"," SHALLOW ",\"tv_weight\":0.01}", 200, 136, 16);
    if (FULL) check_exact("{\"pooling\":\"max\"," MIDDLE "}", 328, 216, 64);
    check_exact("{\"pooling\":\"avg\"," MIDDLE "}", FULL ? 328 : 256, FULL ? 216 : 176, 64);
}

/* A masked style, an unmasked one and a content mask. */
static void test_exact_masks(void)
{
    check_exact_masks("{\"pooling\":\"max\"}", 160, 112, 48, 1);
    check_exact_masks("{\"pooling\":\"max\"," SHALLOW "}", 200, 136, 32, 1);
    if (FULL) check_exact_masks("{\"pooling\":\"avg\"," MIDDLE "}", 328, 216, 64, 1);
}

/* A tile that is not a multiple of 16: refused. */
static void test_refusals(void)
{
    nst_params p;
    params_for(&p, NULL);
    nst_image content, style, mask;
    testimg_make(&content, "content", 64, 48);
    testimg_make(&style, "style0", 64, 48);
    testimg_make(&mask, "mask_left", 64, 48);
    nst_objective *o = NULL;
    nst_error e = {0};
    CHECK(nst_objective_create_tiled(model, &p, &content, &style, 1, NULL, 0, 24, 0, &o, &e) ==
              NST_EINVAL && !o,
          "a 24 px tile accepted");
    nst_image_free(&content), nst_image_free(&style), nst_image_free(&mask);
}

/* A limit with which nst_transfer tiles a w×h job with tiles of `tile`
 * px or a little more: the untiled estimate at the smallest history with
 * the tiled objective's bytes in place of the untiled one's. */
static size_t tiling_limit(const nst_params *p0, int w, int h, const int *style_wh, int tile)
{
    nst_params p = *p0;
    p.memory_limit = 1; /* nothing left: the smallest history, untiled */
    size_t untiled = nst_transfer_memory(model, &p, w, h, style_wh, 1);
    return untiled - nst_objective_bytes(&p, w, h, style_wh, 1, NULL) +
           nst_objective_tiled_bytes(&p, w, h, style_wh, 1, NULL, tile);
}

static void test_estimate(void)
{
    nst_params p;
    params_for(&p, "{\"image_size\":512}");
    int wh[2] = {400, 300};
    size_t limit = tiling_limit(&p, 512, 384, wh, 128);
    p.memory_limit = limit;
    int tile = nst_transfer_tile(&p, 512, 384, wh, 1, NULL);
    size_t est = nst_transfer_memory(model, &p, 512, 384, wh, 1);
    printf("  512x384 within %.1f MiB: tile %d, estimate %.1f MiB\n", limit / 1048576.0, tile,
           est / 1048576.0);
    CHECK(tile > 0 && tile % nst_objective_tile_align() == 0, "tile %d", tile);
    CHECK(est <= limit, "estimate %zu over the limit %zu", est, limit);
    /* no limit, or a limit the untiled job fits: untiled, as before */
    p.memory_limit = 0;
    CHECK(nst_transfer_tile(&p, 512, 384, wh, 1, NULL) == 0, "tiles without a limit");
    p.memory_limit = (size_t)1 << 40;
    CHECK(nst_transfer_tile(&p, 512, 384, wh, 1, NULL) == 0, "tiles within a large limit");
    /* below x, g and the optimiser's vectors: no tile helps, the estimate
     * stays over the limit (the callers refuse with both figures) */
    p.memory_limit = (size_t)3 * 512 * 384 * sizeof(float) * 10;
    est = nst_transfer_memory(model, &p, 512, 384, wh, 1);
    CHECK(nst_transfer_tile(&p, 512, 384, wh, 1, NULL) == 0 && est > p.memory_limit,
          "an impossible limit %zu: estimate %zu", p.memory_limit, est);
    /* a job whose gradient tiles would cover the whole image stays
     * untiled, and its estimate is its refusal's exact figure */
    params_for(&p, "{\"image_size\":256}");
    p.memory_limit = 1;
    p.memory_limit = nst_transfer_memory(model, &p, 256, 192, wh, 1) - 1;
    CHECK(nst_transfer_tile(&p, 256, 192, wh, 1, NULL) == 0, "a 256 px job tiled");
    /* a 4096 px job within 4 GiB and a 2048 px job within 1.5 GiB: tiled */
    params_for(&p, "{\"image_size\":4096}");
    int big[2] = {4096, 3072};
    p.memory_limit = (size_t)4 << 30;
    tile = nst_transfer_tile(&p, 4096, 3072, big, 1, NULL);
    est = nst_transfer_memory(model, &p, 4096, 3072, big, 1);
    printf("  4096x3072 within 4 GiB: tile %d, estimate %.1f MiB\n", tile, est / 1048576.0);
    CHECK(tile > 0 && est <= p.memory_limit, "4096: tile %d estimate %zu", tile, est);
    params_for(&p, "{\"image_size\":2048}");
    p.memory_limit = (size_t)1536 << 20;
    tile = nst_transfer_tile(&p, 2048, 1536, big, 1, NULL);
    est = nst_transfer_memory(model, &p, 2048, 1536, big, 1);
    printf("  2048x1536 within 1.5 GiB: tile %d, estimate %.1f MiB\n", tile, est / 1048576.0);
    CHECK(tile > 0 && est <= p.memory_limit, "2048: tile %d estimate %zu", tile, est);
}

/* Mean |x(y,x+1) − x(y,x)| over the columns x → x+1 in cols (or rows). */
static double step_at(const nst_image *im, int pos, int across)
{
    double sum = 0;
    int n = across ? im->h : im->w;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < n; i++) {
            size_t a = across ? ((size_t)c * im->h + i) * im->w + pos
                              : ((size_t)c * im->h + pos) * im->w + i;
            size_t b = across ? a + 1 : a + im->w;
            sum += fabs(im->data[a] - im->data[b]);
        }
    return sum / (3.0 * n);
}

/* A short transfer with tiles forced by the memory limit: the result is
 * the untiled run's (five iterations: the histories of both runs are full
 * of the same pairs) and no tile boundary steps more than the interior's
 * neighbouring pixels do. */
static void test_seams(void)
{
    const char *json = "{\"image_size\":256,\"iterations\":5,\"init\":\"content\"," SHALLOW "}";
    nst_params p;
    params_for(&p, json);
    nst_image content, style, a = {0}, b = {0};
    testimg_make(&content, "content", 256, 192);
    testimg_make(&style, "style0", 200, 150);
    int wh[2] = {200, 150};
    p.memory_limit = tiling_limit(&p, 256, 192, wh, 48);
    int tile = nst_transfer_tile(&p, 256, 192, wh, 1, NULL);
    CHECK(tile > 0 && tile < 128, "tile %d: not several tiles each way", tile);
    nst_error e = {0};
    nst_callbacks cb = {.threads = 2};
    CHECK(nst_transfer(model, &p, &content, &style, 1, &cb, &a, &e) == 0, "tiled: %s", e.message);
    nst_params q = p;
    q.memory_limit = 0;
    CHECK(nst_transfer(model, &q, &content, &style, 1, &cb, &b, &e) == 0, "untiled: %s",
          e.message);
    if (!a.data || !b.data || tile <= 0) return;
    double worst = 0, mean = 0;
    for (size_t i = 0; i < (size_t)3 * a.w * a.h; i++) {
        worst = fmax(worst, fabs(a.data[i] - b.data[i]));
        mean += fabs(a.data[i] - b.data[i]);
    }
    mean /= 3.0 * a.w * a.h;
    double edge = 0, inner = 0;
    int n_edge = 0, n_inner = 0;
    for (int across = 0; across < 2; across++) {
        int n = across ? a.w : a.h;
        for (int pos = 0; pos + 1 < n; pos++) {
            double s = step_at(&a, pos, across);
            if ((pos + 1) % tile == 0) {
                edge = fmax(edge, s);
                n_edge++;
            } else {
                inner += s;
                n_inner++;
            }
        }
    }
    inner /= n_inner;
    printf("  tile %d: %d boundaries, largest mean step %.4f, interior mean %.4f; |tiled − untiled| "
           "max %.2e mean %.2e\n", tile, n_edge, edge, inner, worst, mean);
    CHECK(n_edge >= 4, "%d tile boundaries", n_edge);
    CHECK(edge <= 1.5 * inner, "a tile boundary steps %.4f, the interior %.4f", edge, inner);
    /* the same run up to float rounding, which L-BFGS's line search
     * amplifies in a few pixels */
    CHECK(mean <= 1e-4 && worst <= 2e-2, "tiled and untiled results differ by %g (mean %g)",
          worst, mean);
    nst_image_free(&a), nst_image_free(&b), nst_image_free(&content), nst_image_free(&style);
}

/* A hook adding ½ Σ act² of a few layers: the same at every position. */
static int square_grad(int l, const float *act, float *grad, int C, int H, int W, int x0, int y0,
                       int masked, void *user)
{
    (void)x0, (void)y0, (void)user;
    if (l != 0 && l != 2 && l != 5 && l != 9 && l != 12) return masked;
    for (size_t i = 0; i < (size_t)C * H * W; i++) grad[i] += act[i] * 1e-3f;
    return 0;
}

/* nst_net_backward_rect: the gradient of a rect of pixels, each layer's
 * backward run on the positions that reach it only, equals that rect of
 * the whole image's gradient, inside and at every border, with the
 * gradient buffers of a net planned for a crop of that side; written at
 * the rect's place in an image-sized array, nothing outside it. */
static void test_backward_rect(void)
{
    const int W = 120, H = 88, T = 32, depth = 13;
    const size_t plane = (size_t)W * H;
    for (int pool = 0; pool < 2; pool++) {
        nst_pooling pooling = pool ? NST_POOL_AVG : NST_POOL_MAX;
        nst_net *whole = nst_net_create(model, W, H, depth, pooling, 2);
        int wh[2] = {W, H};
        nst_net *crop = nst_net_create_sizes(model, wh, 1, depth, T, 0, pooling, 2);
        CHECK(whole && crop, "nets");
        CHECK(nst_net_bytes_sizes(wh, 1, depth, T, 0) < nst_net_bytes(W, H, depth),
              "a crop's net is not smaller");
        nst_image x;
        testimg_make(&x, "x", W, H);
        float *g = malloc(3 * plane * sizeof(float)), *r = malloc(3 * plane * sizeof(float));
        nst_net_forward(whole, x.data);
        nst_net_backward(whole, g, square_grad, NULL);
        nst_net_forward(crop, x.data);
        static const int at[][2] = {{0, 0}, {48, 32}, {96, 0}, {16, 64}, {96, 64}};
        double worst = 0, scale = 0;
        size_t wrong = 0;
        for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
            int x0 = at[k][0], y0 = at[k][1];
            int x1 = x0 + T < W ? x0 + T : W, y1 = y0 + T < H ? y0 + T : H;
            for (size_t i = 0; i < 3 * plane; i++) r[i] = NAN;
            CHECK(nst_net_backward_rect(crop, r + (size_t)y0 * W + x0, (size_t)W, plane, x0, y0, x1,
                                        y1, square_grad, NULL) == 0,
                  "rect at %d,%d refused", x0, y0);
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < H; y++)
                    for (int i = 0; i < W; i++) {
                        size_t n = (size_t)c * plane + (size_t)y * W + i;
                        int in = y >= y0 && y < y1 && i >= x0 && i < x1;
                        wrong += in == !!isnan(r[n]); /* unwritten inside, written outside */
                        if (!in) continue;
                        worst = fmax(worst, fabs((double)g[n] - r[n]));
                        scale = fmax(scale, fabs(g[n]));
                    }
        }
        CHECK(wrong == 0, "%zu values unwritten inside or written outside the rects", wrong);
        printf("  %s pooling: rects of %d px against the whole gradient: max |diff| %.1e of %.1e\n",
               pool ? "avg" : "max", T, worst, scale);
        CHECK(scale > 0 && worst <= 1e-5 * scale, "rect gradient differs by %g of %g", worst,
              scale);
        CHECK(nst_net_backward_rect(crop, r, (size_t)W, plane, 0, 0, W, H, square_grad, NULL) == -1,
              "the whole image on a crop's buffers");
        free(g), free(r);
        nst_image_free(&x);
        nst_net_free(whole), nst_net_free(crop);
    }
}

int main(void)
{
    nst_error e;
    if (nst_model_random(&model, &e)) {
        fprintf(stderr, "model: %s\n", e.message);
        return 1;
    }
    TEST_RUN(test_backward_rect);
    TEST_RUN(test_refusals);
    TEST_RUN(test_exact);
    TEST_RUN(test_exact_masks);
    TEST_RUN(test_estimate);
    TEST_RUN(test_seams);
    nst_model_free(model);
    return TEST_EXIT();
}
