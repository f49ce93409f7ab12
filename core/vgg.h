/*
 * vgg.h — VGG19 forward and backward for one image size, up to a chosen
 * depth. A net is a workspace planned once per size: every buffer it needs
 * is allocated in nst_net_create, none in forward/backward.
 *
 * Forward stores each conv layer's post-ReLU activation (the ReLU masks and
 * the max-pooling inputs the backward pass needs); nothing else is kept.
 * Backward walks from the deepest layer to the image; at each layer it asks
 * a hook to add the loss gradient of that layer's activation, so loss
 * gradients are added while the gradient flows and need no buffers of their
 * own.
 */
#ifndef NST_VGG_H
#define NST_VGG_H

#include "layers.h"
#include "pool.h"

typedef struct nst_net nst_net;

/* A net for W×H images through layers 0 … depth-1, computing on `threads`
 * threads counting the caller's (≤ 0: one per online core; see pool.h).
 * NULL when out of memory. The model must outlive the net. */
nst_net *nst_net_create(const nst_model *m, int W, int H, int depth, nst_pooling pooling,
                        int threads);
/* A net that runs any of n sizes wh[2i]×wh[2i+1] (each buffer as large as
 * the largest of them needs), set to the first; nst_net_resize switches.
 * For the tiles of a tiled objective, whose shapes differ at the borders.
 * crop > 0: its backward passes are only ever asked for the gradient of a
 * rect of at most crop×crop pixels at a multiple of 16 inside the image
 * (nst_net_backward_rect), and its gradient buffers hold only what that
 * needs. keep: the net prepares its convolutions' weights once
 * (conv3x3_keep, nst_net_kept_bytes of them) instead of at every call,
 * which makes an evaluation about 5 % faster at 512 px. */
nst_net *nst_net_create_sizes(const nst_model *m, const int *wh, int n, int depth, int crop,
                              int keep, nst_pooling pooling, int threads);
/* Run W×H from now on: 0, or -1 (unchanged) when its buffers are too small. */
int nst_net_resize(nst_net *net, int W, int H);
void nst_net_free(nst_net *net);
/* Bytes nst_net_create allocates for these sizes (its buffers, not the
 * threads' stacks); 0 when the image is too small for the depth. */
size_t nst_net_bytes(int W, int H, int depth);
size_t nst_net_bytes_sizes(const int *wh, int n, int depth, int crop, int keep);
/* Bytes of the weights a net for these sizes keeps (in nst_net_bytes_sizes
 * with keep): 398 MiB through conv5_1 where every layer takes Winograd
 * (512 px and above), less where the deep layers are im2col's. */
size_t nst_net_kept_bytes(const int *wh, int n, int depth);
/* The net's threads, for the losses the hook computes (may be NULL). */
nst_pool *nst_net_pool(const nst_net *net);

/* img is (3,H,W) in [0,1]; runs the preprocessing and layers 0 … depth-1. */
void nst_net_forward(nst_net *net, const float *img);

/* Post-ReLU activation of layer l (valid after forward): (C,H,W). */
const float *nst_net_activation(const nst_net *net, int l, int *C, int *H, int *W);

/* Hook called once per layer, deepest first: add d(loss)/d(activation l) into
 * grad (C,H,W). act and grad hold the positions [x0, x0+W) × [y0, y0+H) of
 * layer l's plane (all of it, x0 = y0 = 0, but in nst_net_backward_rect).
 * masked says whether grad is already through the ReLU that produced act
 * (zero wherever act is 0); the hook returns whether it is after what it
 * added, and the backward pass applies the ReLU if not. */
typedef int (*nst_layer_grad_fn)(int l, const float *act, float *grad, int C, int H, int W,
                                 int x0, int y0, int masked, void *user);

/* Backward pass after forward: dimg (3,H,W) is overwritten with the gradient
 * with respect to the [0,1] image of the losses the hook adds. */
void nst_net_backward(nst_net *net, float *dimg, nst_layer_grad_fn loss_grad, void *user);

/* The same for the pixels [x0, x1) × [y0, y1) only: their gradient is
 * written from dimg on, rows `row` floats apart and channels `plane`
 * floats apart (x1-x0 and (x1-x0)·(y1-y0) for a (3, y1-y0, x1-x0) array;
 * a larger image's strides to write into its rect). Each layer's backward
 * runs on the positions whose gradient reaches the pixels (the whole plane
 * at most), so a tile's interior costs less than its grown rect. -1 (dimg
 * untouched) when the rect is outside the image or larger than the net's
 * crop allows. */
int nst_net_backward_rect(nst_net *net, float *dimg, size_t row, size_t plane, int x0, int y0,
                          int x1, int y1, nst_layer_grad_fn loss_grad, void *user);

#endif
