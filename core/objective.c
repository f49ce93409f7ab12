/*
 * objective.c — the loss of Gatys et al. for one job (see objective.h):
 *     L(x) = α Σ_content ½‖F^l − P^l‖² + β Σ_style w_l E_l + tv_weight TV(x)
 * with the content targets P^l of the content image at the output size and
 * the blended style Grams A^l = Σ_k b_k A^l_k (b normalised to sum 1, each
 * style image resized so its longest side is style_scale × the output's).
 * With masks (nst_masks, mask.h) the style loss is a sum of terms: the blend
 * of the unmasked styles as above (outside the content mask, when there is
 * one), and per masked style k its own guided loss b_k E(G_m, A_k) against
 * its own Gram A_k; the content loss is weighted per position inside the
 * content mask. Without masks there is one term, today's, bit for bit.
 * The losses are computed after the forward pass; their gradients are added
 * layer by layer while VGG's backward pass runs (vgg.h's hook), so no
 * per-loss gradient buffers exist. What the gradients need of the losses
 * (G − A of each style layer) is kept between the two.
 *
 * Not here: the optimiser and the loop (transfer.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "loss.h"
#include "mask.h"
#include "objective.h"
#include "vgg.h"

/* One style loss: the blend of the unmasked styles, or one masked style. */
typedef struct {
    double weight;                         /* its share of the style weight: Σ b_k */
    float *target[NST_NUM_LAYERS];         /* A^l, (C,C), or NULL */
    float *diff[NST_NUM_LAYERS];           /* G^l − A^l (symmetrised) at the latest x */
    mask_levels mask;                      /* at[l] NULL: everywhere */
} style_term;

struct nst_objective {
    const nst_params *p;
    nst_net *net;
    int threads;                           /* of each net (vgg.h) */
    int W, H;
    float *content_target[NST_NUM_LAYERS]; /* P^l, (C,H,W), or NULL */
    mask_levels content_weight;            /* w per position, at[l] NULL: 1 everywhere */
    int n_terms;
    style_term term[NST_MAX_STYLES + 1];
    int style_layer[NST_NUM_LAYERS];       /* 1 for a style layer */
    double style_weight[NST_NUM_LAYERS];   /* w_l */
    float *gram_scratch;                   /* loss_scratch_floats of the widest style layer */
    float *work;                           /* the widest style layer's masked features, or NULL */
};

/* ------------------------------------------------------------------ terms */

/* Which term each style image joins: -1 (weight 0, none), 0 … n_terms−1;
 * the blend of the unmasked styles comes first. What create and the memory
 * estimate both walk. */
typedef struct {
    int n_terms;
    int of_style[NST_MAX_STYLES];
    double coef[NST_MAX_STYLES];           /* its Gram's share of the term's target */
    double weight[NST_MAX_STYLES + 1];     /* per term */
    int masked[NST_MAX_STYLES + 1];        /* per term: 1 when it has a mask */
    int style[NST_MAX_STYLES + 1];         /* per term: its style, or -1 for the blend */
} term_plan;

/* masked: bit k for a mask of style k; content: a content mask. The blend
 * of the unmasked styles is normalised among them (Σ their b_k is the
 * term's weight), so without masks its weight is 1 and its coefficients
 * today's b_k, exactly. */
static double blend_weight(const nst_params *p, int k)
{
    return p->n_style_blend_weights ? p->style_blend_weights[k] : 1;
}

static void plan_terms(term_plan *tp, const nst_params *p, int n_styles, unsigned masked,
                       int content)
{
    memset(tp, 0, sizeof *tp);
    double sum = 0, sum_u = 0;
    for (int k = 0; k < n_styles; k++) {
        double r = blend_weight(p, k);
        sum += r;
        if (!(masked >> k & 1u)) sum_u += r;
    }
    int unmasked = 0;
    for (int k = 0; k < n_styles; k++) {
        double r = blend_weight(p, k);
        tp->of_style[k] = -1;
        if (r == 0 || (masked >> k & 1u)) continue;
        tp->of_style[k] = 0;
        tp->coef[k] = r / sum_u;
        unmasked = 1;
    }
    if (unmasked) {
        tp->weight[0] = sum_u / sum;
        tp->masked[0] = content;
        tp->style[0] = -1;
        tp->n_terms = 1;
    }
    for (int k = 0; k < n_styles; k++) {
        double r = blend_weight(p, k);
        if (r == 0 || !(masked >> k & 1u)) continue;
        int t = tp->n_terms++;
        tp->of_style[k] = t;
        tp->coef[k] = 1;
        tp->weight[t] = r / sum;
        tp->masked[t] = 1;
        tp->style[t] = k;
    }
}

static unsigned masks_bits(const nst_masks *masks, int n_styles)
{
    unsigned bits = 0;
    for (int k = 0; masks && k < n_styles; k++) bits |= (masks->style[k] != NULL) << k;
    return bits;
}

/* ------------------------------------------------------------------ evaluation */

double nst_objective_value(nst_objective *o, const float *x, nst_losses *parts)
{
    nst_losses v = {0};
    nst_net_forward(o->net, x);
    nst_pool *pool = nst_net_pool(o->net);
    for (int l = 0; l < NST_NUM_LAYERS; l++) {
        if (!o->content_target[l] && !o->style_layer[l]) continue;
        int C, H, W;
        const float *act = nst_net_activation(o->net, l, &C, &H, &W);
        const float *cw = o->content_weight.at[l];
        if (o->content_target[l])
            v.content += o->p->alpha *
                         (cw ? mask_content_loss(act, o->content_target[l], cw, C, H * W)
                             : content_loss(act, o->content_target[l], (size_t)C * H * W));
        for (int i = 0; o->style_layer[l] && i < o->n_terms; i++) {
            style_term *t = &o->term[i];
            const float *m = t->mask.at[l];
            double e = m ? mask_style_loss(t->diff[l], o->work, act, m, t->mask.scale[l],
                                           t->target[l], C, H * W, o->gram_scratch, pool)
                         : style_loss(t->diff[l], act, t->target[l], C, H * W,
                                      o->gram_scratch, pool);
            v.style += o->p->beta * o->style_weight[l] * t->weight * e;
        }
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
    nst_pool *pool = nst_net_pool(o->net);
    const float *cw = o->content_weight.at[l];
    if (o->content_target[l]) {
        if (cw)
            mask_content_grad(grad, (float)o->p->alpha, act, o->content_target[l], cw, C, H * W);
        else
            content_grad(grad, (float)o->p->alpha, act, o->content_target[l], (size_t)C * H * W);
        masked = 0;
    }
    const style_term *plain = NULL; /* the unmasked term goes last: it applies the ReLU */
    for (int i = 0; o->style_layer[l] && i < o->n_terms; i++) {
        const style_term *t = &o->term[i];
        float weight = (float)(o->p->beta * o->style_weight[l] * t->weight);
        if (!t->mask.at[l]) {
            plain = t;
            continue;
        }
        mask_style_grad(grad, weight, o->work, act, t->mask.at[l], t->mask.scale[l], t->diff[l],
                        C, H * W, pool);
        masked = 0;
    }
    if (plain) {
        style_grad(grad, (float)(o->p->beta * o->style_weight[l] * plain->weight), act,
                   plain->diff[l], C, H * W, 1, pool);
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
    for (int l = 0; l < NST_NUM_LAYERS; l++) free(o->content_target[l]);
    for (int i = 0; i < o->n_terms; i++) {
        style_term *t = &o->term[i];
        for (int l = 0; l < NST_NUM_LAYERS; l++) {
            free(t->target[l]);
            free(t->diff[l]);
        }
        mask_levels_free(&t->mask);
    }
    mask_levels_free(&o->content_weight);
    free(o->gram_scratch);
    free(o->work);
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
        if (!o->content_target[l] && !(o->content_target[l] = nst_big_alloc(n * sizeof(float))))
            return NST_ENOMEM;
        memcpy(o->content_target[l], a, n * sizeof(float));
    }
    return NST_OK;
}

/* Add b × Gram of each style layer of `style` (already sized) into the
 * targets of term t. The style's own net lives only here, before the
 * output's net exists, so peak memory is the larger of the two, not their
 * sum. */
static int style_targets_add(nst_objective *o, const nst_model *m, const nst_image *style, double b,
                             style_term *term, float *gram)
{
    const nst_params *p = o->p;
    nst_net *net = nst_net_create(m, style->w, style->h, params_depth(p), p->pooling, o->threads);
    if (!net) return NST_ENOMEM;
    nst_net_forward(net, style->data);
    for (int i = 0; i < p->n_style_layers; i++) {
        int l = p->style_layers[i], C, H, W;
        const float *a = nst_net_activation(net, l, &C, &H, &W);
        gram_compute(gram, a, C, H * W, o->gram_scratch, nst_net_pool(net));
        float *t = term->target[l];
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

/* The style Grams of each term: the blend A^l = Σ_k b_k A^l_k of the
 * unmasked styles (b normalised among them), each masked style's own. */
static int style_targets(nst_objective *o, const nst_model *m, const nst_image *styles,
                         int n_styles, const term_plan *tp, const nst_image *content)
{
    const nst_params *p = o->p;
    size_t max_c = 0;
    for (int i = 0; i < p->n_style_layers; i++) {
        int l = p->style_layers[i];
        size_t c = (size_t)nst_layers[l].cout;
        if (c > max_c) max_c = c;
        for (int t = 0; t < tp->n_terms; t++)
            if (!(o->term[t].target[l] = calloc(c * c, sizeof(float))) ||
                !(o->term[t].diff[l] = malloc(c * c * sizeof(float))))
                return NST_ENOMEM;
        o->style_layer[l] = 1;
        o->style_weight[l] = p->style_layer_weights[i];
    }
    float *gram = malloc(max_c * max_c * sizeof(float));
    o->gram_scratch = malloc(loss_scratch_floats((int)max_c) * sizeof(float));
    if (!gram || !o->gram_scratch) {
        free(gram);
        return NST_ENOMEM;
    }
    int rc = NST_OK;
    for (int k = 0; k < n_styles && rc == NST_OK; k++) {
        if (tp->of_style[k] < 0) continue;
        nst_image s = {0};
        rc = style_prepare(p, &styles[k], content, &s);
        if (rc == NST_OK) rc = style_targets_add(o, m, &s, tp->coef[k], &o->term[tp->of_style[k]], gram);
        nst_image_free(&s);
    }
    free(gram);
    return rc;
}

/* Bit l for every layer in the list. */
static unsigned layer_bits(const int *layers, int n)
{
    unsigned bits = 0;
    for (int i = 0; i < n; i++) bits |= 1u << layers[i];
    return bits;
}

/* The masks at each layer: each masked style's (its mask, times 1 − the
 * content mask), the unmasked styles' blend's with a content mask (1 − it),
 * and the content weights 1 + (content_mask_weight − 1)·m. *bad names the
 * mask that failed: style k's, or -1 for the content mask. */
static int mask_targets(nst_objective *o, const nst_masks *masks, const term_plan *tp, int *bad)
{
    const nst_params *p = o->p;
    int W = o->W, H = o->H, depth = params_depth(p), rc = NST_OK;
    size_t n = (size_t)W * H;
    unsigned style_bits = layer_bits(p->style_layers, p->n_style_layers);
    float *keep = masks->content ? malloc(n * sizeof(float)) : NULL; /* the content mask */
    float *m = malloc(n * sizeof(float));
    *bad = -1;
    if (!m || (masks->content && !keep)) rc = NST_ENOMEM;
    if (rc == NST_OK && keep) rc = mask_from_image(keep, masks->content, W, H);
    for (int t = 0; t < tp->n_terms && rc == NST_OK; t++) {
        if (!tp->masked[t]) continue;
        int k = tp->style[t];
        *bad = k;
        if (k >= 0) rc = mask_from_image(m, masks->style[k], W, H);
        else
            for (size_t j = 0; j < n; j++) m[j] = 1.0f;
        for (size_t j = 0; keep && j < n; j++) m[j] *= 1.0f - keep[j];
        if (rc == NST_OK) rc = mask_levels_build(&o->term[t].mask, m, W, H, depth, style_bits);
    }
    if (rc == NST_OK && keep) {
        *bad = -1;
        unsigned content_bits = layer_bits(p->content_layers, p->n_content_layers);
        rc = mask_levels_build(&o->content_weight, keep, W, H, depth, content_bits);
        float k1 = (float)(p->content_mask_weight - 1.0);
        for (int l = 0; rc == NST_OK && l < NST_NUM_LAYERS; l++)
            for (size_t j = 0; o->content_weight.at[l] && j < o->content_weight.n[l]; j++)
                o->content_weight.at[l][j] = 1.0f + k1 * o->content_weight.at[l][j];
    }
    free(keep);
    free(m);
    return rc;
}

/* The masked features' buffer when a term has a mask: the widest style
 * layer's activation. */
static int work_alloc(nst_objective *o)
{
    int guided = 0;
    for (int t = 0; t < o->n_terms; t++)
        for (int l = 0; l < NST_NUM_LAYERS; l++) guided |= o->term[t].mask.at[l] != NULL;
    size_t most = 0;
    for (int l = 0; guided && l < NST_NUM_LAYERS; l++) {
        int C, H, W;
        if (!o->style_layer[l]) continue;
        nst_net_activation(o->net, l, &C, &H, &W);
        if ((size_t)C * H * W > most) most = (size_t)C * H * W;
    }
    return most && !(o->work = malloc(most * sizeof(float))) ? NST_ENOMEM : NST_OK;
}

int nst_objective_create(const nst_model *m, const nst_params *p, const nst_image *content_sized,
                         const nst_image *styles, int n_styles, const nst_masks *masks,
                         int threads, nst_objective **out, nst_error *err)
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
    term_plan tp;
    plan_terms(&tp, p, n_styles, masks_bits(masks, n_styles), masks && masks->content);
    o->n_terms = tp.n_terms;
    for (int t = 0; t < tp.n_terms; t++) o->term[t].weight = tp.weight[t];
    int bad;
    if (masks && (rc = mask_targets(o, masks, &tp, &bad)) != NST_OK) {
        nst_objective_free(o);
        char field[32];
        snprintf(field, sizeof field, bad < 0 ? "content_mask" : "style_mask[%d]", bad);
        return nst_error_set(err, rc, field, "%s: cannot prepare the mask: %s", field,
                             nst_strerror(rc));
    }
    if ((rc = style_targets(o, m, styles, n_styles, &tp, content_sized)) != NST_OK) {
        nst_objective_free(o);
        return nst_error_set(err, rc, "style", "computing the style targets: %s", nst_strerror(rc));
    }
    if (!(o->net = nst_net_create(m, o->W, o->H, params_depth(p), p->pooling, threads)) ||
        work_alloc(o) != NST_OK) {
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

/* Floats of layer l's activation for a W×H image. */
static size_t layer_floats(int l, int W, int H)
{
    int pools = 0;
    for (int k = 0; k < l; k++) pools += nst_layers[k].pool_after;
    return (size_t)nst_layers[l].cout * (size_t)(W >> pools) * (size_t)(H >> pools);
}

/* Walks nst_objective_create's allocations in their order: the masks at
 * each layer (with the content mask and one mask at the output's size, and
 * the larger of a mask's resize and its pooling temporaries), then the
 * style targets (every term's A^l and G − A of every style layer, the Gram
 * and its scratch), then per style image its fitted copy with
 * nst_image_resize's two temporaries (the input interleaved, the output
 * interleaved), then the style's net; after the styles, the output's net,
 * the masked features and the content targets. The style nets are freed
 * before the output's net exists, so the peak is the larger of the two
 * phases on top of the targets. */
size_t nst_objective_bytes(const nst_params *p, int W, int H, const int *style_wh, int n_styles,
                           const int *mask_wh)
{
    int depth = params_depth(p);
    unsigned masked = 0;
    int content_mask = mask_wh && mask_wh[2 * n_styles] > 0 && mask_wh[2 * n_styles + 1] > 0;
    for (int k = 0; mask_wh && k < n_styles; k++)
        masked |= (mask_wh[2 * k] > 0 && mask_wh[2 * k + 1] > 0) << k;
    term_plan tp;
    plan_terms(&tp, p, n_styles, masked, content_mask);

    size_t masks = 0, mask_temp = 0, level_temp = 0, work = 0;
    unsigned style_bits = layer_bits(p->style_layers, p->n_style_layers);
    unsigned content_bits = layer_bits(p->content_layers, p->n_content_layers);
    for (int t = 0; t < tp.n_terms; t++) {
        if (!tp.masked[t]) continue;
        masks += mask_levels_floats(W, H, depth, style_bits, &level_temp);
        for (int l = 0; l < NST_NUM_LAYERS; l++)
            if ((style_bits >> l & 1u) && layer_floats(l, W, H) > work)
                work = layer_floats(l, W, H);
    }
    if (content_mask) masks += mask_levels_floats(W, H, depth, content_bits, &level_temp);
    for (int k = 0; mask_wh && k <= n_styles; k++) {
        size_t f = mask_from_image_floats(mask_wh[2 * k], mask_wh[2 * k + 1], W, H);
        if ((k == n_styles ? content_mask : (int)(masked >> k & 1u)) && f > mask_temp)
            mask_temp = f;
    }
    if (masks) mask_temp = 2 * (size_t)W * H + (mask_temp > level_temp ? mask_temp : level_temp);

    size_t targets = 0, max_c = 0;
    for (int i = 0; i < p->n_style_layers; i++) {
        size_t c = (size_t)nst_layers[p->style_layers[i]].cout;
        if (c > max_c) max_c = c;
        targets += 2 * c * c * (size_t)tp.n_terms;
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
        int l = p->content_layers[i], dup = 0;
        for (int j = 0; j < i; j++) dup |= p->content_layers[j] == l;
        if (!dup) content += layer_floats(l, W, H);
    }
    size_t output = nst_net_bytes(W, H, depth) / sizeof(float) + work + content;
    size_t later = targets + (styles_peak > output ? styles_peak : output);
    return (masks + (mask_temp > later ? mask_temp : later)) * sizeof(float) +
           sizeof(nst_objective);
}
