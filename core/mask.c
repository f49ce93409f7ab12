/*
 * mask.c — masks taken to each layer's resolution, and the guided style and
 * weighted content losses on them (see mask.h for the formulas and the
 * normalisation).
 *
 * The guided style loss is the plain one (loss.h) on features scaled per
 * position, so it shares its GEMMs, its pieces over the pool and its
 * order of summation: with an all-ones mask the scaled features are the
 * features themselves, bit for bit, and so are the loss and the gradient.
 *
 * What this file is not: it does not decide which masks a job has, how
 * styles and the content mask combine, or the weights (objective.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "loss.h"
#include "mask.h"

/* ------------------------------------------------------------ images to masks */

/* Values this close to 0 or 1 are 0 or 1: the resize filter leaves a
 * white or black mask a rounding error away from them, and an all-white
 * mask must give the unmasked loss exactly. */
#define MASK_SNAP (1.0 / (1 << 16))

int mask_from_image(float *out, const nst_image *mask, int W, int H)
{
    // mask is (3,mh,mw) in [0,1], out will be (H,W)
    nst_image r = {0};
    int rc = nst_image_resize(mask, W, H, &r);
    if (rc != NST_OK) return rc;
    size_t n = (size_t)W * H;
    for (size_t i = 0; i < n; i++) {
        double y = 0.299 * r.data[i] + 0.587 * r.data[n + i] + 0.114 * r.data[2 * n + i];
        out[i] = y < MASK_SNAP ? 0.0f : y > 1.0 - MASK_SNAP ? 1.0f : (float)y;
    }
    nst_image_free(&r);
    return NST_OK;
}

size_t mask_from_image_floats(int mw, int mh, int W, int H)
{
    /* the resized image and nst_image_resize's interleaved input and output */
    return (size_t)3 * W * H * 2 + (size_t)3 * mw * mh;
}

/* ------------------------------------------------------------ levels */

/* out (h/2, w/2) = 2×2 means of m (h,w): the average pooling of vgg.c,
 * rounding down. */
static void mask_pool2(float *out, const float *m, int w, int h)
{
    int ow = w / 2, oh = h / 2;
    for (int y = 0; y < oh; y++) {
        const float *a = m + (size_t)2 * y * w, *b = a + w;
        for (int x = 0; x < ow; x++)
            out[(size_t)y * ow + x] =
                0.25f * ((a[2 * x] + a[2 * x + 1]) + (b[2 * x] + b[2 * x + 1]));
    }
}

/* s = √(M / Σ m²), 0 for an empty mask. √1 is exact, so an all-ones mask
 * scales by exactly 1. */
static float mask_scale(const float *m, size_t M)
{
    double sum = 0.0;
    for (size_t j = 0; j < M; j++) sum += (double)m[j] * m[j];
    return sum > 0.0 ? (float)sqrt((double)M / sum) : 0.0f;
}

/* Walks the levels of a W×H mask through depth layers: the size of each,
 * for mask_levels_build and mask_levels_floats alike. */
typedef struct {
    int w[NST_NUM_LAYERS], h[NST_NUM_LAYERS];
} level_sizes;

static void level_sizes_of(level_sizes *ls, int W, int H, int depth)
{
    int w = W, h = H;
    for (int l = 0; l < depth && l < NST_NUM_LAYERS; l++) {
        ls->w[l] = w;
        ls->h[l] = h;
        if (nst_layers[l].pool_after) w /= 2, h /= 2;
    }
}

size_t mask_levels_floats(int W, int H, int depth, unsigned layers, size_t *temporaries)
{
    level_sizes ls;
    level_sizes_of(&ls, W, H, depth);
    size_t kept = 0;
    for (int l = 0; l < depth && l < NST_NUM_LAYERS; l++)
        if (layers >> l & 1u) kept += (size_t)ls.w[l] * ls.h[l];
    /* the level being pooled from and the one pooled into */
    if (temporaries) *temporaries = (size_t)W * H + (size_t)(W / 2) * (H / 2);
    return kept;
}

int mask_levels_build(mask_levels *ml, const float *m, int W, int H, int depth, unsigned layers)
{
    // m is (H,W); ml->at[l] will be (lh,lw) for the layers asked for
    memset(ml, 0, sizeof *ml);
    level_sizes ls;
    level_sizes_of(&ls, W, H, depth);
    float *cur = malloc((size_t)W * H * sizeof(float)), *next = NULL;
    if (!cur) return NST_ENOMEM;
    memcpy(cur, m, (size_t)W * H * sizeof(float));
    int rc = NST_OK;
    for (int l = 0; l < depth && l < NST_NUM_LAYERS && rc == NST_OK; l++) {
        size_t n = (size_t)ls.w[l] * ls.h[l];
        if (layers >> l & 1u) {
            if ((ml->at[l] = malloc((n ? n : 1) * sizeof(float)))) {
                memcpy(ml->at[l], cur, n * sizeof(float));
                ml->n[l] = n;
                ml->scale[l] = mask_scale(cur, n);
            } else {
                rc = NST_ENOMEM;
            }
        }
        if (nst_layers[l].pool_after && l + 1 < depth) {
            size_t pooled = (size_t)(ls.w[l] / 2) * (ls.h[l] / 2);
            if (!next && !(next = malloc((pooled ? pooled : 1) * sizeof(float)))) {
                rc = NST_ENOMEM;
                break;
            }
            mask_pool2(next, cur, ls.w[l], ls.h[l]);
            float *t = cur;
            cur = next;
            next = t; /* at least the next pooling's size */
        }
    }
    free(cur);
    free(next);
    if (rc != NST_OK) mask_levels_free(ml);
    return rc;
}

void mask_levels_free(mask_levels *ml)
{
    for (int l = 0; l < NST_NUM_LAYERS; l++) {
        free(ml->at[l]);
        ml->at[l] = NULL;
    }
}

/* ------------------------------------------------------------ guided style loss */

/* work = feat ∘ (s·m)^power on the pool, channels in pieces. */
typedef struct {
    float *work;
    const float *feat, *m;
    float s;
    int power;
    int M;
} mask_apply_step;

static void mask_apply_part(void *p, int part, size_t lo, size_t hi)
{
    mask_apply_step *a = p;
    (void)part;
    for (size_t c = lo; c < hi; c++) {
        const float *f = a->feat + c * a->M;
        float *o = a->work + c * a->M;
        for (int j = 0; j < a->M; j++) {
            float k = a->s * a->m[j];
            o[j] = f[j] * (a->power == 2 ? k * k : k);
        }
    }
}

static void mask_apply(float *work, const float *feat, const float *m, float s, int power, int N,
                       int M, nst_pool *pool)
{
    // feat and work are (N,M), m is (M)
    mask_apply_step a = {work, feat, m, s, power, M};
    nst_pool_for(pool, (size_t)N, 8, mask_apply_part, &a);
}

double mask_style_loss(float *diff, float *work, const float *feat, const float *m, float s,
                       const float *target, int N, int M, float *scratch, nst_pool *pool)
{
    // feat and work are (N,M), m is (M), target and diff are (N,N)
    if (N <= 0 || M <= 0) return 0.0;
    if (s == 0.0f) { /* no region: no loss, and no gradient from diff */
        memset(diff, 0, (size_t)N * N * sizeof(float));
        return 0.0;
    }
    mask_apply(work, feat, m, s, 1, N, M, pool);
    return style_loss(diff, work, target, N, M, scratch, pool);
}

void mask_style_grad(float *dfeat, float weight, float *work, const float *feat, const float *m,
                     float s, const float *diff, int N, int M, float *scratch, nst_pool *pool)
{
    // feat, work and dfeat are (N,M), m is (M), diff is (N,N); dfeat is accumulated
    if (N <= 0 || M <= 0 || s == 0.0f) return;
    mask_apply(work, feat, m, s, 2, N, M, pool);
    style_grad(dfeat, weight, work, diff, N, M, 0, scratch, pool);
}

/* ------------------------------------------------------------ weighted content loss */

/* The loss, and with dfeat its gradient: one loop for both halves. */
static double mask_content_pass(float *dfeat, float weight, const float *feat,
                                const float *target, const float *w, int C, int M)
{
    // feat, target and dfeat are (C,M), w is (M); dfeat is accumulated, or NULL
    double sum = 0.0;
    for (int c = 0; c < C; c++) {
        const float *f = feat + (size_t)c * M, *t = target + (size_t)c * M;
        float *g = dfeat ? dfeat + (size_t)c * M : NULL;
        for (int j = 0; j < M; j++) {
            float d = f[j] - t[j];
            sum += (double)w[j] * d * d;
            if (g) g[j] += weight * w[j] * d;
        }
    }
    return 0.5 * sum;
}

double mask_content_loss(const float *feat, const float *target, const float *w, int C, int M)
{
    return mask_content_pass(NULL, 0.0f, feat, target, w, C, M);
}

void mask_content_grad(float *dfeat, float weight, const float *feat, const float *target,
                       const float *w, int C, int M)
{
    mask_content_pass(dfeat, weight, feat, target, w, C, M);
}
