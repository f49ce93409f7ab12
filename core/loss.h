/*
 * loss.h — Gram matrices and the three losses of Gatys et al., each with its
 * exact gradient. A loss function returns its value (unweighted) and ADDS
 * weight × d(loss)/d(input) into the gradient buffer, so several losses can
 * accumulate into one buffer.
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
 * scratch holds loss_scratch_floats(N) floats. Calls with the same pool
 * give the same result, however its threads happened to share the work. */
void gram_compute(float *gram, const float *feat, int N, int M, float *scratch, nst_pool *pool);

/* feat is (N,M), target is the style Gram A (N,N), dfeat is (N,M) and gets
 * += weight * dE/dF. scratch holds loss_scratch_floats(N) floats. Returns
 * E. */
double style_loss(float *dfeat, float weight, const float *feat, const float *target,
                  int N, int M, float *scratch, nst_pool *pool);

/* feat and target are (n); dfeat (n) gets += weight * (F − P). Returns L. */
double content_loss(float *dfeat, float weight, const float *feat, const float *target,
                    size_t n);

/* img is (C,H,W); dimg (C,H,W) gets += weight * dT/dx. Returns T. */
double tv_loss(float *dimg, float weight, const float *img, int C, int H, int W);

#endif
