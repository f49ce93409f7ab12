/*
 * vgg.c — VGG19's convolutional part as a planned workspace (see vgg.h).
 *
 * Memory: one buffer per conv activation up to the net's depth, plus three
 * shared buffers (the preprocessed input or a pooled map on the way down,
 * and two gradient buffers on the way up) and the convolution scratch. No
 * full-size im2col buffer exists anywhere (ops.c tiles it).
 *
 * This file is not the loss: it knows nothing of Gram matrices or content
 * targets; the backward pass asks a hook for each layer's loss gradient.
 */
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "ops.h"
#include "vgg.h"

struct nst_net {
    const nst_model *model;
    nst_pooling pooling;
    int depth;
    int W, H;                     /* input size */
    int lw[NST_NUM_LAYERS];       /* spatial size of layer l's activation */
    int lh[NST_NUM_LAYERS];
    float *act[NST_NUM_LAYERS];   /* (cout, lh, lw) post-ReLU */
    float *input;                 /* preprocessed image, then pooled maps (max_in floats) */
    float *grad_a, *grad_b;       /* gradient ping-pong (max_act floats each) */
    float *scratch;               /* convolution scratch */
    nst_pool *pool;               /* threads of every layer (NULL: the caller's only) */
    struct net_caps_ *caps;       /* what the buffers hold (nst_net_resize) */
};

/* Floats in layer l's activation. */
static size_t act_floats(const nst_net *net, int l)
{
    return (size_t)nst_layers[l].cout * net->lh[l] * net->lw[l];
}

/* The sizes nst_net_create allocates for W×H through `depth` layers: each
 * layer's spatial size into lw/lh, the largest activation, input-buffer and
 * scratch floats. 0 when the image is too small for the depth. */
typedef struct {
    size_t max_act, max_in, max_scratch, acts; /* acts: floats of every activation */
} net_plan;

static int plan_net(int W, int H, int depth, int *lw, int *lh, net_plan *pl)
{
    int w = W, h = H;
    memset(pl, 0, sizeof *pl);
    for (int l = 0; l < depth; l++) {
        lw[l] = w;
        lh[l] = h;
        const nst_layer_def *d = &nst_layers[l];
        size_t act = (size_t)d->cout * h * w, in = (size_t)d->cin * h * w;
        pl->acts += act;
        if (act > pl->max_act) pl->max_act = act;
        /* the input buffer holds the preprocessed image or a pooled map;
         * other layers read the previous activation in place */
        int reads_input = l == 0 || nst_layers[l - 1].pool_after;
        if (reads_input && in > pl->max_in) pl->max_in = in;
        size_t s = conv3x3_scratch_floats(d->cin, d->cout, h, w);
        if (s > pl->max_scratch) pl->max_scratch = s;
        if (d->pool_after) {
            w /= 2;
            h /= 2;
            if ((w < 1 || h < 1) && l + 1 < depth) return 0; /* too small for this depth */
        }
    }
    return 1;
}

/* What a net must hold for every size it will run (nst_net_create_sizes):
 * per buffer, the largest any of the sizes needs. */
typedef struct net_caps_ {
    size_t act[NST_NUM_LAYERS], max_act, max_in, max_scratch;
} net_caps;

static int caps_add(net_caps *c, int W, int H, int depth)
{
    int lw[NST_NUM_LAYERS], lh[NST_NUM_LAYERS];
    net_plan pl;
    if (depth < 1 || depth > NST_NUM_LAYERS || W < 1 || H < 1 ||
        !plan_net(W, H, depth, lw, lh, &pl))
        return 0;
    for (int l = 0; l < depth; l++) {
        size_t a = (size_t)nst_layers[l].cout * lh[l] * lw[l];
        if (a > c->act[l]) c->act[l] = a;
    }
    if (pl.max_act > c->max_act) c->max_act = pl.max_act;
    if (pl.max_in > c->max_in) c->max_in = pl.max_in;
    if (pl.max_scratch > c->max_scratch) c->max_scratch = pl.max_scratch;
    return 1;
}

static int caps_of(net_caps *c, const int *wh, int n, int depth)
{
    memset(c, 0, sizeof *c);
    if (n < 1) return 0;
    for (int i = 0; i < n; i++)
        if (!caps_add(c, wh[2 * i], wh[2 * i + 1], depth)) return 0;
    return 1;
}

size_t nst_net_bytes_sizes(const int *wh, int n, int depth)
{
    net_caps c;
    if (!caps_of(&c, wh, n, depth)) return 0;
    size_t floats = c.max_in + 2 * c.max_act + (c.max_scratch ? c.max_scratch : 1);
    for (int l = 0; l < depth; l++) floats += c.act[l];
    return floats * sizeof(float) + sizeof(nst_net);
}

size_t nst_net_bytes(int W, int H, int depth)
{
    int wh[2] = {W, H};
    return nst_net_bytes_sizes(wh, 1, depth);
}

nst_net *nst_net_create(const nst_model *m, int W, int H, int depth, nst_pooling pooling,
                        int threads)
{
    int wh[2] = {W, H};
    return nst_net_create_sizes(m, wh, 1, depth, pooling, threads);
}

nst_net *nst_net_create_sizes(const nst_model *m, const int *wh, int n, int depth,
                              nst_pooling pooling, int threads)
{
    net_caps c;
    if (!caps_of(&c, wh, n, depth)) return NULL;
    nst_net *net = calloc(1, sizeof *net);
    if (!net) return NULL;
    net->model = m;
    net->pooling = pooling;
    net->depth = depth;
    net->caps = malloc(sizeof c);
    if (!net->caps) {
        free(net);
        return NULL;
    }
    *net->caps = c;
    nst_net_resize(net, wh[0], wh[1]);
    int ok = 1;
    for (int l = 0; l < depth; l++) {
        net->act[l] = nst_big_alloc(c.act[l] * sizeof(float));
        ok &= net->act[l] != NULL;
    }
    net->input = nst_big_alloc(c.max_in * sizeof(float));
    net->grad_a = nst_big_alloc(c.max_act * sizeof(float));
    net->grad_b = nst_big_alloc(c.max_act * sizeof(float)); /* a conv's input <= max_act */
    net->scratch = nst_big_alloc((c.max_scratch ? c.max_scratch : 1) * sizeof(float));
    if (!ok || !net->input || !net->grad_a || !net->grad_b || !net->scratch) {
        nst_net_free(net);
        return NULL;
    }
    net->pool = nst_pool_create(threads); /* NULL: runs on the caller's thread alone */
    return net;
}

int nst_net_resize(nst_net *net, int W, int H)
{
    net_caps c;
    memset(&c, 0, sizeof c);
    int lw[NST_NUM_LAYERS], lh[NST_NUM_LAYERS];
    if (!caps_add(&c, W, H, net->depth)) return -1;
    for (int l = 0; l < net->depth; l++)
        if (c.act[l] > net->caps->act[l]) return -1;
    if (c.max_act > net->caps->max_act || c.max_in > net->caps->max_in ||
        c.max_scratch > net->caps->max_scratch)
        return -1;
    net_plan pl;
    plan_net(W, H, net->depth, lw, lh, &pl);
    memcpy(net->lw, lw, sizeof lw);
    memcpy(net->lh, lh, sizeof lh);
    net->W = W;
    net->H = H;
    return 0;
}

void nst_net_free(nst_net *net)
{
    if (!net) return;
    for (int l = 0; l < NST_NUM_LAYERS; l++) free(net->act[l]);
    free(net->input);
    free(net->grad_a);
    free(net->grad_b);
    free(net->scratch);
    free(net->caps);
    nst_pool_free(net->pool);
    free(net);
}

nst_pool *nst_net_pool(const nst_net *net) { return net->pool; }

const float *nst_net_activation(const nst_net *net, int l, int *C, int *H, int *W)
{
    if (C) *C = nst_layers[l].cout;
    if (H) *H = net->lh[l];
    if (W) *W = net->lw[l];
    return net->act[l];
}

/* net->input (3,H,W) = (img[src(c)] * range − mean[c]) / std[c]; img is (3,H,W). */
static void preprocess(const nst_preprocess *p, float *out, const float *img, size_t hw)
{
    for (int c = 0; c < 3; c++) {
        const float *src = img + (size_t)(p->bgr ? 2 - c : c) * hw;
        float a = p->range / p->std[c], b = -p->mean[c] / p->std[c];
        for (size_t i = 0; i < hw; i++) out[c * hw + i] = src[i] * a + b;
    }
}

/* Adjoint of preprocess: dimg (3,H,W) = d/dimg given dnet (3,H,W). */
static void preprocess_backward(const nst_preprocess *p, float *dimg, const float *dnet, size_t hw)
{
    for (int c = 0; c < 3; c++) {
        float *dst = dimg + (size_t)(p->bgr ? 2 - c : c) * hw;
        float a = p->range / p->std[c];
        for (size_t i = 0; i < hw; i++) dst[i] = dnet[c * hw + i] * a;
    }
}

void nst_net_forward(nst_net *net, const float *img)
{
    const nst_model *m = net->model;
    preprocess(&m->pre, net->input, img, (size_t)net->W * net->H);
    const float *in = net->input;
    for (int l = 0; l < net->depth; l++) {
        const nst_layer_def *d = &nst_layers[l];
        int w = net->lw[l], h = net->lh[l];
        conv3x3_relu_forward(net->act[l], in, m->weight[l], m->bias[l], d->cin, d->cout, h, w,
                             net->scratch, net->pool);
        in = net->act[l];
        if (d->pool_after && l + 1 < net->depth) {
            if (net->pooling == NST_POOL_MAX)
                maxpool2_forward(net->input, net->act[l], d->cout, h, w, net->pool);
            else
                avgpool2_forward(net->input, net->act[l], d->cout, h, w, net->pool);
            in = net->input;
        }
    }
}

void nst_net_backward(nst_net *net, float *dimg, nst_layer_grad_fn loss_grad, void *user)
{
    const nst_model *m = net->model;
    float *g = net->grad_a;     /* d/d act[l] */
    float *other = net->grad_b; /* d/d input of conv l */
    int masked = 1;             /* g is already through act[l]'s ReLU (zeros are) */
    memset(g, 0, act_floats(net, net->depth - 1) * sizeof(float));
    for (int l = net->depth - 1; l >= 0; l--) {
        const nst_layer_def *d = &nst_layers[l];
        int w = net->lw[l], h = net->lh[l];
        masked = loss_grad(l, net->act[l], g, d->cout, h, w, masked, user);
        if (!masked) relu_backward(g, net->act[l], act_floats(net, l), net->pool);
        conv3x3_backward(other, g, m->weight[l], d->cin, d->cout, h, w, net->scratch,
                         net->pool);
        if (l == 0) break;
        /* other holds d/d input of conv l; turn it into d/d act[l-1] in g. */
        const nst_layer_def *p = &nst_layers[l - 1];
        if (p->pool_after) { /* through act[l-1]'s ReLU in the same pass */
            if (net->pooling == NST_POOL_MAX)
                maxpool2_relu_backward(g, other, net->act[l - 1], p->cout, net->lh[l - 1],
                                       net->lw[l - 1], net->pool);
            else
                avgpool2_relu_backward(g, other, net->act[l - 1], p->cout, net->lh[l - 1],
                                       net->lw[l - 1], net->pool);
            masked = 1;
        } else {
            float *t = g;
            g = other;
            other = t;
            masked = 0;
        }
    }
    preprocess_backward(&m->pre, dimg, other, (size_t)net->W * net->H);
}
