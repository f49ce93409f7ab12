/*
 * transfer.c — one style transfer: output size, starting image, the
 * optimisation loop over objective.h's loss, progress and cancellation.
 *
 * The pixels of the output image x in [0,1] are optimised with L-BFGS or
 * Adam; x may leave [0,1] while optimising and is clamped when shown
 * (previews, result), where colour preservation is applied too.
 *
 * It is not a scheduler: it runs on the caller's thread, reports each
 * iteration through a callback and stops when the caller's cancel flag is set.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bigmem.h"
#include "objective.h"
#include "optim.h"
#include "rng.h"

/* Output size: the content's aspect with the longest side image_size. */
static void output_size(const nst_image *content, int longest, int *w, int *h)
{
    if (content->w >= content->h) {
        *w = longest;
        *h = (int)lround((double)content->h * longest / content->w);
    } else {
        *h = longest;
        *w = (int)lround((double)content->w * longest / content->h);
    }
    if (*w < 1) *w = 1;
    if (*h < 1) *h = 1;
}

/* The starting image x (3,H,W) per params->init. */
static int init_image(const nst_params *p, const nst_image *content_sized, const nst_image *styles,
                      float *x)
{
    size_t n = (size_t)3 * content_sized->w * content_sized->h;
    if (p->init == NST_INIT_CONTENT) {
        memcpy(x, content_sized->data, n * sizeof(float));
    } else if (p->init == NST_INIT_NOISE) {
        uint64_t s = p->seed;
        for (size_t i = 0; i < n; i++) x[i] = (float)((nst_splitmix64(&s) >> 40) / 16777216.0);
    } else {
        nst_image st = {0};
        int rc = nst_image_resize(&styles[0], content_sized->w, content_sized->h, &st);
        if (rc != NST_OK) return rc;
        memcpy(x, st.data, n * sizeof(float));
        nst_image_free(&st);
    }
    return NST_OK;
}

/* The image users see: x clamped to [0,1], colours per preserve_colors. */
static void present(const nst_params *p, const float *x, const nst_image *content_sized,
                    nst_image *out)
{
    size_t n = (size_t)3 * out->w * out->h;
    for (size_t i = 0; i < n; i++) out->data[i] = x[i] < 0 ? 0 : x[i] > 1 ? 1 : x[i];
    if (p->preserve_colors == NST_COLORS_LUMINANCE) nst_colors_luminance(out, content_sized);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The objective as optim.h's two halves. The parts reported are those of
 * the latest point whose gradient was taken: the accepted one, not a trial
 * the line search rejected. */
typedef struct {
    nst_objective *o;
    nst_losses trial;     /* of the latest value */
    nst_losses parts;     /* of the latest gradient's point */
    int evaluations;      /* values computed */
    int gradients;        /* gradients computed */
} eval_ctx;

static double value_fn(const float *x, void *user)
{
    eval_ctx *c = user;
    c->evaluations++;
    return nst_objective_value(c->o, x, &c->trial);
}

static void gradient_fn(const float *x, float *g, void *user)
{
    eval_ctx *c = user;
    c->gradients++;
    nst_objective_gradient(c->o, x, g);
    c->parts = c->trial;
}

/* f(x), and ∇f(x) into g. */
static double eval_fn(eval_ctx *c, const float *x, float *g)
{
    double f = value_fn(x, c);
    gradient_fn(x, g, c);
    return f;
}

/* Where one scale's iterations run: iterations first+1 … last of the
 * transfer's total, at w×h. */
typedef struct {
    int w, h;
    int first, last;
    int history;          /* L-BFGS correction pairs (plan_memory) */
    int tile;             /* tiled evaluation's tile side (plan_memory), 0: untiled */
    int keep;             /* the untiled network keeps its weights prepared (plan_memory) */
} scale_plan;

static size_t plan_memory(const nst_params *p, int content_w, int content_h, const int *style_wh,
                          int n_styles, const int *mask_wh, scale_plan *plan, int n_scales);

/* The stopping rule (params.tolerance): the losses of the last
 * NST_TOLERANCE_WINDOW iterations and the one before them, a ring. */
typedef struct {
    double f[NST_TOLERANCE_WINDOW + 1];
    int seen;
} loss_window;

/* Record loss f; 1 when it fell by less than tol (relative) over the window. */
static int loss_window_flat(loss_window *w, double f, double tol)
{
    int n = NST_TOLERANCE_WINDOW + 1;
    w->f[w->seen++ % n] = f;
    if (tol <= 0 || w->seen < n) return 0;
    double old = w->f[w->seen % n]; /* the oldest: the slot written next */
    return old - f < tol * fabs(old);
}

/* Report iteration it at loss f (cb->progress), with the presented image
 * in view on preview iterations and at the end (why: the run ended). */
static void report(const nst_params *p, const eval_ctx *ctx, int it, double f, nst_stop why,
                   const float *x, const nst_image *content_sized, const nst_callbacks *cb,
                   nst_image *view, double t0)
{
    if (!cb || !cb->progress) return;
    int preview = (p->preview_every > 0 && it % p->preview_every == 0) || why != NST_STOP_NONE;
    if (preview) present(p, x, content_sized, view);
    nst_progress pr = {it, p->iterations, f, ctx->parts.content, ctx->parts.style,
                       ctx->parts.tv, now_s() - t0, preview ? view : NULL,
                       ctx->evaluations, ctx->gradients, why};
    cb->progress(&pr, cb->user);
}

/* The optimisation loop from x over one scale; reports each iteration; x
 * ends at the result. view (the scale's size) receives the presented image
 * on preview iterations. t0 is the transfer's start. The scale ends early
 * when the optimiser converges or the loss stops falling (params.tolerance);
 * the last scale's final report says why the run ended, also when a resumed
 * run had no iterations left. */
static int optimise(nst_objective *o, const nst_params *p, const scale_plan *sp, float *x,
                    const nst_image *content_sized, const nst_callbacks *cb, nst_image *view,
                    double t0, nst_error *err)
{
    size_t n = (size_t)3 * sp->w * sp->h;
    int final = sp->last == p->iterations;
    float *g = nst_big_alloc(n * sizeof(float));
    nst_pool *pool = nst_objective_pool(o);
    nst_lbfgs *lb =
        p->optimizer == NST_OPT_LBFGS ? nst_lbfgs_create(n, sp->history, pool) : NULL;
    nst_adam *ad = p->optimizer == NST_OPT_ADAM ? nst_adam_create(n, p->learning_rate) : NULL;
    if (!g || (!lb && !ad)) {
        free(g);
        nst_lbfgs_free(lb);
        nst_adam_free(ad);
        return nst_error_set(err, NST_ENOMEM, "", "out of memory for the optimiser");
    }
    eval_ctx ctx = {.o = o};
    nst_objective_fns fns = {value_fn, gradient_fn, &ctx};
    double f = eval_fn(&ctx, x, g);
    loss_window window = {0};
    loss_window_flat(&window, f, p->tolerance);
    int rc = NST_OK;
    for (int it = sp->first + 1; it <= sp->last; it++) {
        if (cb && cb->cancel && atomic_load(cb->cancel)) {
            rc = nst_error_set(err, NST_ECANCELED, "", "canceled after iteration %d", it - 1);
            break;
        }
        nst_stop why = NST_STOP_NONE;
        if (lb) {
            if (nst_lbfgs_step(lb, x, &f, g, &fns) == 0) why = NST_STOP_CONVERGED;
        } else {
            nst_adam_step(ad, x, g);
            f = eval_fn(&ctx, x, g);
        }
        if (why == NST_STOP_NONE && loss_window_flat(&window, f, p->tolerance))
            why = NST_STOP_TOLERANCE;
        if (why == NST_STOP_NONE && it == sp->last) why = NST_STOP_ITERATIONS;
        report(p, &ctx, it, f, final ? why : NST_STOP_NONE, x, content_sized, cb, view, t0);
        if (why != NST_STOP_NONE) break;
    }
    if (rc == NST_OK && final && sp->first >= sp->last) /* resumed at the end */
        report(p, &ctx, sp->last, f, NST_STOP_ITERATIONS, x, content_sized, cb, view, t0);
    free(g);
    nst_lbfgs_free(lb);
    nst_adam_free(ad);
    return rc;
}

const char *nst_stop_name(nst_stop s)
{
    static const char *const names[] = {
        [NST_STOP_NONE] = "", [NST_STOP_ITERATIONS] = "iterations",
        [NST_STOP_TOLERANCE] = "tolerance", [NST_STOP_CONVERGED] = "converged"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "";
}

/* The scales of a run, coarsest first (see nst_transfer in nst.h). Returns
 * how many. */
static int plan_scales(const nst_params *p, const nst_image *content, scale_plan *plan)
{
    int n = p->scales < 1 ? 1 : p->scales;
    while (n > 1 && (p->image_size >> (n - 1)) < 64) n--;
    int total_share = (1 << n) - 1, done = 0;
    for (int s = 0; s < n; s++) {
        output_size(content, p->image_size >> (n - 1 - s), &plan[s].w, &plan[s].h);
        int share = 1 << (n - 1 - s);
        plan[s].first = done;
        done = s == n - 1 ? p->iterations
                          : done + (int)((long)p->iterations * share / total_share);
        plan[s].last = done;
    }
    return n;
}

/* x (3,h,w) → the next scale's size, in place of *x (reallocated). */
static int upsample(float **x, int w, int h, int nw, int nh)
{
    nst_image from = {w, h, *x}, to = {0};
    int rc = nst_image_resize(&from, nw, nh, &to);
    if (rc != NST_OK) return rc;
    free(*x);
    *x = to.data;
    return NST_OK;
}

/* The starting point of the scale at sp: the checkpoint, the previous
 * scale's result, or params->init. *x is (re)allocated. */
static int scale_start(const nst_params *p, const scale_plan *sp, const scale_plan *prev,
                       const nst_image *csized, const nst_image *styles,
                       const nst_callbacks *cb, float **x)
{
    if (*x) return upsample(x, prev->w, prev->h, sp->w, sp->h);
    if (cb && cb->resume) {
        nst_image r = {0};
        int rc = nst_image_resize(cb->resume, sp->w, sp->h, &r);
        *x = r.data;
        return rc;
    }
    if (!(*x = nst_big_alloc((size_t)3 * sp->w * sp->h * sizeof(float)))) return NST_ENOMEM;
    return init_image(p, csized, styles, *x);
}

int nst_transfer(const nst_model *m, const nst_params *p, const nst_image *content,
                 const nst_image *styles, int n_styles, const nst_callbacks *cb, nst_image *out,
                 nst_error *err)
{
    return nst_transfer_masked(m, p, content, styles, n_styles, NULL, cb, out, err);
}

int nst_transfer_masked(const nst_model *m, const nst_params *p, const nst_image *content,
                        const nst_image *styles, int n_styles, const nst_masks *masks,
                        const nst_callbacks *cb, nst_image *out, nst_error *err)
{
    scale_plan plan[8];
    int n_scales = plan_scales(p, content, plan), rc = NST_OK;
    memset(out, 0, sizeof *out);
    if ((rc = nst_params_check_styles(p, n_styles, err)) != NST_OK) return rc;
    int style_wh[2 * NST_MAX_STYLES], mask_wh[2 * (NST_MAX_STYLES + 1)];
    plan_memory(p, content->w, content->h, style_wh, n_styles,
                nst_transfer_sizes(styles, n_styles, masks, style_wh, mask_wh), plan, n_scales);
    int resumed = cb && cb->resume ? cb->resume_iteration : 0;
    double t0 = now_s();
    float *x = NULL;
    const scale_plan *prev = NULL, *sp = NULL;
    nst_image csized = {0};
    for (int s = 0; s < n_scales && rc == NST_OK; s++) {
        sp = &plan[s];
        if (sp->last <= resumed && s < n_scales - 1) continue; /* done before the checkpoint */
        scale_plan from = *sp;
        if (resumed > from.first) from.first = resumed;
        nst_objective *o = NULL;
        nst_image_free(&csized);
        nst_image_free(out);
        if ((rc = nst_image_resize(content, sp->w, sp->h, &csized)) != NST_OK ||
            (rc = nst_image_alloc(out, sp->w, sp->h)) != NST_OK) {
            nst_error_set(err, rc, "image_size", "out of memory for %dx%d", sp->w, sp->h);
            break;
        }
        if ((rc = scale_start(p, sp, prev, &csized, styles, cb, &x)) != NST_OK) {
            nst_error_set(err, rc, "init", "cannot prepare the starting image");
            break;
        }
        if ((rc = nst_objective_create_tiled(m, p, &csized, styles, n_styles, masks,
                                             cb ? cb->threads : 0, sp->tile, sp->keep, &o,
                                             err)) ==
            NST_OK)
            rc = optimise(o, p, &from, x, &csized, cb, out, t0, err);
        nst_objective_free(o);
        prev = sp;
    }
    if (rc == NST_OK) {
        present(p, x, &csized, out);
    } else if (rc == NST_ECANCELED) { /* the state to resume from */
        nst_params raw = *p;
        raw.preserve_colors = NST_COLORS_NONE;
        present(&raw, x, &csized, out);
    } else {
        nst_image_free(out);
    }
    free(x);
    nst_image_free(&csized);
    return rc;
}

/* ------------------------------------------------------------------ memory */

/* What nst_transfer_memory adds for what it does not count byte by byte:
 * the threads' stacks as far as they are touched, OpenBLAS's per-thread
 * buffers and allocator overhead. Measured (bench/memory.sh): a run's peak
 * RSS less the model and this estimate stays under it at 128 … 1024 px. */
#define TRANSFER_OVERHEAD_BYTES ((size_t)64 << 20)

/* L-BFGS correction pairs for a scale of n floats whose other floats at
 * its peak (inputs, network, images, the optimiser's three fixed vectors)
 * are fixed: as many as the rest of params->memory_limit holds (or
 * NST_LBFGS_DEFAULT_BUDGET without a limit), within the bounds. */
static int lbfgs_history(const nst_params *p, size_t n, size_t fixed)
{
    size_t budget = NST_LBFGS_DEFAULT_BUDGET;
    if (p->memory_limit) {
        size_t used = fixed * sizeof(float) + TRANSFER_OVERHEAD_BYTES;
        budget = p->memory_limit > used ? p->memory_limit - used : 0;
    }
    size_t h = budget / (2 * n * sizeof(float));
    return h < NST_LBFGS_HISTORY_MIN   ? NST_LBFGS_HISTORY_MIN
           : h > NST_LBFGS_HISTORY_MAX ? NST_LBFGS_HISTORY_MAX
                                       : (int)h;
}

/* Whether an untiled scale's network keeps its weights prepared (about 5 %
 * faster evaluations at 512 px, for `kept` bytes): when the memory limit
 * holds them beside the rest of the scale's peak (`fixed` floats, with
 * L-BFGS's history at what it gets without them), so they never cost a
 * correction pair; always without a limit. */
static int kept_fits(const nst_params *p, size_t fixed, size_t kept)
{
    return !p->memory_limit ||
           fixed * sizeof(float) + TRANSFER_OVERHEAD_BYTES + kept <= p->memory_limit;
}

/* Whether the scale at sp is evaluated on tiles, and their side: when
 * params->memory_limit cannot hold the untiled objective (*objective bytes)
 * beside the inputs, x, g, the output, the content at the scale's size and
 * the optimiser's vectors at its smallest history, the largest tile whose
 * objective fits what is left; *objective becomes its bytes. 0 (untiled)
 * when the untiled one fits, or when no tile does (the estimate is then
 * the untiled one, over the limit: the callers refuse the job). */
static int plan_tile(const nst_params *p, const scale_plan *sp, const int *style_wh,
                     int n_styles, const int *mask_wh, size_t inputs, size_t *objective)
{
    if (!p->memory_limit) return 0;
    size_t n = (size_t)3 * sp->w * sp->h;
    size_t beside = inputs + 4 * n +
                    (p->optimizer == NST_OPT_LBFGS ? (3 + 2 * (size_t)NST_LBFGS_HISTORY_MIN) * n
                                                   : 2 * n);
    size_t used = beside * sizeof(float) + TRANSFER_OVERHEAD_BYTES;
    if (used + *objective <= p->memory_limit) return 0;
    if (used >= p->memory_limit) return 0;
    int tile = nst_objective_tile_for(p, sp->w, sp->h, style_wh, n_styles, mask_wh,
                                      p->memory_limit - used);
    if (tile)
        *objective = nst_objective_tiled_bytes(p, sp->w, sp->h, style_wh, n_styles, mask_wh, tile);
    return tile;
}

/* The plan's memory: per scale, in nst_transfer's order, the content
 * resized (csized, with nst_image_resize's interleaved copies of the input
 * and of the result) next to the previous scale's x; then out and the new
 * x, with the temporaries of its start (the first style or a checkpoint
 * resized); then the objective (nst_objective_bytes), the gradient and the
 * optimiser's vectors, whose L-BFGS history (plan[s].history) is sized
 * here.
 * Every scale's peak is on top of the input images the caller holds; the
 * largest scale's is the answer, in bytes. */
static size_t plan_memory(const nst_params *p, int content_w, int content_h, const int *style_wh,
                          int n_styles, const int *mask_wh, scale_plan *plan, int n_scales)
{
    size_t inputs = (size_t)3 * content_w * content_h, style0 = 0;
    for (int k = 0; k < n_styles; k++) {
        size_t s = (size_t)3 * style_wh[2 * k] * style_wh[2 * k + 1];
        inputs += s;
        if (k == 0) style0 = s;
    }
    for (int k = 0; mask_wh && k <= n_styles; k++)
        if (mask_wh[2 * k] > 0 && mask_wh[2 * k + 1] > 0)
            inputs += (size_t)3 * mask_wh[2 * k] * mask_wh[2 * k + 1];
    size_t peak = 0, prev_x = 0;
    for (int s = 0; s < n_scales; s++) {
        size_t n = (size_t)3 * plan[s].w * plan[s].h;
        size_t resize = prev_x + n + (size_t)3 * content_w * content_h + n;
        size_t start_tmp = p->init == NST_INIT_STYLE ? n + style0 + n : 0;
        if (3 * n > start_tmp) start_tmp = 3 * n; /* a checkpoint or x upsampled */
        size_t start = 2 * n + prev_x + n + start_tmp;
        size_t objective =
            nst_objective_bytes(p, plan[s].w, plan[s].h, style_wh, n_styles, mask_wh);
        plan[s].tile = plan_tile(p, &plan[s], style_wh, n_styles, mask_wh, inputs, &objective);
        size_t run = 3 * n + n + objective / sizeof(float);
        if (p->optimizer == NST_OPT_LBFGS) {
            run += 3 * n;
            plan[s].history = lbfgs_history(p, n, inputs + run);
            run += 2 * (size_t)plan[s].history * n;
        } else {
            run += 2 * n;
            plan[s].history = 0;
        }
        size_t kept = plan[s].tile ? 0 : nst_objective_kept_bytes(p, plan[s].w, plan[s].h);
        plan[s].keep = kept && kept_fits(p, inputs + run, kept);
        if (plan[s].keep) run += (kept + sizeof(float) - 1) / sizeof(float);
        size_t at = resize > start ? resize : start;
        if (run > at) at = run;
        if (at > peak) peak = at;
        prev_x = n;
    }
    return (inputs + peak) * sizeof(float) + TRANSFER_OVERHEAD_BYTES;
}

const int *nst_transfer_sizes(const nst_image *styles, int n_styles, const nst_masks *masks,
                              int *style_wh, int *mask_wh)
{
    for (int k = 0; k < n_styles; k++) {
        style_wh[2 * k] = styles[k].w;
        style_wh[2 * k + 1] = styles[k].h;
    }
    if (!masks) return NULL;
    for (int k = 0; k <= n_styles; k++) {
        const nst_image *mk = k < n_styles ? masks->style[k] : masks->content;
        mask_wh[2 * k] = mk ? mk->w : 0;
        mask_wh[2 * k + 1] = mk ? mk->h : 0;
    }
    return mask_wh;
}

int nst_transfer_tile(const nst_params *p, int content_w, int content_h, const int *style_wh,
                      int n_styles, const int *mask_wh)
{
    if (content_w < 1 || content_h < 1 || n_styles < 0 || n_styles > NST_MAX_STYLES) return 0;
    nst_image shape = {content_w, content_h, NULL};
    scale_plan plan[8];
    int n_scales = plan_scales(p, &shape, plan);
    plan_memory(p, content_w, content_h, style_wh, n_styles, mask_wh, plan, n_scales);
    return plan[n_scales - 1].tile;
}

size_t nst_transfer_memory(const nst_model *m, const nst_params *p, int content_w,
                           int content_h, const int *style_wh, int n_styles)
{
    return nst_transfer_memory_masked(m, p, content_w, content_h, style_wh, n_styles, NULL);
}

size_t nst_transfer_memory_masked(const nst_model *m, const nst_params *p, int content_w,
                                  int content_h, const int *style_wh, int n_styles,
                                  const int *mask_wh)
{
    (void)m; /* the weights are shared and loaded once: not a transfer's */
    if (content_w < 1 || content_h < 1 || n_styles < 0 || n_styles > NST_MAX_STYLES) return 0;
    nst_image shape = {content_w, content_h, NULL};
    scale_plan plan[8];
    int n_scales = plan_scales(p, &shape, plan);
    return plan_memory(p, content_w, content_h, style_wh, n_styles, mask_wh, plan, n_scales);
}
