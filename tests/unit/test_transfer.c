/*
 * test_transfer.c — the whole engine from the outside of one transfer:
 * the total loss's image gradient through VGG19 against finite differences,
 * convergence, determinism, colour preservation, cancellation, resume and
 * multi-style blends. Uses the embedded vgg19-random model and generated
 * images.
 */
#include <stdlib.h>

#include "objective.h"
#include "test.h"
#include "testimg.h"

static nst_model *model;

/* L(x), and ∇L(x) into g: the two halves the optimisers call apart. */
static double objective_eval(nst_objective *o, const float *x, float *g)
{
    double f = nst_objective_value(o, x, NULL);
    nst_objective_gradient(o, x, g);
    return f;
}

static void params_for(nst_params *p, const char *json)
{
    nst_error e = {0};
    nst_params_default(p, model);
    if (json) CHECK(nst_params_parse(p, json, strlen(json), NULL, &e) == 0, "%s: %s", json, e.message);
}

/* Directional derivative of the objective along random directions vs central
 * differences in the loss (evaluated in double-accumulated float). */
static void gradient_check(const char *json)
{
    nst_params p;
    params_for(&p, json);
    int w = 20, h = 18;
    nst_image content, style, x;
    testimg_make(&content, "content", w, h);
    testimg_make(&style, "style0", w, h);
    testimg_make(&x, "x", w, h);
    nst_objective *o = NULL;
    nst_error e;
    CHECK(nst_objective_create(model, &p, &content, &style, 1, NULL, 0, &o, &e) == 0, "%s", e.message);
    size_t n = (size_t)3 * w * h;
    float *g = malloc(n * sizeof(float)), *g2 = malloc(n * sizeof(float));
    float *xp = malloc(n * sizeof(float)), *v = malloc(n * sizeof(float));
    objective_eval(o, x.data, g);
    unsigned s = 7;
    double worst = 0;
    for (int trial = 0; trial < 4; trial++) {
        double dot = 0;
        for (size_t i = 0; i < n; i++) {
            s = s * 1103515245u + 12345u;
            size_t px = i % ((size_t)w * h), py = px / w, pxx = px % w;
            int in_patch = py >= 4 + 3 * (size_t)trial && py < 10 + 3 * (size_t)trial && pxx >= 6 && pxx < 12;
            v[i] = in_patch ? ((s >> 16) & 0x7fff) / 32768.0f - 0.5f : 0.0f;
            dot += (double)g[i] * v[i];
        }
        /* ReLU kinks and pooling switches make any one step size
         * unreliable, and the loss is summed from float activations, so a
         * difference of two nearby losses carries ~1e-6 relative noise: the
         * best of a few step sizes must agree within 3%. (The exact check is
         * test_reference against PyTorch's autograd, at 1e-4.) */
        double rel = INFINITY, best_fd = 0;
        for (double eps = 1e-2; eps > 1e-4; eps /= 3) {
            for (size_t i = 0; i < n; i++) xp[i] = x.data[i] + (float)eps * v[i];
            double fp = objective_eval(o, xp, g2);
            for (size_t i = 0; i < n; i++) xp[i] = x.data[i] - (float)eps * v[i];
            double fm = objective_eval(o, xp, g2);
            double fd = (fp - fm) / (2 * eps);
            double r = fabs(fd - dot) / fmax(fabs(dot), 1e-12);
            if (r < rel) rel = r, best_fd = fd;
        }
        if (rel > worst) worst = rel;
        CHECK(rel < 3e-2, "%s: directional derivative %.6g vs finite difference %.6g", json, dot,
              best_fd);
    }
    printf("  %s: worst relative difference %.2e\n", json, worst);
    free(g), free(g2), free(xp), free(v);
    nst_objective_free(o);
    nst_image_free(&content), nst_image_free(&style), nst_image_free(&x);
}

static void test_gradient_avg(void)
{
    gradient_check("{\"pooling\":\"avg\",\"beta\":1e4,\"tv_weight\":0.1}");
}

static void test_gradient_max(void)
{
    gradient_check("{\"pooling\":\"max\",\"beta\":1e4,\"tv_weight\":0.1,"
                   "\"content_layers\":[\"conv2_2\",\"conv4_2\"]}");
}

typedef struct {
    int calls, last, cancel_at, previews, gaps;
    int preview_w[64];
    atomic_int cancel;
    double first_total, last_total;
} run_log;

static void on_progress(const nst_progress *pr, void *user)
{
    run_log *r = user;
    if (r->calls++ == 0) r->first_total = pr->loss_total;
    else if (pr->iteration != r->last + 1) r->gaps++;
    r->last = pr->iteration;
    r->last_total = pr->loss_total;
    if (pr->image && r->previews < 64) r->preview_w[r->previews] = pr->image->w;
    if (pr->image) r->previews++;
    if (r->cancel_at && pr->iteration == r->cancel_at) atomic_store(&r->cancel, 1);
}

static int run(const char *json, const nst_image *content, const nst_image *styles, int ns,
               run_log *log, nst_image *out)
{
    nst_params p;
    params_for(&p, json);
    nst_callbacks cb = {.progress = on_progress, .user = log, .cancel = &log->cancel};
    nst_error e = {0};
    int rc = nst_transfer(model, &p, content, styles, ns, &cb, out, &e);
    if (rc && rc != NST_ECANCELED) fprintf(stderr, "transfer: %s\n", e.message);
    return rc;
}

static void test_converges(void)
{
    nst_image content, style, out;
    testimg_make(&content, "content", 80, 64);
    testimg_make(&style, "style0", 64, 64);
    run_log log = {0};
    /* the loss before any step: evaluate the objective at the content image */
    nst_params p;
    params_for(&p, "{\"image_size\":64}");
    nst_image csized;
    nst_image_resize(&content, 64, 51, &csized);
    nst_objective *o = NULL;
    nst_error e;
    CHECK(nst_objective_create(model, &p, &csized, &style, 1, NULL, 0, &o, &e) == 0, "%s", e.message);
    float *g = malloc(sizeof(float) * 3 * 64 * 51);
    double f0 = objective_eval(o, csized.data, g);
    free(g);
    nst_objective_free(o);
    nst_image_free(&csized);

    CHECK(run("{\"image_size\":64,\"iterations\":50,\"preview_every\":10}", &content, &style, 1, &log,
              &out) == 0, "transfer failed");
    CHECK(out.w == 64 && out.h == 51, "output %dx%d, expected 64x51", out.w, out.h);
    CHECK(log.last == 50, "last iteration %d", log.last);
    CHECK(log.previews == 5, "previews %d, expected 5", log.previews);
    CHECK(log.last_total * 10 <= f0, "loss %.4g after 50 iterations, %.4g at the content", log.last_total, f0);
    printf("  loss %.4g -> %.4g (%.1fx)\n", f0, log.last_total, f0 / log.last_total);
    nst_image_free(&out), nst_image_free(&content), nst_image_free(&style);
}

static void test_adam_lowers_loss(void)
{
    nst_image content, style, out;
    testimg_make(&content, "content", 48, 48);
    testimg_make(&style, "style1", 48, 48);
    run_log log = {0};
    CHECK(run("{\"image_size\":48,\"iterations\":30,\"optimizer\":\"adam\",\"learning_rate\":0.02}",
              &content, &style, 1, &log, &out) == 0, "adam transfer failed");
    CHECK(log.last_total < log.first_total, "adam: %.4g -> %.4g", log.first_total, log.last_total);
    nst_image_free(&out), nst_image_free(&content), nst_image_free(&style);
}

static void test_deterministic(void)
{
    nst_image content, style, a, b;
    testimg_make(&content, "content", 40, 30);
    testimg_make(&style, "style0", 50, 50);
    const char *json = "{\"image_size\":40,\"iterations\":8,\"init\":\"noise\",\"seed\":42}";
    run_log l1 = {0}, l2 = {0};
    CHECK(run(json, &content, &style, 1, &l1, &a) == 0, "run 1");
    CHECK(run(json, &content, &style, 1, &l2, &b) == 0, "run 2");
    unsigned char *pa, *pb;
    size_t na, nb;
    nst_image_encode_png(&a, &pa, &na);
    nst_image_encode_png(&b, &pb, &nb);
    CHECK(na == nb && memcmp(pa, pb, na) == 0, "same inputs and seed gave different PNGs");
    free(pa), free(pb);
    nst_image_free(&a), nst_image_free(&b);
    /* another seed gives another image */
    run_log l3 = {0};
    CHECK(run("{\"image_size\":40,\"iterations\":8,\"init\":\"noise\",\"seed\":43}", &content, &style, 1,
              &l3, &b) == 0, "run 3");
    CHECK(l3.last_total != l1.last_total, "seed did not change the run");
    nst_image_free(&b), nst_image_free(&content), nst_image_free(&style);
}

/* YIQ chroma of pixel i */
static void chroma(const nst_image *img, size_t i, double *I, double *Q)
{
    size_t n = (size_t)img->w * img->h;
    double r = img->data[i], g = img->data[n + i], b = img->data[2 * n + i];
    *I = 0.596 * r - 0.274 * g - 0.322 * b;
    *Q = 0.211 * r - 0.523 * g + 0.312 * b;
}

static void test_luminance_keeps_chroma(void)
{
    nst_image content, style, out;
    testimg_make(&content, "content", 48, 48);
    testimg_make(&style, "style0", 48, 48);
    /* make the style's colours very different: swap its channels */
    run_log log = {0};
    CHECK(run("{\"image_size\":48,\"iterations\":10,\"preserve_colors\":\"luminance\"}", &content, &style,
              1, &log, &out) == 0, "transfer failed");
    double worst = 0;
    int clipped = 0;
    for (size_t i = 0; i < (size_t)48 * 48; i++) {
        double ci, cq, oi, oq;
        chroma(&content, i, &ci, &cq);
        chroma(&out, i, &oi, &oq);
        int at_edge = 0;
        for (int c = 0; c < 3; c++) {
            float v = out.data[c * 48 * 48 + i];
            at_edge |= v <= 0.0f || v >= 1.0f;
        }
        if (at_edge) { clipped++; continue; } /* clamping may move chroma */
        worst = fmax(worst, fmax(fabs(ci - oi), fabs(cq - oq)));
    }
    CHECK(worst < 1e-3, "chroma moved by %.4f", worst);
    CHECK(clipped < 48 * 48 / 4, "%d pixels clipped", clipped);
    nst_image_free(&out), nst_image_free(&content), nst_image_free(&style);
}

static void test_cancel(void)
{
    nst_image content, style, out;
    testimg_make(&content, "content", 32, 32);
    testimg_make(&style, "style0", 32, 32);
    run_log log = {.cancel_at = 3};
    CHECK(run("{\"image_size\":32,\"iterations\":100}", &content, &style, 1, &log, &out) == NST_ECANCELED,
          "expected cancel");
    CHECK(log.last == 3, "stopped after iteration %d, expected 3", log.last);
    CHECK(out.data != NULL && out.w == 32, "the image reached is kept for a resume");
    nst_image_free(&out), nst_image_free(&content), nst_image_free(&style);
}

static void test_resume(void)
{
    nst_image content, style, out, half;
    testimg_make(&content, "content", 32, 32);
    testimg_make(&style, "style0", 32, 32);
    nst_params p;
    params_for(&p, "{\"image_size\":32,\"iterations\":20}");
    run_log l1 = {0};
    nst_callbacks cb = {.progress = on_progress, .user = &l1};
    nst_error e;
    p.iterations = 10;
    CHECK(nst_transfer(model, &p, &content, &style, 1, &cb, &half, &e) == 0, "first half");
    p.iterations = 20;
    run_log l2 = {0};
    nst_callbacks cb2 = {.progress = on_progress, .user = &l2, .resume = &half, .resume_iteration = 10};
    CHECK(nst_transfer(model, &p, &content, &style, 1, &cb2, &out, &e) == 0, "resume");
    CHECK(l2.calls == 10 && l2.last == 20, "resumed run did %d iterations ending at %d", l2.calls, l2.last);
    CHECK(l2.last_total < l1.last_total, "resumed loss %.4g not below %.4g", l2.last_total, l1.last_total);
    nst_image_free(&out), nst_image_free(&half), nst_image_free(&content), nst_image_free(&style);
}

static void test_blend(void)
{
    nst_image content, styles[2], out;
    testimg_make(&content, "content", 40, 40);
    testimg_make(&styles[0], "style0", 40, 40);
    testimg_make(&styles[1], "style1", 56, 40);
    run_log log = {0};
    CHECK(run("{\"image_size\":40,\"iterations\":5,\"style_blend_weights\":[0.25,0.75],\"style_scale\":0.8}",
              &content, styles, 2, &log, &out) == 0, "blend transfer failed");
    nst_image_free(&out);
    nst_params p;
    params_for(&p, "{\"style_blend_weights\":[1,2,3]}");
    nst_error e = {0};
    CHECK(nst_transfer(model, &p, &content, styles, 2, NULL, &out, &e) == NST_EINVAL, "count mismatch accepted");
    CHECK(!strcmp(e.field, "style_blend_weights"), "field %s", e.field);
    nst_image_free(&content), nst_image_free(&styles[0]), nst_image_free(&styles[1]);
}

/* Coarse to fine: 2 scales at 128 px run 8 iterations at 64 px, then 4 at
 * 128 px, counted as one run of 12. */
static void test_scales(void)
{
    nst_image content, style, out;
    testimg_make(&content, "content", 64, 64);
    testimg_make(&style, "style0", 64, 64);
    run_log log = {0};
    CHECK(run("{\"image_size\":128,\"iterations\":12,\"scales\":2,\"preview_every\":4}", &content,
              &style, 1, &log, &out) == 0, "scales transfer failed");
    CHECK(log.calls == 12 && log.last == 12 && log.gaps == 0, "%d calls, last %d, %d gaps", log.calls,
          log.last, log.gaps);
    CHECK(out.w == 128 && out.h == 128, "output %dx%d", out.w, out.h);
    CHECK(log.previews == 3 && log.preview_w[0] == 64 && log.preview_w[1] == 64 &&
          log.preview_w[2] == 128, "previews %d: %d %d %d", log.previews, log.preview_w[0],
          log.preview_w[1], log.preview_w[2]);
    nst_image_free(&out);
    /* resuming inside the fine scale starts there */
    run_log l2 = {0};
    nst_params p;
    params_for(&p, "{\"image_size\":128,\"iterations\":12,\"scales\":2}");
    nst_image half;
    testimg_make(&half, "x", 128, 128);
    nst_callbacks cb = {.progress = on_progress, .user = &l2, .resume = &half, .resume_iteration = 10};
    nst_error e;
    CHECK(nst_transfer(model, &p, &content, &style, 1, &cb, &out, &e) == 0, "resume: %s", e.message);
    CHECK(l2.calls == 2 && l2.last == 12, "resumed: %d calls ending at %d", l2.calls, l2.last);
    nst_image_free(&half), nst_image_free(&out), nst_image_free(&content), nst_image_free(&style);
}

int main(void)
{
    nst_error e;
    if (nst_model_random(&model, &e)) {
        fprintf(stderr, "model: %s\n", e.message);
        return 1;
    }
    TEST_RUN(test_gradient_avg);
    TEST_RUN(test_gradient_max);
    TEST_RUN(test_converges);
    TEST_RUN(test_adam_lowers_loss);
    TEST_RUN(test_deterministic);
    TEST_RUN(test_luminance_keeps_chroma);
    TEST_RUN(test_cancel);
    TEST_RUN(test_resume);
    TEST_RUN(test_blend);
    TEST_RUN(test_scales);
    nst_model_free(model);
    return TEST_EXIT();
}
