/*
 * mask.h — spatial control (Gatys et al. 2017, "Controlling Perceptual
 * Factors in Neural Style Transfer"): masks on the output image, taken down
 * to each layer's resolution, and the guided losses computed on them.
 *
 * A mask is a float per position in [0, 1]: where a style applies (1), or
 * not (0), or where the content weighs more. The mask of the output (W×H)
 * is carried to layer l the way the features are: the convolutions keep
 * the resolution, each 2×2 pooling halves it (rounding down) and the mask
 * is average-pooled there.
 *
 * Guided style loss of features F (N,M) with mask m (M) and target A (N,N):
 *     G = (F∘m)(F∘m)ᵀ / Σ_j m_j²,   E = 1/(4 N²) Σ (G − A)²
 * with F∘m each channel times m. Σ m² is the mask's area (its pixel count
 * for a 0/1 mask), so G is a weighted mean of f fᵀ over the positions, and
 * an all-ones mask gives today's G = F Fᵀ / M exactly. It is computed as
 * the plain loss of F̂ = F∘(s·m) with s = √(M / Σ m²), since
 * F̂ F̂ᵀ / M = G; the gradient is dE/dF = s·m ∘ dE/dF̂ = D F∘(s m)² / (N² M)
 * (D the symmetric part of G − A), which is the plain gradient's product
 * with F∘(s m)² in place of F. A mask with Σ m² = 0 has no region: the
 * loss is 0.
 *
 * Weighted content loss with a weight per position w (M):
 *     L = ½ Σ_c Σ_j w_j (F_cj − P_cj)²,   dL/dF = w ∘ (F − P).
 *
 * Not here: which masks a job has and how they combine (objective.c), the
 * plain losses (loss.h).
 */
#ifndef NST_MASK_H
#define NST_MASK_H

#include <stddef.h>

#include "nst.h"
#include "pool.h"

/* A mask at every layer a loss reads, up to a depth. */
typedef struct {
    float *at[NST_NUM_LAYERS]; /* (lh·lw) at layer l, or NULL (not needed) */
    size_t n[NST_NUM_LAYERS];  /* lh·lw where at[l] is kept */
    float scale[NST_NUM_LAYERS]; /* s = √(M / Σ m²) at layer l; 0 when Σ m² = 0 */
} mask_levels;

/* out (H,W) = the luma (Rec. 601) of mask resized to W×H in [0,1], values
 * within 2⁻¹⁶ of 0 or 1 made exactly 0 or 1. NST_OK or NST_ENOMEM. */
int mask_from_image(float *out, const nst_image *mask, int W, int H);
/* Floats mask_from_image allocates for its temporaries (nst_image_resize's
 * copies) for an mw×mh mask and a W×H output. */
size_t mask_from_image_floats(int mw, int mh, int W, int H);

/* ml->at[l] for every layer l < depth whose bit is set in `layers`, from
 * m (H,W) at the image's resolution; ml is zeroed first. Caller frees with
 * mask_levels_free. NST_OK or NST_ENOMEM. */
int mask_levels_build(mask_levels *ml, const float *m, int W, int H, int depth, unsigned layers);
void mask_levels_free(mask_levels *ml);
/* Floats mask_levels_build keeps (the levels) and, on top, its peak
 * temporaries. */
size_t mask_levels_floats(int W, int H, int depth, unsigned layers, size_t *temporaries);

/* The guided style loss E (above) of feat (N,M) with mask m (M), scale s
 * (mask_levels.scale) and target (N,N). work holds N·M floats (F̂); diff
 * (N,N) receives what mask_style_grad needs; scratch holds
 * loss_scratch_floats(N) floats. */
double mask_style_loss(float *diff, float *work, const float *feat, const float *m, float s,
                       const float *target, int N, int M, float *scratch, nst_pool *pool);
/* dfeat (N,M) gets += weight · dE/dF from mask_style_loss's diff for this
 * feat, m and s; not through a ReLU. work holds N·M floats, scratch
 * loss_scratch_floats(N). */
void mask_style_grad(float *dfeat, float weight, float *work, const float *feat, const float *m,
                     float s, const float *diff, int N, int M, float *scratch, nst_pool *pool);

/* The weighted content loss L (above) of feat and target (C,M) with w (M). */
double mask_content_loss(const float *feat, const float *target, const float *w, int C, int M);
/* dfeat (C,M) gets += weight · w ∘ (F − P). */
void mask_content_grad(float *dfeat, float weight, const float *feat, const float *target,
                       const float *w, int C, int M);

#endif
