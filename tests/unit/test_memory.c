/*
 * test_memory.c — nst_transfer_memory, the peak-memory estimate a server
 * refuses jobs by: it grows with the output size, the input images, the
 * style images' count and style_scale; it does not depend on iterations;
 * and the bytes a real transfer holds while it optimises (read from the
 * allocator's own counters at every progress callback, not from the RSS)
 * stay under it, with masks too. nst_net_bytes is what nst_net_create
 * allocates.
 */
#include <malloc.h>
#include <stdlib.h>

#include "test.h"
#include "testimg.h"
#include "vgg.h"

static nst_model *model;

static size_t est(const char *json, int cw, int ch, const int *wh, int n)
{
    nst_params p;
    nst_error e = {0};
    nst_params_default(&p, model);
    if (json) CHECK(nst_params_parse(&p, json, strlen(json), NULL, &e) == 0, "%s", e.message);
    return nst_transfer_memory(model, &p, cw, ch, wh, n);
}

/* Bytes malloc hands out now: the main arena's and the mmapped blocks. */
static size_t allocated(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* Whether glibc's counters see this build's allocations: under a
 * sanitizer's allocator they stay at zero, and the checks that read them
 * cannot run (the Release build runs them). */
static int counters_work(void)
{
    size_t before = allocated();
    volatile char *p = malloc(1 << 20);
    int works = p && allocated() >= before + (1 << 20);
    free((void *)p);
    if (!works)
        printf("  glibc's allocation counters do not see this build's allocations "
               "(a sanitizer's allocator): the checks that read them are not run here\n");
    return works;
}

static void test_grows_with_size(void)
{
    int style[2] = {512, 512};
    size_t prev = 0;
    for (int s = 64; s <= 2048; s *= 2) {
        char json[64];
        snprintf(json, sizeof json, "{\"image_size\": %d}", s);
        size_t b = est(json, 640, 480, style, 1);
        CHECK(b > prev, "image_size %d: %zu bytes, not more than %zu", s, b, prev);
        prev = b;
    }
    /* the content as decoded is held for the run */
    CHECK(est(NULL, 4000, 3000, style, 1) >=
              est(NULL, 640, 480, style, 1) + (4000 * 3000 - 640 * 480) * 12,
          "a larger content input");
    CHECK(est(NULL, 640, 480, style, 1) > 0 && est(NULL, 0, 480, style, 1) == 0, "no pixels");
}

static void test_grows_with_styles(void)
{
    int styles[8] = {512, 512, 512, 512, 2048, 2048, 300, 200};
    size_t one = est(NULL, 640, 480, styles, 1), two = est(NULL, 640, 480, styles, 2);
    CHECK(two > one, "two styles %zu, one %zu", two, one);
    CHECK(est(NULL, 640, 480, styles, 3) > two, "a large third style");
    size_t s1 = est("{\"style_scale\": 1}", 640, 480, styles + 4, 1);
    size_t s2 = est("{\"style_scale\": 2}", 640, 480, styles + 4, 1);
    size_t s4 = est("{\"style_scale\": 4}", 640, 480, styles + 4, 1);
    CHECK(s1 < s2 && s2 < s4, "style_scale 1, 2, 4: %zu %zu %zu", s1, s2, s4);
    /* style_scale 4 at 512 px: a 2048 px style network, 4x the output's area
     * over 16 times as many pixels, dominates */
    CHECK(s4 > 4 * s1 / 2, "style_scale 4 (%zu) is not much more than 1 (%zu)", s4, s1);
}

static void test_iterations_independent(void)
{
    int style[2] = {512, 512};
    size_t a = est("{\"iterations\": 1}", 640, 480, style, 1);
    size_t b = est("{\"iterations\": 100000}", 640, 480, style, 1);
    CHECK(a == b, "iterations 1: %zu, 100000: %zu", a, b);
    size_t adam = est("{\"optimizer\": \"adam\"}", 640, 480, style, 1);
    CHECK(adam < a, "Adam %zu is not under L-BFGS %zu (no history)", adam, a);
    CHECK(est("{\"scales\": 3}", 640, 480, style, 1) >= a, "coarse to fine keeps the peak");
}

static void test_net_bytes(void)
{
    if (!counters_work()) return;
    size_t before = allocated();
    nst_net *net = nst_net_create(model, 200, 150, NST_NUM_LAYERS, NST_POOL_MAX, 1);
    size_t used = allocated() - before, planned = nst_net_bytes(200, 150, NST_NUM_LAYERS);
    CHECK(net, "net");
    CHECK(used >= planned && used <= planned + (256u << 10), "allocated %zu, planned %zu", used,
          planned);
    nst_net_free(net);
    /* with its weights kept: what nst_net_kept_bytes adds */
    int wh[2] = {200, 150};
    before = allocated();
    net = nst_net_create_sizes(model, wh, 1, NST_NUM_LAYERS, 0, 1, NST_POOL_MAX, 1);
    used = allocated() - before;
    size_t kept = nst_net_kept_bytes(wh, 1, NST_NUM_LAYERS);
    planned = nst_net_bytes_sizes(wh, 1, NST_NUM_LAYERS, 0, 1);
    CHECK(net && kept > 0 && planned == nst_net_bytes(200, 150, NST_NUM_LAYERS) + kept,
          "kept %zu, planned %zu", kept, planned);
    CHECK(used >= planned && used <= planned + (256u << 10), "kept: allocated %zu, planned %zu",
          used, planned);
    nst_net_free(net);
    CHECK(nst_net_bytes(8, 8, NST_NUM_LAYERS) == 0, "too small for the depth");
}

typedef struct {
    size_t base, peak;
} sample;

static void on_progress(const nst_progress *pr, void *user)
{
    sample *s = user;
    (void)pr;
    size_t now = allocated() - s->base;
    if (now > s->peak) s->peak = now;
}

/* What a transfer holds while it optimises, inputs included, is at most the
 * estimate without its fixed allowance for threads, and not far below when
 * `tight` (the optimisation is the peak, not the style images' networks,
 * which are gone by then). */
static void check_bound(const char *json, int cw, int ch, int sw, int sh, int tight, int masked)
{
    nst_params p;
    nst_error e = {0};
    nst_params_default(&p, model);
    CHECK(nst_params_parse(&p, json, strlen(json), NULL, &e) == 0, "%s", e.message);
    sample s = {allocated(), 0};
    nst_image content, style, out = {0};
    testimg_make(&content, "content", cw, ch);
    testimg_make(&style, "style0", sw, sh);
    int wh[2] = {sw, sh};
    /* masked: a mask on the style (150×200) and a content mask (40×30) */
    nst_image mask = {0}, keep = {0};
    int mask_wh[4] = {150, 200, 40, 30};
    nst_masks masks = {.content = &keep};
    masks.style[0] = &mask;
    if (masked) testimg_make(&mask, "mask_left", 150, 200), testimg_make(&keep, "mask_spot", 40, 30);
    size_t bound = nst_transfer_memory_masked(model, &p, cw, ch, wh, 1, masked ? mask_wh : NULL) -
                   (64u << 20);
    nst_callbacks cb = {.progress = on_progress, .user = &s, .threads = 1};
    CHECK(nst_transfer_masked(model, &p, &content, &style, 1, masked ? &masks : NULL, &cb, &out,
                              &e) == 0, "%s", e.message);
    nst_image_free(&mask);
    nst_image_free(&keep);
    CHECK(s.peak <= bound, "%s: held %zu bytes, estimate %zu", json, s.peak, bound);
    CHECK(!tight || s.peak * 3 >= bound, "%s: held %zu bytes, estimate %zu is too loose", json, s.peak,
          bound);
    printf("  %s: held %.1f MiB, estimate %.1f MiB (+64)\n", json, s.peak / 1048576.0,
           bound / 1048576.0);
    nst_image_free(&out);
    nst_image_free(&content);
    nst_image_free(&style);
}

static void test_bound_holds(void)
{
    if (!counters_work()) return;
    check_bound("{\"image_size\": 96, \"iterations\": 3}", 120, 90, 80, 100, 1, 0);
    check_bound("{\"image_size\": 128, \"iterations\": 8, \"optimizer\": \"adam\"}", 64, 64,
                200, 150, 1, 0);
    check_bound("{\"image_size\": 64, \"iterations\": 4, \"style_scale\": 3}", 64, 48, 64, 64, 0, 0);
    check_bound("{\"image_size\": 96, \"iterations\": 3, \"style_layers\": [\"conv1_1\"]}", 120, 90,
                80, 100, 1, 1);
    check_bound("{\"image_size\": 128, \"iterations\": 3, \"scales\": 2}", 120, 90, 80, 100, 1, 1);
}

/* The network keeps its prepared weights when the memory limit holds them
 * beside everything else, and only then: a limit a byte short of that
 * estimate gives the same job untiled, without them, at the same history
 * (its estimate that much lower). */
static void test_kept_weights_budget(void)
{
    int wh[2] = {512, 512}, net_wh[2] = {512, 384};
    nst_params p;
    nst_params_default(&p, model);
    size_t with = nst_transfer_memory(model, &p, 640, 480, wh, 1);
    size_t kept = nst_net_kept_bytes(net_wh, 1, NST_NUM_LAYERS - 3); /* through conv5_1 */
    p.memory_limit = with;
    CHECK(nst_transfer_memory(model, &p, 640, 480, wh, 1) == with &&
              nst_transfer_tile(&p, 640, 480, wh, 1, NULL) == 0,
          "a limit of the estimate keeps the weights");
    p.memory_limit = with - 1;
    size_t without = nst_transfer_memory(model, &p, 640, 480, wh, 1);
    CHECK(nst_transfer_tile(&p, 640, 480, wh, 1, NULL) == 0, "a byte less: still untiled");
    CHECK(kept > (300u << 20) && without + kept <= with && without + kept + 4 > with,
          "a byte less: %zu without the weights, %zu with, %zu kept", without, with, kept);
    printf("  512x384: %.1f MiB with the weights kept, %.1f MiB without\n", with / 1048576.0,
           without / 1048576.0);
}

/* Masks add to the estimate: the masks as decoded, each layer's mask and
 * the masked features; a bigger mask costs more. */
static void test_grows_with_masks(void)
{
    nst_params p;
    nst_params_default(&p, model);
    int wh[4] = {512, 512, 512, 512};
    int small[6] = {64, 64, 0, 0, 0, 0}, big[6] = {2048, 2048, 0, 0, 0, 0};
    int both[6] = {64, 64, 64, 64, 64, 64};
    size_t none = nst_transfer_memory(model, &p, 640, 480, wh, 2);
    size_t a = nst_transfer_memory_masked(model, &p, 640, 480, wh, 2, small);
    size_t b = nst_transfer_memory_masked(model, &p, 640, 480, wh, 2, big);
    size_t c = nst_transfer_memory_masked(model, &p, 640, 480, wh, 2, both);
    CHECK(nst_transfer_memory_masked(model, &p, 640, 480, wh, 2, NULL) == none, "NULL: no masks");
    CHECK(a > none && b > a && c > a, "none %zu, one small mask %zu, one big %zu, three %zu", none,
          a, b, c);
}

/* nst_image_verify decodes what nst_image_decode decodes and refuses what
 * it refuses, keeping nothing: a PNG whose header is whole but whose pixel
 * data is cut short passes the probe and fails verification. */
static void test_verify(void)
{
    nst_image img;
    unsigned char *png;
    size_t len;
    nst_error e = {0};
    testimg_make(&img, "content", 64, 48);
    CHECK(nst_image_encode_png(&img, &png, &len) == 0, "encode");
    CHECK(nst_image_verify(png, len, 0, &e) == 0, "whole PNG: %s", e.message);
    CHECK(nst_image_verify(png, len, 64 * 48 - 1, &e) == NST_ETOOBIG, "over the pixel limit");
    /* pixel data spoilt behind a whole header: the header passes, the data not */
    int w, h;
    for (size_t i = len / 2; i < len / 2 + 32 && i < len - 12; i++) png[i] = 0xff;
    CHECK(nst_image_probe(png, len, 0, &w, &h, &e) == 0 && w == 64 && h == 48,
          "header of the spoilt PNG");
    CHECK(nst_image_verify(png, len, 0, &e) == NST_EIMAGE, "spoilt PNG verified");
    free(png);
    nst_image_free(&img);
    CHECK(nst_image_decode_memory(1000, 1000) >= 19u * 1000 * 1000, "decode memory");
}

int main(void)
{
    nst_error e;
    if (nst_model_random(&model, &e)) {
        fprintf(stderr, "model: %s\n", e.message);
        return 1;
    }
    TEST_RUN(test_grows_with_size);
    TEST_RUN(test_grows_with_styles);
    TEST_RUN(test_grows_with_masks);
    TEST_RUN(test_iterations_independent);
    TEST_RUN(test_net_bytes);
    TEST_RUN(test_kept_weights_budget);
    TEST_RUN(test_bound_holds);
    TEST_RUN(test_verify);
    nst_model_free(model);
    return TEST_EXIT();
}
