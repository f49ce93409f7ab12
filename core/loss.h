/*
 * loss.h — Gram matrices and the three losses of Gatys et al., each with its
 * exact gradient. Each loss comes in two halves: *_loss returns the value
 * (unweighted), and *_grad ADDS weight × d(loss)/d(input) into a gradient
 * buffer, so several losses can accumulate into one buffer. The halves are
 * apart so that a line search can reject a trial point without paying for
 * its gradient.
 *
 *   content:  L = ½ Σ (F − P)²
 *   style:    E = 1/(4 N²) Σ (G − A)²  with G = F Fᵀ / M (per-position Gram),
 *             which equals 1/(4 N² M²) Σ (F Fᵀ − M A)² of the paper
 *   tv:       T = Σ (x[y][x+1] − x[y][x])² + (x[y+1][x] − x[y][x])²
 */
#ifndef NST_LOSS_H
#define NST_LOSS_H

#include <stddef.h>

#include "pool.h"

/* Floats of scratch gram_compute and style_loss need for N channels. */
size_t loss_scratch_floats(int N);

/* feat is (N,M), gram will be (N,N) = F Fᵀ / M, both triangles filled;
 * scratch holds loss_scratch_floats(N) floats. The result is the same with
 * any pool (or none): fixed pieces, summed in a fixed order. */
void gram_compute(float *gram, const float *feat, int N, int M, float *scratch, nst_pool *pool);

/* feat is (N,M), target is the style Gram A (N,N). Returns E; diff (N,N)
 * receives what style_grad needs, the symmetric part of G − A. scratch
 * holds loss_scratch_floats(N) floats. */
double style_loss(float *diff, const float *feat, const float *target, int N, int M,
                  float *scratch, nst_pool *pool);
/* style_loss once the Gram G is known: diff (N,N) holds G and becomes the
 * symmetric part of G − A; returns E. For Grams summed over tiles. */
double style_loss_of_gram(float *diff, const float *target, int N);
/* dfeat (N,M) gets += weight * dE/dF, from style_loss's diff for this feat;
 * with relu, dfeat is then zeroed wherever feat ≤ 0 (the backward of the
 * ReLU whose output feat is, over all of dfeat, in the same pass). scratch
 * holds loss_scratch_floats(N) floats. The result is the same with any
 * pool (or none). */
void style_grad(float *dfeat, float weight, const float *feat, const float *diff, int N, int M,
                int relu, float *scratch, nst_pool *pool);

/* feat and target are (n). Returns L. */
double content_loss(const float *feat, const float *target, size_t n);
/* dfeat (n) gets += weight * (F − P). */
void content_grad(float *dfeat, float weight, const float *feat, const float *target, size_t n);

/* img is (C,H,W). Returns T. */
double tv_loss(const float *img, int C, int H, int W);
/* dimg (C,H,W) gets += weight * dT/dx. */
void tv_grad(float *dimg, float weight, const float *img, int C, int H, int W);

#endif
