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
    float *grad_a, *grad_b;       /* gradient ping-pong (max_grad floats each) */
    float *scratch;               /* convolution scratch */
    float *kept[NST_NUM_LAYERS][2]; /* conv3x3_keep's weights, forward and backward, or NULL */
    nst_pool *pool;               /* threads of every layer (NULL: the caller's only) */
    struct net_caps_ *caps;       /* what the buffers hold (nst_net_resize) */
    int crop;                     /* the backward pass's largest image rect (side); 0: whole */
};

/* A rectangle of a layer's positions: [x0, x1) across, [y0, y1) down. */
typedef struct {
    int x0, y0, x1, y1;
} net_rect;

static int rect_w(net_rect r) { return r.x1 - r.x0; }
static int rect_h(net_rect r) { return r.y1 - r.y0; }

/* The positions of each layer's activation whose gradient reaches the image
 * rect r, into R[0 … depth-1] (lw, lh: the layers' sizes). Going up, a
 * conv's 3×3 window adds one position on each side and a 2×2 pooling
 * halves (the rect of the layer it pools first grown to whole windows);
 * each block of layers between poolings takes its deepest layer's rect,
 * so that its gradient stays in one buffer: after k convolutions down the
 * block it is exact k positions inside the rect (at the plane's border
 * the zero padding is the net's own), which still covers what the layer
 * below needs. */
static void backward_rects(int depth, const int *lw, const int *lh, net_rect r, net_rect *R)
{
    for (int l = 0; l < depth; l++) {
        net_rect n = {r.x0 - 1, r.y0 - 1, r.x1 + 1, r.y1 + 1};
        if (nst_layers[l].pool_after && l + 1 < depth) { /* whole 2×2 windows */
            n.x0 &= ~1, n.y0 &= ~1, n.x1 += n.x1 & 1, n.y1 += n.y1 & 1;
        }
        if (n.x0 < 0) n.x0 = 0;
        if (n.y0 < 0) n.y0 = 0;
        if (n.x1 > lw[l]) n.x1 = lw[l];
        if (n.y1 > lh[l]) n.y1 = lh[l];
        R[l] = n;
        if (nst_layers[l].pool_after && l + 1 < depth)
            r = (net_rect){n.x0 / 2, n.y0 / 2, n.x1 / 2, n.y1 / 2};
        else
            r = n;
    }
    for (int l = depth - 2; l >= 0; l--)
        if (!nst_layers[l].pool_after) R[l] = R[l + 1];
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
    size_t max_grad; /* floats of each gradient buffer */
    size_t kept[NST_NUM_LAYERS][2]; /* conv3x3_kept_floats, forward and backward */
} net_caps;

/* Floats of the largest gradient (and cropped activation) the backward
 * pass of a rect of side crop (0: the whole image) holds in a W×H net
 * (layers lw×lh): a layer's output channels over its rect, which its
 * input's channels never exceed. The rect is taken where a tile's interior
 * is, at a multiple of 16, and far from the borders, which only clip. */
static size_t grad_floats(int depth, int crop, const int *lw, const int *lh)
{
    enum { FAR = 1 << 20 };
    int big[NST_NUM_LAYERS];
    for (int l = 0; l < depth; l++) big[l] = 4 * FAR; /* no border within reach */
    net_rect R[NST_NUM_LAYERS];
    backward_rects(depth, big, big, (net_rect){FAR, FAR, FAR + crop, FAR + crop}, R);
    size_t most = 0;
    for (int l = 0; l < depth; l++) {
        size_t w = rect_w(R[l]) < lw[l] ? rect_w(R[l]) : lw[l];
        size_t h = rect_h(R[l]) < lh[l] ? rect_h(R[l]) : lh[l];
        size_t f = (size_t)nst_layers[l].cout * w * h;
        if (f > most) most = f;
    }
    return most;
}

static int caps_add(net_caps *c, int W, int H, int depth, int crop)
{
    int lw[NST_NUM_LAYERS], lh[NST_NUM_LAYERS];
    net_plan pl;
    if (depth < 1 || depth > NST_NUM_LAYERS || W < 1 || H < 1 ||
        !plan_net(W, H, depth, lw, lh, &pl))
        return 0;
    for (int l = 0; l < depth; l++) {
        const nst_layer_def *d = &nst_layers[l];
        size_t a = (size_t)d->cout * lh[l] * lw[l];
        if (a > c->act[l]) c->act[l] = a;
        for (int b = 0; b < 2; b++) {
            size_t k = conv3x3_kept_floats(d->cin, d->cout, lh[l], lw[l], b);
            if (k > c->kept[l][b]) c->kept[l][b] = k;
        }
    }
    size_t g = crop > 0 ? grad_floats(depth, crop, lw, lh) : pl.max_act;
    if (g > c->max_grad) c->max_grad = g;
    if (pl.max_act > c->max_act) c->max_act = pl.max_act;
    if (pl.max_in > c->max_in) c->max_in = pl.max_in;
    if (pl.max_scratch > c->max_scratch) c->max_scratch = pl.max_scratch;
    return 1;
}

static int caps_of(net_caps *c, const int *wh, int n, int depth, int crop)
{
    memset(c, 0, sizeof *c);
    if (n < 1) return 0;
    for (int i = 0; i < n; i++)
        if (!caps_add(c, wh[2 * i], wh[2 * i + 1], depth, crop)) return 0;
    return 1;
}

size_t nst_net_bytes_sizes(const int *wh, int n, int depth, int crop, int keep)
{
    net_caps c;
    if (!caps_of(&c, wh, n, depth, crop)) return 0;
    size_t floats = c.max_in + 2 * c.max_grad + (c.max_scratch ? c.max_scratch : 1);
    for (int l = 0; l < depth; l++) floats += c.act[l];
    size_t kept = keep ? nst_net_kept_bytes(wh, n, depth) : 0;
    return floats * sizeof(float) + sizeof(nst_net) + kept;
}

size_t nst_net_kept_bytes(const int *wh, int n, int depth)
{
    net_caps c;
    if (!caps_of(&c, wh, n, depth, 0)) return 0;
    size_t floats = 0;
    for (int l = 0; l < depth; l++) floats += c.kept[l][0] + c.kept[l][1];
    return floats * sizeof(float);
}

size_t nst_net_bytes(int W, int H, int depth)
{
    int wh[2] = {W, H};
    return nst_net_bytes_sizes(wh, 1, depth, 0, 0);
}

nst_net *nst_net_create(const nst_model *m, int W, int H, int depth, nst_pooling pooling,
                        int threads)
{
    int wh[2] = {W, H};
    return nst_net_create_sizes(m, wh, 1, depth, 0, 0, pooling, threads);
}

/* The weights of every convolution whose path prepares them, made once
 * (conv3x3_keep): 0, or -1 when out of memory. */
static int keep_weights(nst_net *net)
{
    for (int l = 0; l < net->depth; l++)
        for (int b = 0; b < 2; b++) {
            size_t k = net->caps->kept[l][b];
            if (!k) continue;
            if (!(net->kept[l][b] = nst_big_alloc(k * sizeof(float)))) return -1;
            const nst_layer_def *d = &nst_layers[l];
            conv3x3_keep(net->kept[l][b], net->model->weight[l], d->cin, d->cout, b, net->pool);
        }
    return 0;
}

nst_net *nst_net_create_sizes(const nst_model *m, const int *wh, int n, int depth, int crop,
                              int keep, nst_pooling pooling, int threads)
{
    net_caps c;
    if (!caps_of(&c, wh, n, depth, crop)) return NULL;
    nst_net *net = calloc(1, sizeof *net);
    if (!net) return NULL;
    net->model = m;
    net->pooling = pooling;
    net->depth = depth;
    net->crop = crop;
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
    net->grad_a = nst_big_alloc(c.max_grad * sizeof(float));
    net->grad_b = nst_big_alloc(c.max_grad * sizeof(float));
    net->scratch = nst_big_alloc((c.max_scratch ? c.max_scratch : 1) * sizeof(float));
    if (!ok || !net->input || !net->grad_a || !net->grad_b || !net->scratch) {
        nst_net_free(net);
        return NULL;
    }
    net->pool = nst_pool_create(threads); /* NULL: runs on the caller's thread alone */
    if (keep && keep_weights(net) != 0) {
        nst_net_free(net);
        return NULL;
    }
    return net;
}

int nst_net_resize(nst_net *net, int W, int H)
{
    net_caps c;
    memset(&c, 0, sizeof c);
    int lw[NST_NUM_LAYERS], lh[NST_NUM_LAYERS];
    if (!caps_add(&c, W, H, net->depth, net->crop)) return -1;
    for (int l = 0; l < net->depth; l++)
        if (c.act[l] > net->caps->act[l]) return -1;
    if (c.max_act > net->caps->max_act || c.max_in > net->caps->max_in ||
        c.max_grad > net->caps->max_grad ||
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
    for (int l = 0; l < NST_NUM_LAYERS; l++) {
        free(net->act[l]);
        free(net->kept[l][0]);
        free(net->kept[l][1]);
    }
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

/* Adjoint of preprocess on a rect: the w×h pixels of dimg (rows `row`,
 * channels `plane` floats apart) = d/dimg of the pixels at (x, y) of dnet
 * (3,dh,dw), which holds d/d(net input). */
static void preprocess_backward(const nst_preprocess *p, float *dimg, size_t row, size_t plane,
                                int w, int h, const float *dnet, int dw, int dh, int x, int y)
{
    for (int c = 0; c < 3; c++) {
        float *dst = dimg + (size_t)(p->bgr ? 2 - c : c) * plane;
        const float *src = dnet + ((size_t)c * dh + y) * dw + x;
        float a = p->range / p->std[c];
        for (int r = 0; r < h; r++)
            for (int i = 0; i < w; i++) dst[(size_t)r * row + i] = src[(size_t)r * dw + i] * a;
    }
}

/* src (C, sh, sw) at rect r → dst (C, rect_h, rect_w). */
static void copy_rect(float *dst, const float *src, int C, int sw, int sh, net_rect r)
{
    int w = rect_w(r), h = rect_h(r);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < h; y++)
            memcpy(dst + ((size_t)c * h + y) * w, src + ((size_t)c * sh + r.y0 + y) * sw + r.x0,
                   (size_t)w * sizeof(float));
}

/* Whether r is the whole plane of layer l. */
static int rect_whole(const nst_net *net, int l, net_rect r)
{
    return r.x0 == 0 && r.y0 == 0 && r.x1 == net->lw[l] && r.y1 == net->lh[l];
}

/* Layer l's activation on rect r: the activation itself when r is the
 * whole plane, else a copy in buf. */
static const float *act_on(const nst_net *net, int l, net_rect r, float *buf)
{
    if (rect_whole(net, l, r)) return net->act[l];
    copy_rect(buf, net->act[l], nst_layers[l].cout, net->lw[l], net->lh[l], r);
    return buf;
}

void nst_net_forward(nst_net *net, const float *img)
{
    const nst_model *m = net->model;
    preprocess(&m->pre, net->input, img, (size_t)net->W * net->H);
    const float *in = net->input;
    for (int l = 0; l < net->depth; l++) {
        const nst_layer_def *d = &nst_layers[l];
        int w = net->lw[l], h = net->lh[l];
        conv3x3_relu_forward(net->act[l], in, m->weight[l], net->kept[l][0], m->bias[l], d->cin,
                             d->cout, h, w, net->scratch, net->pool);
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
    nst_net_backward_rect(net, dimg, (size_t)net->W, (size_t)net->W * net->H, 0, 0, net->W,
                          net->H, loss_grad, user);
}

int nst_net_backward_rect(nst_net *net, float *dimg, size_t row, size_t plane, int x0, int y0,
                          int x1, int y1, nst_layer_grad_fn loss_grad, void *user)
{
    const nst_model *m = net->model;
    int depth = net->depth;
    net_rect R[NST_NUM_LAYERS];
    if (x0 < 0 || y0 < 0 || x1 > net->W || y1 > net->H || x1 <= x0 || y1 <= y0) return -1;
    backward_rects(depth, net->lw, net->lh, (net_rect){x0, y0, x1, y1}, R);
    for (int l = 0; l < depth; l++)
        if ((size_t)nst_layers[l].cout * rect_w(R[l]) * rect_h(R[l]) > net->caps->max_grad)
            return -1;
    float *g = net->grad_a;     /* d/d act[l] on R[l] */
    float *other = net->grad_b; /* act[l] on R[l] when a copy, then d/d input of conv l */
    int masked = 1;             /* g is already through act[l]'s ReLU (zeros are) */
    int top = depth - 1;
    memset(g, 0, (size_t)nst_layers[top].cout * rect_w(R[top]) * rect_h(R[top]) * sizeof(float));
    const float *a = act_on(net, top, R[top], other);
    for (int l = top; l >= 0; l--) {
        const nst_layer_def *d = &nst_layers[l];
        int w = rect_w(R[l]), h = rect_h(R[l]);
        masked = loss_grad(l, a, g, d->cout, h, w, R[l].x0, R[l].y0, masked, user);
        if (!masked) relu_backward(g, a, (size_t)d->cout * h * w, net->pool);
        conv3x3_backward(other, g, m->weight[l], net->kept[l][1], d->cin, d->cout, h, w,
                         net->scratch, net->pool);
        if (l == 0) break;
        /* other holds d/d input of conv l on R[l]; turn it into d/d act[l-1]
         * on R[l-1] in g, with act[l-1] there in a. */
        const nst_layer_def *p = &nst_layers[l - 1];
        net_rect q = R[l - 1];
        if (p->pool_after) { /* through act[l-1]'s ReLU in the same pass */
            const float *dpool = other;
            a = net->act[l - 1];
            if (!rect_whole(net, l - 1, q)) {
                /* the pooled positions over q's windows, then act[l-1] on q */
                net_rect half = {q.x0 / 2, q.y0 / 2, q.x1 / 2, q.y1 / 2};
                half.x0 -= R[l].x0, half.x1 -= R[l].x0, half.y0 -= R[l].y0, half.y1 -= R[l].y0;
                copy_rect(net->input, other, p->cout, w, h, half);
                dpool = net->input;
                a = act_on(net, l - 1, q, other);
            }
            if (net->pooling == NST_POOL_MAX)
                maxpool2_relu_backward(g, dpool, a, p->cout, rect_h(q), rect_w(q), net->pool);
            else
                avgpool2_relu_backward(g, dpool, a, p->cout, rect_h(q), rect_w(q), net->pool);
            masked = 1;
        } else { /* the same block: the same rect */
            float *t = g;
            g = other;
            other = t;
            a = act_on(net, l - 1, q, other);
            masked = 0;
        }
    }
    preprocess_backward(&m->pre, dimg, row, plane, x1 - x0, y1 - y0, other, rect_w(R[0]),
                        rect_h(R[0]), x0 - R[0].x0, y0 - R[0].y0);
    return 0;
}
