/*
 * ops.h — the network's layers as forward/backward pairs over flat float
 * buffers (llm.c style). Tensors are (C,H,W) row-major, one image at a time.
 * Only gradients with respect to the input are computed: the weights are
 * fixed, the image is what is optimised.
 *
 * No function here allocates; scratch space is passed in, sized by the
 * matching *_scratch_floats function. Each runs on the threads of `pool`
 * (pool.h), or on the caller's alone when it is NULL.
 */
#ifndef NST_OPS_H
#define NST_OPS_H

#include <stddef.h>

#include "pool.h"

/* Floats of scratch that conv3x3_forward/backward need for these sizes.
 * Bounded: does not grow with H*W beyond a fixed tile budget. */
size_t conv3x3_scratch_floats(int C, int OC, int H, int W);

/* Weights kept across calls: floats of what conv3x3_keep prepares from the
 * weights of a convolution from C to OC channels at H×W (backward: of its
 * gradient to the input), 0 when that convolution's path has nothing to
 * prepare; and the preparing (Winograd's transformed weights, which every
 * call otherwise makes anew in its scratch). */
size_t conv3x3_kept_floats(int C, int OC, int H, int W, int backward);
void conv3x3_keep(float *kept, const float *weight, int C, int OC, int backward, nst_pool *pool);

/* 3×3 convolution, stride 1, zero padding 1.
 * inp is (C,H,W), weight is (OC,C,3,3), kept is what conv3x3_keep made of
 * it for the forward or NULL, bias is (OC) or NULL, out will be (OC,H,W).
 * The same bits with kept or without. */
void conv3x3_forward(float *out, const float *inp, const float *weight, const float *kept,
                     const float *bias, int C, int OC, int H, int W, float *scratch,
                     nst_pool *pool);

/* Gradient of conv3x3_forward with respect to its input.
 * dout is (OC,H,W), weight is (OC,C,3,3), kept is what conv3x3_keep made
 * of it for the backward or NULL, dinp will be (C,H,W) (overwritten). */
void conv3x3_backward(float *dinp, const float *dout, const float *weight, const float *kept,
                      int C, int OC, int H, int W, float *scratch, nst_pool *pool);

/* conv3x3_forward, then relu_forward on out, fused where the path allows
 * (the ReLU applied as out is written). */
void conv3x3_relu_forward(float *out, const float *inp, const float *weight, const float *kept,
                          const float *bias, int C, int OC, int H, int W, float *scratch,
                          nst_pool *pool);

/* The im2col path of conv3x3_forward and conv3x3_backward for every shape,
 * whichever path they would take (for the tests and the conv bench, which
 * compare paths). */
void conv3x3_forward_im2col(float *out, const float *inp, const float *weight,
                            const float *bias, int C, int OC, int H, int W, float *scratch,
                            nst_pool *pool);
void conv3x3_backward_im2col(float *dinp, const float *dout, const float *weight,
                             int C, int OC, int H, int W, float *scratch, nst_pool *pool);

/* ReLU in place: x is (n). */
void relu_forward(float *x, size_t n, nst_pool *pool);
/* dx is (n), y is relu's output (n): dx *= (y > 0). */
void relu_backward(float *dx, const float *y, size_t n, nst_pool *pool);

/* 2×2 pooling, stride 2. inp is (C,H,W), out will be (C,H/2,W/2) (floor:
 * an odd last row/column is dropped, as in PyTorch). */
void maxpool2_forward(float *out, const float *inp, int C, int H, int W, nst_pool *pool);
void avgpool2_forward(float *out, const float *inp, int C, int H, int W, nst_pool *pool);
/* The backward of pooling the output y (C,H,W) of a ReLU, through that
 * ReLU, in one pass: dout is (C,H/2,W/2), dinp will be (C,H,W) (overwritten;
 * dropped rows/columns get 0). Max pooling routes each window's gradient to
 * its first maximum; then every element where y is not positive gets 0. */
void maxpool2_relu_backward(float *dinp, const float *dout, const float *y, int C, int H, int W,
                            nst_pool *pool);
void avgpool2_relu_backward(float *dinp, const float *dout, const float *y, int C, int H, int W,
                            nst_pool *pool);

#endif
