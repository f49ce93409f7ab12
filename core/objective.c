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
 * When the job's memory limit cannot hold the whole image's network, the
 * same loss and gradient are computed on tiles (see "tiles" below), exactly.
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
    /* tiled evaluation (tile > 0; see "tiles" below) */
    int tile;                              /* interior side of a tile, a multiple of TILE_ALIGN */
    int mv, mg;                            /* margins of the value and the gradient passes */
    double *gram_sum[NST_NUM_LAYERS];      /* Σ over tiles of F Fᵀ, (C,C) */
    float *tile_img;                       /* (3,eh,ew) of the largest grown tile */
    float *feat;                           /* a tile's interior features, widest style layer */
    float *tile_gram;                      /* (C,C) of the widest style layer */
    int ex0, ey0;                          /* origin of the tile being differentiated */
    size_t tile_area;                      /* pixels of the largest grown tile */
    double *term_sum[NST_MAX_STYLES + 1][NST_NUM_LAYERS]; /* masked terms: Σ F̂ F̂ᵀ */
    float *tile_mask;                      /* a mask at a grown tile's layer, (h·w) */
    float *tile_work;                      /* masked features of a grown tile's widest style layer */
};

/* Tiles' origins and margins are multiples of this: the stride at conv5
 * (see "tiles" below). */
#define TILE_ALIGN 16

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

static double tiled_value(nst_objective *o, const float *x, nst_losses *parts);
static void tiled_gradient(nst_objective *o, const float *x, float *g);
static int tile_value_pass(nst_objective *o, const float *img, int W, int H, int grams,
                           double *content, int store);
static void tile_gram_of(nst_objective *o, int l, int W, int H);
static int tile_setup(nst_objective *o, const nst_model *m, const nst_image *styles, int n_styles);
static int tile_mask_setup(nst_objective *o);
static size_t layer_floats(int l, int W, int H);

double nst_objective_value(nst_objective *o, const float *x, nst_losses *parts)
{
    if (o->tile) return tiled_value(o, x, parts);
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

/* The style terms' gradients of layer l, added into grad (C,H,W) after
 * the content's (masked: whether grad is through the ReLU so far), each
 * term's weight times share (a tile's part of the image's positions; 1
 * untiled). A masked term's mask is the image's (LW wide) at (ox, oy);
 * work holds the masked features. Returns whether grad is through the
 * ReLU: the unmasked term, last, applies it while in cache. */
static int style_terms_grad(nst_objective *o, int l, const float *act, float *grad, int C, int H,
                            int W, int masked, double share, int ox, int oy, int LW, float *work)
{
    nst_pool *pool = nst_net_pool(o->net);
    const style_term *plain = NULL;
    for (int i = 0; o->style_layer[l] && i < o->n_terms; i++) {
        const style_term *t = &o->term[i];
        const float *mk = t->mask.at[l];
        if (!mk) {
            plain = t;
            continue;
        }
        if (LW != W || ox || oy) { /* a tile: its rows of the mask, side by side */
            for (int y = 0; y < H; y++)
                memcpy(o->tile_mask + (size_t)y * W, mk + (size_t)(oy + y) * LW + ox,
                       (size_t)W * sizeof(float));
            mk = o->tile_mask;
        }
        mask_style_grad(grad, (float)(o->p->beta * o->style_weight[l] * t->weight * share), work,
                        act, mk, t->mask.scale[l], t->diff[l], C, H * W, o->gram_scratch, pool);
        masked = 0;
    }
    if (plain) {
        style_grad(grad, (float)(o->p->beta * o->style_weight[l] * plain->weight * share), act,
                   plain->diff[l], C, H * W, 1, o->gram_scratch, pool);
        masked = 1;
    }
    return masked;
}

/* The vgg.h hook: the weighted content and style gradients of layer l, added
 * into grad; the style gradient's pieces also take grad through the ReLU
 * while they are in cache. */
static int layer_grad(int l, const float *act, float *grad, int C, int H, int W, int x0,
                      int y0, int masked, void *user)
{
    (void)x0, (void)y0; /* the whole plane */
    nst_objective *o = user;
    const float *cw = o->content_weight.at[l];
    if (o->content_target[l]) {
        if (cw)
            mask_content_grad(grad, (float)o->p->alpha, act, o->content_target[l], cw, C, H * W);
        else
            content_grad(grad, (float)o->p->alpha, act, o->content_target[l], (size_t)C * H * W);
        masked = 0;
    }
    return style_terms_grad(o, l, act, grad, C, H, W, masked, 1.0, 0, 0, W, o->work);
}

void nst_objective_gradient(nst_objective *o, const float *x, float *g)
{
    if (o->tile) {
        tiled_gradient(o, x, g);
        return;
    }
    nst_net_backward(o->net, g, layer_grad, o);
    if (o->p->tv_weight > 0) tv_grad(g, (float)o->p->tv_weight, x, 3, o->H, o->W);
}

nst_pool *nst_objective_pool(const nst_objective *o) { return nst_net_pool(o->net); }

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
    for (int l = 0; l < NST_NUM_LAYERS; l++) free(o->gram_sum[l]);
    free(o->tile_img);
    free(o->feat);
    free(o->tile_gram);
    for (int t = 0; t <= NST_MAX_STYLES; t++)
        for (int l = 0; l < NST_NUM_LAYERS; l++) free(o->term_sum[t][l]);
    free(o->tile_mask);
    free(o->tile_work);
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
    if (o->tile) { /* the whole image's targets, from the tiles */
        for (int i = 0; i < o->p->n_content_layers; i++) {
            int l = o->p->content_layers[i];
            size_t n = layer_floats(l, o->W, o->H);
            if (!o->content_target[l] && !(o->content_target[l] = malloc(n * sizeof(float))))
                return NST_ENOMEM;
        }
        return tile_value_pass(o, content->data, o->W, o->H, 0, NULL, 1);
    }
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
    if (o->tile) { /* the Grams from the tiles, in the objective's net */
        int rc = tile_value_pass(o, style->data, style->w, style->h, 1, NULL, 0);
        for (int i = 0; rc == NST_OK && i < p->n_style_layers; i++) {
            int l = p->style_layers[i], C = nst_layers[l].cout;
            tile_gram_of(o, l, style->w, style->h);
            float *t = term->target[l];
            for (size_t j = 0; j < (size_t)C * C; j++) t[j] += (float)b * o->tile_gram[j];
        }
        return rc;
    }
    (void)gram;
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
    return nst_objective_create_tiled(m, p, content_sized, styles, n_styles, masks, threads, 0,
                                      1, out, err);
}

int nst_objective_create_tiled(const nst_model *m, const nst_params *p,
                               const nst_image *content_sized, const nst_image *styles,
                               int n_styles, const nst_masks *masks, int threads, int tile,
                               int keep, nst_objective **out, nst_error *err)
{
    *out = NULL;
    int rc = nst_params_check_styles(p, n_styles, err);
    if (rc != NST_OK) return rc;
    if (tile && tile % TILE_ALIGN)
        return nst_error_set(err, NST_EINVAL, "", "tile %d: not a multiple of %d", tile,
                             TILE_ALIGN);
    nst_objective *o = calloc(1, sizeof *o);
    if (!o) return nst_error_set(err, NST_ENOMEM, "", "out of memory");
    o->p = p;
    o->threads = threads;
    o->W = content_sized->w;
    o->H = content_sized->h;
    o->tile = tile;
    if (tile && tile_setup(o, m, styles, n_styles) != NST_OK) {
        nst_objective_free(o);
        return nst_error_set(err, NST_ENOMEM, "image_size",
                             "cannot plan the network for %d px tiles of %dx%d (out of memory)",
                             tile, content_sized->w, content_sized->h);
    }
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
    if (tile && (rc = tile_mask_setup(o)) != NST_OK) {
        nst_objective_free(o);
        return nst_error_set(err, rc, "", "out of memory for the masks' tiles");
    }
    if ((rc = style_targets(o, m, styles, n_styles, &tp, content_sized)) != NST_OK) {
        nst_objective_free(o);
        return nst_error_set(err, rc, "style", "computing the style targets: %s", nst_strerror(rc));
    }
    int wh[2] = {o->W, o->H};
    if (!tile && (!(o->net = nst_net_create_sizes(m, wh, 1, params_depth(p), 0, keep, p->pooling,
                                                  threads)) ||
                  work_alloc(o) != NST_OK)) {
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
/* The masks' part of the estimate: the levels kept (*masks) and the peak of
 * their temporaries (*mask_temp), the masked features of the widest style
 * layer at W×H (*work); tp receives the terms. */
static void masks_floats(const nst_params *p, int W, int H, int n_styles, const int *mask_wh,
                         term_plan *tp, size_t *masks_out, size_t *mask_temp_out, size_t *work_out)
{
    int depth = params_depth(p);
    unsigned masked = 0;
    int content_mask = mask_wh && mask_wh[2 * n_styles] > 0 && mask_wh[2 * n_styles + 1] > 0;
    for (int k = 0; mask_wh && k < n_styles; k++)
        masked |= (mask_wh[2 * k] > 0 && mask_wh[2 * k + 1] > 0) << k;
    plan_terms(tp, p, n_styles, masked, content_mask);

    size_t masks = 0, mask_temp = 0, level_temp = 0, work = 0;
    unsigned style_bits = layer_bits(p->style_layers, p->n_style_layers);
    unsigned content_bits = layer_bits(p->content_layers, p->n_content_layers);
    for (int t = 0; t < tp->n_terms; t++) {
        if (!tp->masked[t]) continue;
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
    *masks_out = masks;
    *mask_temp_out = mask_temp;
    *work_out = work;
}

size_t nst_objective_bytes(const nst_params *p, int W, int H, const int *style_wh, int n_styles,
                           const int *mask_wh)
{
    int depth = params_depth(p);
    term_plan tp;
    size_t masks, mask_temp, work;
    masks_floats(p, W, H, n_styles, mask_wh, &tp, &masks, &mask_temp, &work);

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

/* ------------------------------------------------------------------ tiles */

/* The tiled evaluation: the same loss and gradient, computed on square
 * tiles of the output (and of the style images) small enough for the net
 * of one tile to fit a memory budget. Exact, not approximate:
 *   each tile's interior T (side `tile`, origin a multiple of TILE_ALIGN) is
 *   run grown by a margin (clamped to the image, where the zero padding is
 *   then the untiled net's). A position's features depend on the pixels of
 *   its receptive field, [i·s − a, i·s + b] at stride s (receptive()), so
 *   the features of T's positions are exact when grown by max(a, b) (mv):
 *   the value pass sums each layer's Gram F Fᵀ and content loss over T's
 *   positions only, and G − A and the losses are formed after the last
 *   tile, as the untiled evaluation forms them. A pixel of T reaches only
 *   positions whose receptive field holds it, whose features are exact when
 *   grown by a + b (mg): the gradient pass runs forward and backward there,
 *   with the global G − A and the stored content targets at the tile's
 *   offset, and keeps the image gradient of T's pixels only.
 * Origins and margins are multiples of TILE_ALIGN (the stride at conv5), so
 * every tile's pooling windows are the untiled net's, and a tile ending at
 * the image border ends where the untiled net's floor pooling does. */
static int round_align(int v) { return (v + TILE_ALIGN - 1) / TILE_ALIGN * TILE_ALIGN; }

/* The receptive field of layer depth−1 from the layer table: a position i
 * at stride s sees image pixels [i·s − *left, i·s + *right]. */
static void receptive(int depth, int *left, int *right)
{
    int a = 0, b = 0, s = 1;
    for (int l = 0; l < depth; l++) {
        a += s; /* 3×3, padding 1 */
        b += s;
        if (nst_layers[l].pool_after && l + 1 < depth) { /* 2×2: i covers 2i and 2i+1 */
            b += s;
            s *= 2;
        }
    }
    *left = a;
    *right = b;
}

static void tile_margins(int depth, int *mv, int *mg)
{
    int a, b;
    receptive(depth, &a, &b);
    *mv = round_align(a > b ? a : b);
    *mg = round_align(a + b);
}

/* Poolings before layer l (its stride is 1 << this). */
static int layer_pools(int l)
{
    int pools = 0;
    for (int k = 0; k < l; k++) pools += nst_layers[k].pool_after;
    return pools;
}

typedef struct {
    int x0, y0, x1, y1;
} rect;

static int tiles_of(int W, int H, int T) { return ((W + T - 1) / T) * ((H + T - 1) / T); }

static rect tile_at(int W, int H, int T, int i)
{
    int nx = (W + T - 1) / T;
    rect r = {i % nx * T, i / nx * T, 0, 0};
    r.x1 = r.x0 + T < W ? r.x0 + T : W;
    r.y1 = r.y0 + T < H ? r.y0 + T : H;
    return r;
}

static rect grown(rect r, int m, int W, int H)
{
    rect g = {r.x0 - m < 0 ? 0 : r.x0 - m, r.y0 - m < 0 ? 0 : r.y0 - m,
              r.x1 + m > W ? W : r.x1 + m, r.y1 + m > H ? H : r.y1 + m};
    return g;
}

/* The grown tiles' distinct shapes for an image W×H and margin m, appended
 * to wh (*n pairs, room for cap). */
static void tile_shapes(int *wh, int *n, int cap, int W, int H, int T, int m)
{
    for (int i = 0; i < tiles_of(W, H, T); i++) {
        rect g = grown(tile_at(W, H, T, i), m, W, H);
        int w = g.x1 - g.x0, h = g.y1 - g.y0, seen = 0;
        for (int j = 0; j < *n && !seen; j++) seen = wh[2 * j] == w && wh[2 * j + 1] == h;
        if (!seen && *n < cap) {
            wh[2 * *n] = w;
            wh[2 * *n + 1] = h;
            (*n)++;
        }
    }
}

/* Every shape the tiled objective's net runs: the output's tiles grown for
 * both passes, each style image's (fitted: fw[k]×fh[k]) for the value pass.
 * Returns a malloc'd list (NULL when out of memory) of *n pairs; *area is
 * the largest shape's pixels. */
static int *all_shapes(int W, int H, const int *fwh, int n_styles, int T, int mv, int mg, int *n,
                       size_t *area)
{
    int cap = 2 * tiles_of(W, H, T);
    for (int k = 0; k < n_styles; k++) cap += tiles_of(fwh[2 * k], fwh[2 * k + 1], T);
    int *wh = malloc((size_t)2 * cap * sizeof(int));
    if (!wh) return NULL;
    *n = 0;
    tile_shapes(wh, n, cap, W, H, T, mv);
    tile_shapes(wh, n, cap, W, H, T, mg);
    for (int k = 0; k < n_styles; k++) tile_shapes(wh, n, cap, fwh[2 * k], fwh[2 * k + 1], T, mv);
    *area = 0;
    for (int i = 0; i < *n; i++)
        if ((size_t)wh[2 * i] * wh[2 * i + 1] > *area) *area = (size_t)wh[2 * i] * wh[2 * i + 1];
    return wh;
}

/* Floats of a tile's interior features at the widest style layer. */
static size_t tile_feat_floats(const nst_params *p, int T)
{
    size_t most = 0;
    for (int i = 0; i < p->n_style_layers; i++) {
        int l = p->style_layers[i], s = 1 << layer_pools(l);
        size_t f = (size_t)nst_layers[l].cout * (size_t)((T + s - 1) / s) * ((T + s - 1) / s);
        if (f > most) most = f;
    }
    return most;
}

/* The tile's interior at layer l of an image W×H: positions [*a, *b) across,
 * [*c, *d) down; their offset in the grown tile's activation is g's origin
 * over the stride. */
static void layer_span(rect t, int W, int H, int l, int *a, int *b, int *c, int *d)
{
    int pools = layer_pools(l), s = 1 << pools;
    *a = t.x0 / s;
    *b = t.x1 == W ? W >> pools : t.x1 / s;
    *c = t.y0 / s;
    *d = t.y1 == H ? H >> pools : t.y1 / s;
}

/* img (3,H,W) → o->tile_img, the rectangle g; the net set to its size. */
static int tile_load(nst_objective *o, const float *img, int W, int H, rect g)
{
    int w = g.x1 - g.x0, h = g.y1 - g.y0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            memcpy(o->tile_img + ((size_t)c * h + y) * w,
                   img + ((size_t)c * H + g.y0 + y) * W + g.x0, (size_t)w * sizeof(float));
    if (nst_net_resize(o->net, w, h) != 0) return NST_ENOMEM;
    nst_net_forward(o->net, o->tile_img);
    return NST_OK;
}

/* The value pass over one image W×H (the output, the content image or a
 * style image): per tile, the style layers' F Fᵀ into o->gram_sum (grams),
 * and the content layers' features either stored as the targets (store) or
 * their ½ Σ (F − P)² summed into *content (content not NULL). */
static int tile_value_pass(nst_objective *o, const float *img, int W, int H, int grams,
                           double *content, int store)
{
    const nst_params *p = o->p;
    int depth = params_depth(p);
    nst_pool *pool = nst_net_pool(o->net);
    for (int l = 0; l < NST_NUM_LAYERS; l++) {
        size_t cc = sizeof(double) * nst_layers[l].cout * nst_layers[l].cout;
        if (grams && o->gram_sum[l]) memset(o->gram_sum[l], 0, cc);
        for (int t = 0; grams && t < o->n_terms; t++)
            if (o->term_sum[t][l]) memset(o->term_sum[t][l], 0, cc);
    }
    for (int i = 0; i < tiles_of(W, H, o->tile); i++) {
        rect t = tile_at(W, H, o->tile, i), g = grown(t, o->mv, W, H);
        int rc = tile_load(o, img, W, H, g);
        if (rc != NST_OK) return rc;
        for (int l = 0; l < depth; l++) {
            int use_content = o->content_target[l] && (store || content);
            int use_style = grams && o->style_layer[l];
            if (!use_content && !use_style) continue;
            int C, h, w, a, b, c, d, pools = layer_pools(l);
            const float *act = nst_net_activation(o->net, l, &C, &h, &w);
            layer_span(t, W, H, l, &a, &b, &c, &d);
            if (b <= a || d <= c) continue;
            int ox = g.x0 >> pools, oy = g.y0 >> pools, LW = W >> pools, LH = H >> pools;
            if (use_content) {
                float *P = o->content_target[l];
                const float *cw = store ? NULL : o->content_weight.at[l];
                double sum = 0;
                for (int ch = 0; ch < C; ch++)
                    for (int y = c; y < d; y++) {
                        const float *f = act + ((size_t)ch * h + y - oy) * w - ox;
                        float *q = P + ((size_t)ch * LH + y) * LW;
                        const float *wy = cw ? cw + (size_t)y * LW : NULL;
                        if (store) {
                            memcpy(q + a, f + a, (size_t)(b - a) * sizeof(float));
                            continue;
                        }
                        for (int x = a; x < b; x++) {
                            float e = f[x] - q[x];
                            sum += wy ? (double)wy[x] * e * e : (double)e * e;
                        }
                    }
                if (content) *content += 0.5 * sum;
            }
            /* the plain Gram (style images, unmasked terms), then, for the
             * output, each masked term's, of F̂ = F∘(s·m) (mask.h) */
            for (int ti = -1; use_style && ti < (content ? o->n_terms : 0); ti++) {
                const float *mk = ti < 0 ? NULL : o->term[ti].mask.at[l];
                if (ti >= 0 && (!mk || o->term[ti].mask.scale[l] == 0.0f)) continue;
                float sc = ti < 0 ? 1.0f : o->term[ti].mask.scale[l];
                int m = (b - a) * (d - c), k = 0;
                for (int ch = 0; ch < C; ch++)
                    for (int y = c; y < d; y++, k += b - a) {
                        const float *f = act + ((size_t)ch * h + y - oy) * w - ox;
                        if (!mk) {
                            memcpy(o->feat + k, f + a, (size_t)(b - a) * sizeof(float));
                            continue;
                        }
                        const float *my = mk + (size_t)y * LW;
                        for (int x = a; x < b; x++) o->feat[k + x - a] = f[x] * (sc * my[x]);
                    }
                gram_compute(o->tile_gram, o->feat, C, m, o->gram_scratch, pool);
                double *sum = ti < 0 ? o->gram_sum[l] : o->term_sum[ti][l];
                for (size_t j = 0; j < (size_t)C * C; j++) sum[j] += (double)m * o->tile_gram[j];
            }
        }
    }
    return NST_OK;
}

/* Layer l's Gram G = F Fᵀ / M of an image W×H from the tiles' sums, in
 * gram. */
static void tile_gram_sum(float *gram, const double *sum, int l, int W, int H)
{
    int C = nst_layers[l].cout, pools = layer_pools(l);
    double M = (double)(W >> pools) * (H >> pools);
    for (size_t j = 0; j < (size_t)C * C; j++) gram[j] = (float)(sum[j] / M);
}

static void tile_gram_of(nst_objective *o, int l, int W, int H)
{
    tile_gram_sum(o->tile_gram, o->gram_sum[l], l, W, H);
}

static double tiled_value(nst_objective *o, const float *x, nst_losses *parts)
{
    nst_losses v = {0};
    double content = 0;
    tile_value_pass(o, x, o->W, o->H, 1, &content, 0);
    v.content = o->p->alpha * content;
    for (int l = 0; l < NST_NUM_LAYERS; l++) {
        if (!o->style_layer[l]) continue;
        int N = nst_layers[l].cout;
        for (int i = 0; i < o->n_terms; i++) {
            style_term *t = &o->term[i];
            float *d = t->diff[l];
            if (t->mask.at[l] && t->mask.scale[l] == 0.0f) { /* no region (mask_style_loss) */
                memset(d, 0, (size_t)N * N * sizeof(float));
                continue;
            }
            tile_gram_sum(d, t->mask.at[l] ? o->term_sum[i][l] : o->gram_sum[l], l, o->W, o->H);
            v.style += o->p->beta * o->style_weight[l] * t->weight *
                       style_loss_of_gram(d, t->target[l], N);
        }
    }
    if (o->p->tv_weight > 0) v.tv = o->p->tv_weight * tv_loss(x, 3, o->H, o->W);
    v.total = v.content + v.style + v.tv;
    if (parts) *parts = v;
    return v.total;
}

/* The vgg.h hook for a tile at (o->ex0, o->ey0): layer_grad's losses on the
 * positions the backward pass asks for, with the content targets at their
 * offset and the style gradient normalised by the whole image's
 * positions. */
static int tile_layer_grad(int l, const float *act, float *grad, int C, int H, int W, int x0,
                           int y0, int masked, void *user)
{
    nst_objective *o = user;
    int pools = layer_pools(l), LW = o->W >> pools, LH = o->H >> pools;
    int ox = (o->ex0 >> pools) + x0, oy = (o->ey0 >> pools) + y0;
    if (o->content_target[l]) {
        float alpha = (float)o->p->alpha;
        const float *cw = o->content_weight.at[l];
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++) {
                float *gr = grad + ((size_t)c * H + y) * W;
                const float *f = act + ((size_t)c * H + y) * W;
                const float *P = o->content_target[l] + ((size_t)c * LH + oy + y) * LW + ox;
                if (cw)
                    mask_content_grad(gr, alpha, f, P, cw + (size_t)(oy + y) * LW + ox, 1, W);
                else
                    content_grad(gr, alpha, f, P, (size_t)W);
            }
        masked = 0;
    }
    double share = (double)H * W / ((double)LW * LH); /* style_grad divides by H·W */
    return style_terms_grad(o, l, act, grad, C, H, W, masked, share, ox, oy, LW, o->tile_work);
}

static void tiled_gradient(nst_objective *o, const float *x, float *g)
{
    int W = o->W, H = o->H;
    for (int i = 0; i < tiles_of(W, H, o->tile); i++) {
        rect t = tile_at(W, H, o->tile, i), r = grown(t, o->mg, W, H);
        if (tile_load(o, x, W, H, r) != NST_OK) continue; /* planned for: cannot happen */
        o->ex0 = r.x0;
        o->ey0 = r.y0;
        /* the interior's gradient, straight into g at its place (the net's
         * crop was planned for every tile: no -1) */
        nst_net_backward_rect(o->net, g + (size_t)t.y0 * W + t.x0, (size_t)W, (size_t)W * H,
                              t.x0 - r.x0, t.y0 - r.y0, t.x1 - r.x0, t.y1 - r.y0, tile_layer_grad,
                              o);
    }
    if (o->p->tv_weight > 0) tv_grad(g, (float)o->p->tv_weight, x, 3, H, W);
}

/* The fitted sizes of the style images for an output W×H. */
static void fitted_styles(const nst_params *p, int W, int H, const int *style_wh, int n_styles,
                          int *fwh)
{
    int longest = style_longest(p, W, H);
    for (int k = 0; k < n_styles; k++)
        fitted_size(style_wh[2 * k], style_wh[2 * k + 1], longest, &fwh[2 * k], &fwh[2 * k + 1]);
}

/* The net and buffers of the tiled evaluation. */
static int tile_setup(nst_objective *o, const nst_model *m, const nst_image *styles, int n_styles)
{
    const nst_params *p = o->p;
    int depth = params_depth(p), style_wh[2 * NST_MAX_STYLES], fwh[2 * NST_MAX_STYLES], n;
    size_t area;
    for (int k = 0; k < n_styles; k++) {
        style_wh[2 * k] = styles[k].w;
        style_wh[2 * k + 1] = styles[k].h;
    }
    fitted_styles(p, o->W, o->H, style_wh, n_styles, fwh);
    tile_margins(depth, &o->mv, &o->mg);
    int *wh = all_shapes(o->W, o->H, fwh, n_styles, o->tile, o->mv, o->mg, &n, &area);
    if (!wh) return NST_ENOMEM;
    o->net = nst_net_create_sizes(m, wh, n, depth, o->tile, 0, p->pooling, o->threads);
    free(wh);
    size_t max_c = 0;
    for (int i = 0; i < p->n_style_layers; i++) {
        int l = p->style_layers[i];
        size_t c = (size_t)nst_layers[l].cout;
        if (c > max_c) max_c = c;
        if (!o->gram_sum[l] && !(o->gram_sum[l] = malloc(c * c * sizeof(double))))
            return NST_ENOMEM;
    }
    o->tile_area = area;
    o->tile_img = nst_big_alloc(3 * area * sizeof(float));
    o->feat = nst_big_alloc((tile_feat_floats(p, o->tile) + 1) * sizeof(float));
    o->tile_gram = malloc((max_c * max_c + 1) * sizeof(float));
    if (!o->net || !o->tile_img || !o->feat || !o->tile_gram) return NST_ENOMEM;
    return NST_OK;
}

/* The masked terms' buffers, after mask_targets: each one's Gram sums, a
 * mask at a tile's layer and the masked features of the largest tile's
 * widest style layer (tile_work_floats). */
static size_t tile_work_floats(const nst_params *p, size_t area)
{
    size_t most = 0;
    for (int i = 0; i < p->n_style_layers; i++) {
        int l = p->style_layers[i], pools = layer_pools(l);
        size_t f = (size_t)nst_layers[l].cout * (area >> (2 * pools));
        if (f > most) most = f;
    }
    return most;
}

static int tile_mask_setup(nst_objective *o)
{
    int any = 0;
    for (int t = 0; t < o->n_terms; t++)
        for (int i = 0; i < o->p->n_style_layers; i++) {
            int l = o->p->style_layers[i];
            if (!o->term[t].mask.at[l] || o->term_sum[t][l]) continue;
            size_t c = (size_t)nst_layers[l].cout;
            if (!(o->term_sum[t][l] = malloc(c * c * sizeof(double)))) return NST_ENOMEM;
            any = 1;
        }
    if (!any) return NST_OK;
    o->tile_mask = malloc(o->tile_area * sizeof(float));
    o->tile_work = malloc((tile_work_floats(o->p, o->tile_area) + 1) * sizeof(float));
    return o->tile_mask && o->tile_work ? NST_OK : NST_ENOMEM;
}

/* Bytes of the tiled objective (tile_setup, the targets and their
 * temporaries) for an output W×H, in the order create allocates: the net
 * and the tiles' buffers, the style targets with the Gram sums, then per
 * style image its fitted copy and nst_image_resize's temporaries (its
 * tiles run in the net already counted), then the content targets. */
static size_t tiled_bytes(const nst_params *p, int W, int H, const int *style_wh, int n_styles,
                          const int *mask_wh, int T)
{
    int depth = params_depth(p), fwh[2 * NST_MAX_STYLES], n, mv, mg;
    size_t area, masks, mask_temp, work;
    term_plan tp;
    masks_floats(p, W, H, n_styles, mask_wh, &tp, &masks, &mask_temp, &work);
    fitted_styles(p, W, H, style_wh, n_styles, fwh);
    tile_margins(depth, &mv, &mg);
    int *wh = all_shapes(W, H, fwh, n_styles, T, mv, mg, &n, &area);
    if (!wh) return (size_t)-1;
    size_t net = nst_net_bytes_sizes(wh, n, depth, T, 0);
    free(wh);
    if (!net) return (size_t)-1;
    size_t targets = 0, max_c = 0;
    for (int i = 0; i < p->n_style_layers; i++) {
        size_t c = (size_t)nst_layers[p->style_layers[i]].cout;
        if (c > max_c) max_c = c;
        targets += 2 * c * c * (size_t)tp.n_terms + 2 * c * c; /* A, G − A; the sum (double) */
        for (int t = 0; t < tp.n_terms; t++) targets += tp.masked[t] ? 2 * c * c : 0;
    }
    if (masks) targets += area + tile_work_floats(p, area) + 2; /* tile_mask_setup */
    targets += 2 * max_c * max_c + loss_scratch_floats((int)max_c) + 2;
    size_t buffers = net / sizeof(float) + 1 + 3 * area + tile_feat_floats(p, T) + 1;
    size_t styles_peak = 0;
    for (int k = 0; k < n_styles; k++) {
        int sw = style_wh[2 * k], sh = style_wh[2 * k + 1];
        if (sw < 1 || sh < 1) continue;
        size_t fit = (size_t)3 * fwh[2 * k] * fwh[2 * k + 1], in = (size_t)3 * sw * sh;
        if (2 * fit + in > styles_peak) styles_peak = 2 * fit + in;
    }
    size_t content = 0;
    for (int i = 0; i < p->n_content_layers; i++) {
        int l = p->content_layers[i], dup = 0;
        for (int j = 0; j < i; j++) dup |= p->content_layers[j] == l;
        if (!dup) content += layer_floats(l, W, H);
    }
    size_t later = targets + (styles_peak > content ? styles_peak : content);
    return (buffers + masks + (mask_temp > later ? mask_temp : later)) * sizeof(float) +
           sizeof(nst_objective);
}

size_t nst_objective_kept_bytes(const nst_params *p, int W, int H)
{
    int wh[2] = {W, H};
    return nst_net_kept_bytes(wh, 1, params_depth(p));
}

size_t nst_objective_tiled_bytes(const nst_params *p, int W, int H, const int *style_wh,
                                 int n_styles, const int *mask_wh, int tile)
{
    if (tile <= 0) return nst_objective_bytes(p, W, H, style_wh, n_styles, mask_wh);
    return tiled_bytes(p, W, H, style_wh, n_styles, mask_wh, tile);
}

/* Only tiles whose gradient pass runs on less than the whole image: a tile
 * grown by mg to the image's size in both directions saves nothing on the
 * output's net (only, by the way, on a larger style image's), and a job
 * that small keeps its untiled evaluation and estimate. */
int nst_objective_tile_for(const nst_params *p, int W, int H, const int *style_wh, int n_styles,
                           const int *mask_wh, size_t budget)
{
    int mv, mg, longest = W > H ? W : H;
    tile_margins(params_depth(p), &mv, &mg);
    for (int T = (longest - 2 * mg - 1) / TILE_ALIGN * TILE_ALIGN; T >= TILE_ALIGN;
         T -= TILE_ALIGN) {
        size_t b = tiled_bytes(p, W, H, style_wh, n_styles, mask_wh, T);
        if (b != (size_t)-1 && b <= budget) return T;
    }
    return 0;
}

int nst_objective_tile_align(void) { return TILE_ALIGN; }
