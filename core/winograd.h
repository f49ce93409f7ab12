/*
 * winograd.h — 3×3 stride-1 same-padded convolution by Winograd's minimal
 * filtering F(4×4, 3×3), forward and backward to the input, for the shapes
 * where it beats im2col (ops.c chooses; see winograd.c for the algorithm,
 * its accuracy and its memory).
 *
 * No function here allocates memory; the scratch is passed in, sized by
 * wino_scratch_floats. Threads: those of the pool passed in (NULL: the
 * caller's alone). Safe to call from several threads at once with separate
 * scratch and pools.
 */
#ifndef NST_WINOGRAD_H
#define NST_WINOGRAD_H

#include <stddef.h>

#include "pool.h"

/* Floats of scratch wino_conv3x3_forward/backward need for these sizes: the
 * transformed weights (36·C·OC) plus one block of transformed tiles, whose
 * size is capped by a fixed budget (it does not grow with H·W). The same
 * size serves both directions. */
size_t wino_scratch_floats(int C, int OC, int H, int W);

/* Floats of the transformed weights (U) of a convolution from C to OC
 * channels, or with backward of its gradient to the input; the same at
 * every image size. */
size_t wino_weights_floats(int C, int OC, int backward);

/* U (wino_weights_floats(C, OC, backward) floats) of weight (OC,C,3,3) for
 * the forward or the backward, for a caller that keeps it across calls:
 * every convolution otherwise transforms its weights into the scratch (at
 * 512 px about 5 % of an evaluation). */
void wino_weights(float *U, const float *weight, int C, int OC, int backward, nst_pool *pool);

/* inp is (C,H,W), weight is (OC,C,3,3), bias is (OC) or NULL, out will be
 * (OC,H,W), passed through a ReLU if relu; kept is weight's U from
 * wino_weights (forward), or NULL to transform it into the scratch, which
 * holds wino_scratch_floats(C,OC,H,W). Same result as conv3x3_forward
 * (then relu_forward) up to rounding, and the same bits with or without
 * kept. */
void wino_conv3x3_forward(float *out, const float *inp, const float *weight, const float *kept,
                          const float *bias, int relu, int C, int OC, int H, int W,
                          float *scratch, nst_pool *pool);

/* Gradient of the forward with respect to its input: dout is (OC,H,W),
 * weight is (OC,C,3,3), kept its backward U or NULL, dinp will be (C,H,W)
 * (overwritten); scratch holds wino_scratch_floats(C,OC,H,W). */
void wino_conv3x3_backward(float *dinp, const float *dout, const float *weight,
                           const float *kept, int C, int OC, int H, int W, float *scratch,
                           nst_pool *pool);

#endif
