/*
 * objective.c — the loss of Gatys et al. for one job (see objective.h):
 *     L(x) = α Σ_content ½‖F^l − P^l‖² + β Σ_style w_l E_l + tv_weight TV(x)
 * with the content targets P^l of the content image at the output size and
 * the blended style Grams A^l = Σ_k b_k A^l_k (b normalised to sum 1, each
 * style image resized so its longest side is style_scale × the output's).
 * The losses are computed after the forward pass; their gradients are added
 * layer by layer while VGG's backward pass runs (vgg.h's hook), so no
 * per-loss gradient buffers exist. What the gradients need of the losses
 * (G − A of each style layer) is kept between the two.
 *
 * Not here: the optimiser and the loop (transfer.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "objective.h"
#include "vgg.h"

struct nst_objective {
    const nst_params *p;
    nst_net *net;
    int threads;                           /* of each net (vgg.h) */
    int W, H;
    float *content_target[NST_NUM_LAYERS]; /* P^l, (C,H,W), or NULL */
    float *style_target[NST_NUM_LAYERS];   /* A^l, (C,C), or NULL */
    float *style_diff[NST_NUM_LAYERS];     /* G^l − A^l (symmetrised) at the latest x */
    double style_weight[NST_NUM_LAYERS];   /* w_l */
    float *gram_scratch;                   /* loss_scratch_floats of the widest style layer */
};

/* ------------------------------------------------------------------ evaluation */

double nst_objective_value(nst_objective *o, const float *x, nst_losses *parts)
{
    nst_losses v = {0};
    nst_net_forward(o->net, x);
    for (int l = 0; l < NST_NUM_LAYERS; l++) {
        if (!o->content_target[l] && !o->style_target[l]) continue;
        int C, H, W;
        const float *act = nst_net_activation(o->net, l, &C, &H, &W);
        if (o->content_target[l])
            v.content += o->p->alpha * content_loss(act, o->content_target[l], (size_t)C * H * W);
        if (o->style_target[l])
            v.style += o->p->beta * o->style_weight[l] *
                       style_loss(o->style_diff[l], act, o->style_target[l], C, H * W,
                                  o->gram_scratch, nst_net_pool(o->net));
    }
    if (o->p->tv_weight > 0) v.tv = o->p->tv_weight * tv_loss(x, 3, o->H, o->W);
    v.total = v.content + v.style + v.tv;
    if (parts) *parts = v;
    return v.total;
}

/* The vgg.h hook: the weighted content and style gradients of layer l, added
 * into grad; the style gradient's pieces also take grad through the ReLU
 * while they are in cache. */
static int layer_grad(int l, const float *act, float *grad, int C, int H, int W, int masked,
                      void *user)
{
    nst_objective *o = user;
    if (o->content_target[l]) {
        content_grad(grad, (float)o->p->alpha, act, o->content_target[l], (size_t)C * H * W);
        masked = 0;
    }
    if (o->style_target[l]) {
        style_grad(grad, (float)(o->p->beta * o->style_weight[l]), act, o->style_diff[l], C,
                   H * W, 1, nst_net_pool(o->net));
        masked = 1;
    }
    return masked;
}

void nst_objective_gradient(nst_objective *o, const float *x, float *g)
{
    nst_net_backward(o->net, g, layer_grad, o);
    if (o->p->tv_weight > 0) tv_grad(g, (float)o->p->tv_weight, x, 3, o->H, o->W);
}

void nst_objective_free(nst_objective *o)
{
    if (!o) return;
    for (int l = 0; l < NST_NUM_LAYERS; l++) {
        free(o->content_target[l]);
        free(o->style_target[l]);
        free(o->style_diff[l]);
    }
    free(o->gram_scratch);
    nst_net_free(o->net);
    free(o);
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

/* Copy the content layers' activations of the content image (output size). */
static int content_targets(nst_objective *o, const nst_image *content)
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

/* Add b × Gram of each style layer of `style` (already sized) into the
 * targets. The style's own net lives only here, before the output's net
 * exists, so peak memory is the larger of the two, not their sum. */
static int style_targets_add(nst_objective *o, const nst_model *m, const nst_image *style, double b,
                             float *gram)
{
    const nst_params *p = o->p;
    nst_net *net = nst_net_create(m, style->w, style->h, params_depth(p), p->pooling, o->threads);
    if (!net) return NST_ENOMEM;
    nst_net_forward(net, style->data);
    for (int i = 0; i < p->n_style_layers; i++) {
        int l = p->style_layers[i], C, H, W;
        const float *a = nst_net_activation(net, l, &C, &H, &W);
        gram_compute(gram, a, C, H * W, o->gram_scratch, nst_net_pool(net));
        float *t = o->style_target[l];
        for (size_t j = 0; j < (size_t)C * C; j++) t[j] += (float)b * gram[j];
    }
    nst_net_free(net);
    return NST_OK;
}

/* Style image k at the size the losses see it: longest side style_scale ×
 * the output's (at least 16 px, so every pooling has input), colours matched
 * to the content when asked. */
static int style_longest(const nst_params *p, int out_w, int out_h)
{
    int out_longest = out_w > out_h ? out_w : out_h;
    int longest = (int)lround(p->style_scale * out_longest);
    return longest < 16 ? 16 : longest;
}

static int style_prepare(const nst_params *p, const nst_image *style, const nst_image *content,
                         nst_image *out)
{
    int longest = style_longest(p, content->w, content->h);
    int rc = nst_image_fit(style, longest, out);
    if (rc == NST_OK && p->preserve_colors == NST_COLORS_HISTOGRAM)
        nst_colors_match(out, content);
    return rc;
}

/* The blended style Grams A^l = Σ_k b_k A^l_k with b normalised to sum 1. */
static int style_targets(nst_objective *o, const nst_model *m, const nst_image *styles,
                         int n_styles, const nst_image *content)
{
    const nst_params *p = o->p;
    size_t max_c = 0;
    for (int i = 0; i < p->n_style_layers; i++) {
        int l = p->style_layers[i];
        size_t c = (size_t)nst_layers[l].cout;
        if (c > max_c) max_c = c;
        if (!(o->style_target[l] = calloc(c * c, sizeof(float))) ||
            !(o->style_diff[l] = malloc(c * c * sizeof(float))))
            return NST_ENOMEM;
        o->style_weight[l] = p->style_layer_weights[i];
    }
    float *gram = malloc(max_c * max_c * sizeof(float));
    o->gram_scratch = malloc(loss_scratch_floats((int)max_c) * sizeof(float));
    if (!gram || !o->gram_scratch) {
        free(gram);
        return NST_ENOMEM;
    }
    double sum = 0;
    for (int k = 0; k < n_styles; k++)
        sum += p->n_style_blend_weights ? p->style_blend_weights[k] : 1;
    int rc = NST_OK;
    for (int k = 0; k < n_styles && rc == NST_OK; k++) {
        double b = (p->n_style_blend_weights ? p->style_blend_weights[k] : 1) / sum;
        if (b == 0) continue;
        nst_image s = {0};
        rc = style_prepare(p, &styles[k], content, &s);
        if (rc == NST_OK) rc = style_targets_add(o, m, &s, b, gram);
        nst_image_free(&s);
    }
    free(gram);
    return rc;
}

int nst_objective_create(const nst_model *m, const nst_params *p, const nst_image *content_sized,
                         const nst_image *styles, int n_styles, int threads,
                         nst_objective **out, nst_error *err)
{
    *out = NULL;
    int rc = nst_params_check_styles(p, n_styles, err);
    if (rc != NST_OK) return rc;
    nst_objective *o = calloc(1, sizeof *o);
    if (!o) return nst_error_set(err, NST_ENOMEM, "", "out of memory");
    o->p = p;
    o->threads = threads;
    o->W = content_sized->w;
    o->H = content_sized->h;
    if ((rc = style_targets(o, m, styles, n_styles, content_sized)) != NST_OK) {
        nst_objective_free(o);
        return nst_error_set(err, rc, "style", "computing the style targets: %s", nst_strerror(rc));
    }
    if (!(o->net = nst_net_create(m, o->W, o->H, params_depth(p), p->pooling, threads))) {
        nst_objective_free(o);
        return nst_error_set(err, NST_ENOMEM, "image_size",
                             "cannot plan the network for %dx%d pixels (out of memory)",
                             content_sized->w, content_sized->h);
    }
    if ((rc = content_targets(o, content_sized)) != NST_OK) {
        nst_objective_free(o);
        return nst_error_set(err, rc, "", "computing the targets: %s", nst_strerror(rc));
    }
    *out = o;
    return NST_OK;
}

/* ------------------------------------------------------------------ memory */

/* The size nst_image_fit gives a w×h image for `longest` (its arithmetic). */
static void fitted_size(int w, int h, int longest, int *fw, int *fh)
{
    int big = w > h ? w : h;
    double scale = (double)longest / big;
    *fw = w == big ? longest : (int)lround(w * scale);
    *fh = h == big ? longest : (int)lround(h * scale);
    if (*fw < 1) *fw = 1;
    if (*fh < 1) *fh = 1;
}

/* Walks nst_objective_create's allocations in their order: the style
 * targets (all style layers' A^l and G − A, the Gram and its scratch), then
 * per style image its fitted copy with nst_image_resize's two temporaries
 * (the input interleaved, the output interleaved), then the style's net;
 * after the styles, the output's net and the content targets. The style
 * nets are freed before the output's net exists, so the peak is the larger
 * of the two phases on top of the targets. */
size_t nst_objective_bytes(const nst_params *p, int W, int H, const int *style_wh, int n_styles)
{
    int depth = params_depth(p);
    size_t targets = 0, max_c = 0;
    for (int i = 0; i < p->n_style_layers; i++) {
        size_t c = (size_t)nst_layers[p->style_layers[i]].cout;
        if (c > max_c) max_c = c;
        targets += 2 * c * c;
    }
    targets += max_c * max_c + loss_scratch_floats((int)max_c);
    size_t styles_peak = 0;
    int longest = style_longest(p, W, H);
    for (int k = 0; k < n_styles; k++) {
        int sw = style_wh[2 * k], sh = style_wh[2 * k + 1];
        if (sw < 1 || sh < 1) continue;
        int fw, fh;
        fitted_size(sw, sh, longest, &fw, &fh);
        size_t fit = (size_t)3 * fw * fh, in = (size_t)3 * sw * sh;
        size_t resize = 2 * fit + in;
        size_t net = fit + nst_net_bytes(fw, fh, depth) / sizeof(float);
        size_t peak = resize > net ? resize : net;
        if (peak > styles_peak) styles_peak = peak;
    }
    size_t content = 0;
    for (int i = 0; i < p->n_content_layers; i++) {
        int l = p->content_layers[i], dup = 0, pools = 0;
        for (int j = 0; j < i; j++) dup |= p->content_layers[j] == l;
        if (dup) continue;
        for (int k = 0; k < l; k++) pools += nst_layers[k].pool_after;
        content += (size_t)nst_layers[l].cout * (size_t)(W >> pools) * (size_t)(H >> pools);
    }
    size_t output = nst_net_bytes(W, H, depth) / sizeof(float) + content;
    return (targets + (styles_peak > output ? styles_peak : output)) * sizeof(float) +
           sizeof(nst_objective);
}
