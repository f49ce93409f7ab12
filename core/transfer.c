/*
 * transfer.c — one style transfer: targets, objective, optimisation loop.
 *
 * Given decoded images and validated parameters, this file computes the
 * content targets P^l (content image at the output size) and the blended
 * style Grams A^l = Σ_k b_k A^l_k (each style image resized by style_scale),
 * then optimises the pixels of the output image x in [0,1] with L-BFGS or
 * Adam on
 *     L(x) = α Σ_content ½‖F^l − P^l‖² + β Σ_style w_l E_l + tv_weight TV(x).
 * Losses and their gradients are added layer by layer while VGG's backward
 * pass runs (vgg.h's hook), so no per-loss gradient buffers exist.
 *
 * It is not a scheduler: it runs on the caller's thread, reports each
 * iteration through a callback and stops when the caller's cancel flag is set.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loss.h"
#include "optim.h"
#include "vgg.h"

/* L-BFGS keeps 2 vectors of the image's size per correction pair; the history
 * is sized so those stay within this budget (between the two bounds). */
#define LBFGS_BUDGET_BYTES (96u << 20)
#define LBFGS_HISTORY_MIN 5
#define LBFGS_HISTORY_MAX 20

/* ------------------------------------------------------------------ objective */

typedef struct {
    const nst_params *p;
    nst_net *net;
    int W, H;
    float *content_target[NST_NUM_LAYERS]; /* P^l, (C,H,W), or NULL */
    float *style_target[NST_NUM_LAYERS];   /* A^l, (C,C), or NULL */
    double style_weight[NST_NUM_LAYERS];   /* w_l */
    float *gram_scratch;                   /* C*C floats of the widest style layer */
    double loss_content, loss_style, loss_tv; /* weighted, of the last evaluation */
} objective;

/* The vgg.h hook: content and style losses of layer l, weighted, added into grad. */
static double layer_loss(int l, const float *act, float *grad, int C, int H, int W, void *user)
{
    objective *o = user;
    double f = 0;
    if (o->content_target[l]) {
        double lc = o->p->alpha * content_loss(grad, (float)o->p->alpha, act,
                                               o->content_target[l], (size_t)C * H * W);
        o->loss_content += lc;
        f += lc;
    }
    if (o->style_target[l]) {
        double w = o->p->beta * o->style_weight[l];
        double ls = w * style_loss(grad, (float)w, act, o->style_target[l], C, H * W,
                                   o->gram_scratch);
        o->loss_style += ls;
        f += ls;
    }
    return f;
}

/* f(x) and its gradient g, both (3,H,W). */
static double objective_eval(const float *x, float *g, void *user)
{
    objective *o = user;
    o->loss_content = o->loss_style = 0;
    nst_net_forward(o->net, x);
    double f = nst_net_backward(o->net, g, layer_loss, o);
    o->loss_tv = 0;
    if (o->p->tv_weight > 0) {
        o->loss_tv = o->p->tv_weight * tv_loss(g, (float)o->p->tv_weight, x, 3, o->H, o->W);
        f += o->loss_tv;
    }
    return f;
}

static void objective_free(objective *o)
{
    for (int l = 0; l < NST_NUM_LAYERS; l++) {
        free(o->content_target[l]);
        free(o->style_target[l]);
    }
    free(o->gram_scratch);
    nst_net_free(o->net);
}

/* ------------------------------------------------------------------ targets */

/* One past the deepest layer any loss uses. */
static int params_depth(const nst_params *p)
{
    int depth = 0;
    for (int i = 0; i < p->n_content_layers; i++)
        if (p->content_layers[i] + 1 > depth) depth = p->content_layers[i] + 1;
    for (int i = 0; i < p->n_style_layers; i++)
        if (p->style_layers[i] + 1 > depth) depth = p->style_layers[i] + 1;
    return depth;
}

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

/* Copy the content layers' activations of the (resized) content image. */
static int content_targets(objective *o, const nst_image *content)
{
    nst_net_forward(o->net, content->data);
    for (int i = 0; i < o->p->n_content_layers; i++) {
        int l = o->p->content_layers[i], C, H, W;
        const float *a = nst_net_activation(o->net, l, &C, &H, &W);
        size_t n = (size_t)C * H * W;
        if (!o->content_target[l] && !(o->content_target[l] = malloc(n * sizeof(float))))
            return NST_ENOMEM;
        memcpy(o->content_target[l], a, n * sizeof(float));
    }
    return NST_OK;
}

/* Add b × Gram of each style layer of `style` (already sized) into the targets. */
static int style_targets_add(objective *o, const nst_model *m, const nst_image *style, double b,
                             int depth, float *gram)
{
    const nst_params *p = o->p;
    nst_net *net = o->net;
    int own = style->w != o->W || style->h != o->H;
    if (own && !(net = nst_net_create(m, style->w, style->h, depth, p->pooling)))
        return NST_ENOMEM;
    nst_net_forward(net, style->data);
    for (int i = 0; i < p->n_style_layers; i++) {
        int l = p->style_layers[i], C, H, W;
        const float *a = nst_net_activation(net, l, &C, &H, &W);
        gram_compute(gram, a, C, H * W);
        float *t = o->style_target[l];
        for (size_t j = 0; j < (size_t)C * C; j++) t[j] += (float)b * gram[j];
    }
    if (own) nst_net_free(net);
    return NST_OK;
}

/* Style image k at the size the losses see it: longest side style_scale ×
 * the output's, colours matched to the content when asked. */
static int style_prepare(const nst_params *p, const nst_image *style, const nst_image *content,
                         int out_longest, nst_image *out)
{
    int longest = (int)lround(p->style_scale * out_longest);
    if (longest < 16) longest = 16;
    int rc = nst_image_fit(style, longest, out);
    if (rc == NST_OK && p->preserve_colors == NST_COLORS_HISTOGRAM)
        nst_colors_match(out, content);
    return rc;
}

/* The blended style Grams A^l = Σ_k b_k A^l_k with b normalised to sum 1. */
static int style_targets(objective *o, const nst_model *m, const nst_image *styles, int n_styles,
                         const nst_image *content, int depth, nst_error *err)
{
    const nst_params *p = o->p;
    size_t max_c = 0;
    for (int i = 0; i < p->n_style_layers; i++) {
        int l = p->style_layers[i];
        size_t c = (size_t)nst_layers[l].cout;
        if (c > max_c) max_c = c;
        if (!(o->style_target[l] = calloc(c * c, sizeof(float)))) return NST_ENOMEM;
        o->style_weight[l] = p->style_layer_weights[i];
    }
    float *gram = malloc(max_c * max_c * sizeof(float));
    o->gram_scratch = malloc(max_c * max_c * sizeof(float));
    if (!gram || !o->gram_scratch) {
        free(gram);
        return NST_ENOMEM;
    }
    double sum = 0;
    for (int k = 0; k < n_styles; k++) sum += p->n_style_blend_weights ? p->style_blend_weights[k] : 1;
    int rc = NST_OK;
    for (int k = 0; k < n_styles && rc == NST_OK; k++) {
        double b = (p->n_style_blend_weights ? p->style_blend_weights[k] : 1) / sum;
        if (b == 0) continue;
        nst_image s = {0};
        rc = style_prepare(p, &styles[k], content, o->W > o->H ? o->W : o->H, &s);
        if (rc == NST_OK) rc = style_targets_add(o, m, &s, b, depth, gram);
        nst_image_free(&s);
    }
    free(gram);
    if (rc != NST_OK) return nst_error_set(err, rc, "style", "computing the style targets: %s",
                                           nst_strerror(rc));
    return NST_OK;
}

/* ------------------------------------------------------------------ run */

/* splitmix64: the portable generator behind the noise init. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
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
        for (size_t i = 0; i < n; i++) x[i] = (float)((splitmix64(&s) >> 40) / 16777216.0);
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

static int lbfgs_history(size_t n)
{
    size_t h = LBFGS_BUDGET_BYTES / (2 * n * sizeof(float));
    return h < LBFGS_HISTORY_MIN ? LBFGS_HISTORY_MIN : h > LBFGS_HISTORY_MAX ? LBFGS_HISTORY_MAX : (int)h;
}

/* The optimisation loop from x; reports each iteration; x ends at the result. */
static int optimise(objective *o, float *x, const nst_image *content_sized,
                    const nst_callbacks *cb, nst_image *view, nst_error *err)
{
    const nst_params *p = o->p;
    size_t n = (size_t)3 * o->W * o->H;
    float *g = malloc(n * sizeof(float));
    nst_lbfgs *lb = p->optimizer == NST_OPT_LBFGS ? nst_lbfgs_create(n, lbfgs_history(n)) : NULL;
    nst_adam *ad = p->optimizer == NST_OPT_ADAM ? nst_adam_create(n, p->learning_rate) : NULL;
    if (!g || (!lb && !ad)) {
        free(g);
        nst_lbfgs_free(lb);
        nst_adam_free(ad);
        return nst_error_set(err, NST_ENOMEM, "", "out of memory for the optimiser");
    }
    double t0 = now_s();
    double f = objective_eval(x, g, o);
    int rc = NST_OK;
    int first = cb && cb->resume ? cb->resume_iteration : 0;
    for (int it = first + 1; it <= p->iterations; it++) {
        if (cb && cb->cancel && *cb->cancel) {
            rc = nst_error_set(err, NST_ECANCELED, "", "canceled at iteration %d", it - 1);
            break;
        }
        if (lb) {
            if (nst_lbfgs_step(lb, x, &f, g, objective_eval, o) == 0) it = p->iterations;
        } else {
            nst_adam_step(ad, x, g);
            f = objective_eval(x, g, o);
        }
        if (cb && cb->progress) {
            int preview = (p->preview_every > 0 && it % p->preview_every == 0) || it == p->iterations;
            if (preview) present(p, x, content_sized, view);
            nst_progress pr = {it, p->iterations, f, o->loss_content, o->loss_style, o->loss_tv,
                               now_s() - t0, preview ? view : NULL};
            cb->progress(&pr, cb->user);
        }
    }
    free(g);
    nst_lbfgs_free(lb);
    nst_adam_free(ad);
    return rc;
}

int nst_transfer(const nst_model *m, const nst_params *p, const nst_image *content,
                 const nst_image *styles, int n_styles, const nst_callbacks *cb, nst_image *out,
                 nst_error *err)
{
    int rc = nst_params_check_styles(p, n_styles, err);
    if (rc != NST_OK) return rc;
    objective o = {.p = p};
    output_size(content, p->image_size, &o.W, &o.H);
    int depth = params_depth(p);
    nst_image csized = {0};
    float *x = NULL;
    memset(out, 0, sizeof *out);
    if ((rc = nst_image_resize(content, o.W, o.H, &csized)) != NST_OK) goto fail;
    if (!(o.net = nst_net_create(m, o.W, o.H, depth, p->pooling))) {
        rc = nst_error_set(err, NST_ENOMEM, "image_size",
                           "cannot plan the network for %dx%d pixels (out of memory)", o.W, o.H);
        goto done;
    }
    if ((rc = content_targets(&o, &csized)) != NST_OK) goto fail;
    if ((rc = style_targets(&o, m, styles, n_styles, &csized, depth, err)) != NST_OK) goto done;
    if (!(x = malloc((size_t)3 * o.W * o.H * sizeof(float)))) {
        rc = NST_ENOMEM;
        goto fail;
    }
    if (cb && cb->resume) {
        nst_image r = {0};
        if ((rc = nst_image_resize(cb->resume, o.W, o.H, &r)) != NST_OK) goto fail;
        memcpy(x, r.data, (size_t)3 * o.W * o.H * sizeof(float));
        nst_image_free(&r);
    } else if ((rc = init_image(p, &csized, styles, x)) != NST_OK) {
        goto fail;
    }
    if ((rc = nst_image_alloc(out, o.W, o.H)) != NST_OK) goto fail;
    rc = optimise(&o, x, &csized, cb, out, err);
    if (rc == NST_OK) present(p, x, &csized, out);
    goto done;
fail:
    nst_error_set(err, rc, "", "style transfer failed: %s", nst_strerror(rc));
done:
    if (rc != NST_OK) nst_image_free(out);
    free(x);
    nst_image_free(&csized);
    objective_free(&o);
    return rc;
}
