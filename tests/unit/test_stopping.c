/*
 * test_stopping.c — when a transfer ends, and the L-BFGS history it keeps:
 * params.tolerance ends a run exactly when the loss fell by less than that
 * fraction over NST_TOLERANCE_WINDOW iterations (checked against the
 * losses the run reported), the last report says why, a coarse scale that
 * stops early hands over to the next one at its planned iteration, a run
 * resumed at its last iteration still reports its end, and the
 * history grows with params.memory_limit while the estimate stays within
 * it. Uses the embedded vgg19-random model and generated images.
 */
#include <stdlib.h>
#include <string.h>

#include "nst.h"
#include "test.h"
#include "testimg.h"
#include "vgg.h"

static nst_model *model;

#define MAX_ITER 400

typedef struct {
    int calls, last, jumps;
    double loss[MAX_ITER + 1];   /* by iteration */
    nst_stop stopped;
    int stopped_at, stopped_calls, image_at_stop;
} run_log;

static void on_progress(const nst_progress *pr, void *user)
{
    run_log *r = user;
    if (r->calls++ > 0 && pr->iteration != r->last + 1) r->jumps++;
    r->last = pr->iteration;
    if (pr->iteration <= MAX_ITER) r->loss[pr->iteration] = pr->loss_total;
    if (pr->stopped) {
        r->stopped = pr->stopped;
        r->stopped_at = pr->iteration;
        r->stopped_calls++;
        r->image_at_stop = pr->image != NULL;
    }
}

/* Run json's transfer; with resume_at > 0 from a checkpoint (the content
 * image) taken after that iteration. */
static int run_from(const char *json, int resume_at, run_log *log)
{
    nst_params p;
    nst_error e = {0};
    nst_params_default(&p, model);
    CHECK(nst_params_parse(&p, json, strlen(json), NULL, &e) == 0, "%s: %s", json, e.message);
    nst_image content, style, out = {0};
    testimg_make(&content, "content", 48, 40);
    testimg_make(&style, "style0", 48, 48);
    nst_callbacks cb = {.progress = on_progress, .user = log};
    if (resume_at > 0) {
        cb.resume = &content;
        cb.resume_iteration = resume_at;
    }
    int rc = nst_transfer(model, &p, &content, &style, 1, &cb, &out, &e);
    CHECK(rc == 0, "%s: %s", json, e.message);
    nst_image_free(&out), nst_image_free(&content), nst_image_free(&style);
    return rc;
}

static int run(const char *json, run_log *log) { return run_from(json, 0, log); }

/* Whether the rule holds at iteration it of the reported losses. */
static int flat_at(const run_log *r, int it, double tol)
{
    double old = r->loss[it - NST_TOLERANCE_WINDOW];
    return old - r->loss[it] < tol * old;
}

static void test_tolerance_stops_when_flat(void)
{
    const double tol = 0.02;
    run_log r = {0};
    run("{\"image_size\":48,\"iterations\":400,\"tolerance\":0.02,\"preview_every\":0}", &r);
    CHECK(r.stopped == NST_STOP_TOLERANCE && r.stopped_calls == 1,
          "stopped %d (%s) %d times", (int)r.stopped, nst_stop_name(r.stopped), r.stopped_calls);
    CHECK(r.stopped_at == r.last && r.last < 400 && r.last > NST_TOLERANCE_WINDOW,
          "stopped at %d, last report %d", r.stopped_at, r.last);
    CHECK(flat_at(&r, r.last, tol), "stopped at %d while the loss fell %.4g → %.4g", r.last,
          r.loss[r.last - NST_TOLERANCE_WINDOW], r.loss[r.last]);
    for (int it = NST_TOLERANCE_WINDOW + 1; it < r.last; it++)
        CHECK(!flat_at(&r, it, tol), "flat at %d already, stopped only at %d", it, r.last);
    CHECK(r.image_at_stop, "the last report carries the result image");
    printf("  tolerance %.2f: stopped after %d of 400 iterations, loss %.4g\n", tol, r.last,
           r.loss[r.last]);
}

static void test_no_tolerance_runs_all(void)
{
    run_log r = {0};
    run("{\"image_size\":32,\"iterations\":40,\"tolerance\":0}", &r);
    CHECK(r.last == 40 && r.stopped == NST_STOP_ITERATIONS && r.stopped_calls == 1,
          "last %d, stopped %s", r.last, nst_stop_name(r.stopped));
    CHECK(!strcmp(nst_stop_name(NST_STOP_ITERATIONS), "iterations") &&
              !strcmp(nst_stop_name(NST_STOP_TOLERANCE), "tolerance") &&
              !strcmp(nst_stop_name(NST_STOP_CONVERGED), "converged") &&
              !strcmp(nst_stop_name(NST_STOP_NONE), ""),
          "stop names");
}

/* A checkpoint after the last iteration (a job stopped between its end and
 * storing its result): no iteration is left, and one report says it ended. */
static void test_resumed_at_the_end(void)
{
    run_log r = {0};
    run_from("{\"image_size\":32,\"iterations\":12,\"tolerance\":0}", 12, &r);
    CHECK(r.calls == 1 && r.last == 12 && r.stopped == NST_STOP_ITERATIONS && r.image_at_stop,
          "%d reports, last %d, stopped '%s', image %d", r.calls, r.last,
          nst_stop_name(r.stopped), r.image_at_stop);
}

/* A coarse scale that stops early: the fine one starts at its own planned
 * first iteration (a jump in the reports), and only the last scale's end
 * is the run's. */
static void test_tolerance_per_scale(void)
{
    run_log r = {0};
    run("{\"image_size\":128,\"scales\":2,\"iterations\":120,\"tolerance\":0.3}", &r);
    CHECK(r.jumps == 1, "%d jumps in the iterations reported", r.jumps);
    CHECK(r.last > 80 && r.stopped_calls == 1 && r.stopped != NST_STOP_NONE,
          "last %d, stopped %s (%d reports)", r.last, nst_stop_name(r.stopped), r.stopped_calls);
}

static size_t estimate(size_t limit)
{
    nst_params p;
    nst_params_default(&p, model);
    p.image_size = 256;
    p.memory_limit = limit;
    int wh[2] = {256, 256};
    return nst_transfer_memory(model, &p, 256, 192, wh, 1);
}

/* Each correction pair is two images' worth of floats: 3·256·192·4·2 bytes.
 * The network's prepared weights come on top only where the limit holds
 * them beside the whole history (or without a limit). */
static void test_history_from_memory_limit(void)
{
    const size_t pair = (size_t)3 * 256 * 192 * sizeof(float) * 2;
    int net_wh[2] = {256, 192};
    const size_t kept = nst_net_kept_bytes(net_wh, 1, NST_NUM_LAYERS - 3); /* to conv5_1 */
    size_t least = estimate(1);   /* a limit that leaves nothing: the minimum history */
    size_t most = estimate((size_t)1 << 40);
    CHECK(kept > pair, "kept weights %zu bytes", kept);
    CHECK(most - least == (size_t)(NST_LBFGS_HISTORY_MAX - NST_LBFGS_HISTORY_MIN) * pair + kept,
          "least %zu most %zu: %g pairs apart", least, most, (double)(most - least) / pair);
    for (int extra = 0; extra <= NST_LBFGS_HISTORY_MAX; extra += 7) {
        size_t limit = least + (size_t)extra * pair + pair / 2;
        size_t est = estimate(limit);
        int want = NST_LBFGS_HISTORY_MIN + extra;
        if (want > NST_LBFGS_HISTORY_MAX) want = NST_LBFGS_HISTORY_MAX;
        CHECK(est <= limit, "limit %zu: estimate %zu above it", limit, est);
        CHECK(est == least + (size_t)(want - NST_LBFGS_HISTORY_MIN) * pair,
              "limit least+%d.5 pairs: estimate %zu, expected %d pairs", extra, est, want);
    }
    size_t none = estimate(0);
    size_t by_default = NST_LBFGS_DEFAULT_BUDGET / pair;
    if (by_default > NST_LBFGS_HISTORY_MAX) by_default = NST_LBFGS_HISTORY_MAX;
    CHECK(none == least + (by_default - NST_LBFGS_HISTORY_MIN) * pair + kept,
          "no limit: estimate %zu, expected %zu pairs", none, by_default);
}

int main(void)
{
    nst_error e;
    if (nst_model_random(&model, &e)) {
        fprintf(stderr, "model: %s\n", e.message);
        return 1;
    }
    TEST_RUN(test_tolerance_stops_when_flat);
    TEST_RUN(test_no_tolerance_runs_all);
    TEST_RUN(test_tolerance_per_scale);
    TEST_RUN(test_resumed_at_the_end);
    TEST_RUN(test_history_from_memory_limit);
    nst_model_free(model);
    return TEST_EXIT();
}
