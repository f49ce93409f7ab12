/*
 * ops.c — the network's layers: 3×3 convolution (forward and backward to the
 * input), ReLU and 2×2 max/average pooling, over flat (C,H,W) float buffers.
 *
 * The convolution goes, shape by shape, to Winograd F(4×4,3×3) (winograd.c,
 * a quarter of the multiplications; see conv_use_winograd) or to im2col +
 * sgemm per band of output rows, described here.
 * A band of R rows unfolds into a column matrix of (C*9, R*W) floats; R is
 * chosen so that matrix stays within CONV_TILE_FLOATS, which bounds the
 * scratch memory at any image height (a 1024 px image needs no more scratch
 * than a 256 px one with the same width class). Backward computes the column
 * gradient Wᵀ·dout for a band with one sgemm and folds it back (col2im) into
 * the input gradient.
 *
 * What this file is not: it computes no weight or bias gradients (the network
 * is fixed, only the image is optimised), it has no other kernel sizes,
 * strides or batches, and it allocates nothing. Threads: every op shares its
 * work out over the caller's pool (pool.h) in pieces its threads take as
 * they come free; an im2col band is split by rows of output, each piece
 * unfolding and multiplying its own columns.
 */
#include <cblas.h>
#include <string.h>

#include "ops.h"
#include "winograd.h"

/* ------------------------------------------------------------ convolution */

/* Upper bound on one band's column matrix: 2M floats, 8 MB. Measured with
 * bench/conv_bench.c: smaller bands re-pack the weights too often on the
 * deep layers, larger ones gain nothing and fall out of the cache. A build
 * may override it (-DCONV_TILE_FLOATS=…) to measure other budgets. */
#ifndef CONV_TILE_FLOATS
#define CONV_TILE_FLOATS ((size_t)2 << 20)
#endif

/* Rows per band for a (C,H,W) input: as many as fit the budget (at least
 * one), then evened out so the last band is not a sliver. */
static int conv_tile_rows(int C, int H, int W)
{
    if (H <= 0) return 1;
    size_t per_row = (size_t)9 * (size_t)C * (size_t)W;
    size_t fit = per_row ? CONV_TILE_FLOATS / per_row : (size_t)H;
    int rmax = fit < 1 ? 1 : fit > (size_t)H ? H : (int)fit;
    int bands = (H + rmax - 1) / rmax;
    return (H + bands - 1) / bands;
}

/* Floats of scratch the im2col path needs (forward and backward alike). */
static size_t im2col_scratch_floats(int C, int H, int W)
{
    if (C <= 0 || H <= 0 || W <= 0) return 0;
    return (size_t)9 * (size_t)C * (size_t)conv_tile_rows(C, H, W) * (size_t)W;
}

/* Whether a convolution from cin to cout channels at H×W goes to Winograd
 * (winograd.c) rather than im2col; kept: its transformed weights are kept
 * (conv3x3_keep), as a job's network keeps them unless memory is short.
 * Without them, measured with bench/conv_bench.c on the VGG19 shapes at
 * 256 and 512 px (Zen 5, OpenBLAS on its Haswell kernels): Winograd is
 * 1.7–3× faster from 64 channels and 32×32 pixels up (512 channels at
 * 32×32: 26 ms against 45), but below about 48 tiles transforming the
 * weights on every call costs more than the GEMMs save (512 channels at
 * 16×16: 16 ms against 10). With them, Winograd runs from half a panel
 * of tiles (8, 16×8 pixels) and down to three channels: on a Xeon whose
 * OpenBLAS falls back to SSE3 kernels (Performance in the README), an
 * evaluation (bench/eval_bench.c, AVX-512, 2 threads) took 0.71 of the
 * time at 256 px and 0.35 at 128 px, where conv4_x and conv5_1 had gone to
 * im2col, and 0.975 at 512 px, where only conv1_1's backward (three output
 * channels) had; the default 256 px job (256×192) 0.74 (medians of 3–8
 * paired runs). From one tile up, 128 px gained a little more, but panels
 * mostly of padding cost ThreadSanitizer, which instruments nstd's kernels
 * and not OpenBLAS, twice the time of a 64 px job (1.2 from 8 tiles). */
static int conv_use_winograd(int cin, int cout, int H, int W, int kept)
{
    int tiles = ((H + 3) / 4) * ((W + 3) / 4);
    return cin >= 3 && cout >= 3 && tiles >= (kept ? 8 : 48);
}

size_t conv3x3_scratch_floats(int C, int OC, int H, int W)
{
    /* forward C → OC, backward OC → C; kept weights take either further
     * into Winograd, their absence further into im2col */
    int wino = conv_use_winograd(C, OC, H, W, 1) || conv_use_winograd(OC, C, H, W, 1);
    int im2col = !conv_use_winograd(C, OC, H, W, 0) || !conv_use_winograd(OC, C, H, W, 0);
    size_t w = wino ? wino_scratch_floats(C, OC, H, W) : 0;
    size_t i = im2col ? im2col_scratch_floats(C, H, W) : 0;
    return w > i ? w : i;
}

/* One unfolded row k = (c,ky,kx) of the band starting at output row y0:
 * col is (R*W), img is channel c (H,W); col[r*W + x] = img[y0+r+ky-1][x+kx-1]
 * or 0 outside the image. Rows inside the image are copied as one run
 * shifted by kx-1; the column that the shift wrapped is then zeroed. */
static void im2col_row(float *restrict col, const float *restrict img, int H, int W,
                       int y0, int R, int ky, int kx)
{
    int ylo = y0 + ky - 1;                     /* image row of band row 0 */
    int ra = ylo < 0 ? -ylo : 0;               /* first band row inside */
    int rb = H - ylo < R ? H - ylo : R;        /* one past the last inside */
    if (rb < ra) rb = ra;
    memset(col, 0, sizeof(float) * (size_t)ra * W);
    memset(col + (size_t)rb * W, 0, sizeof(float) * (size_t)(R - rb) * W);
    if (rb == ra) return;
    float *dst = col + (size_t)ra * W;
    const float *src = img + (size_t)(ylo + ra) * W;
    size_t n = (size_t)(rb - ra) * W;
    if (kx == 1) {
        memcpy(dst, src, sizeof(float) * n);
    } else if (kx == 0) {                      /* dst[x] = src[x-1] */
        memcpy(dst + 1, src, sizeof(float) * (n - 1));
        for (size_t o = 0; o < n; o += W) dst[o] = 0.0f;
    } else {                                   /* dst[x] = src[x+1] */
        memcpy(dst, src + 1, sizeof(float) * (n - 1));
        for (size_t o = W - 1; o < n; o += W) dst[o] = 0.0f;
    }
}

/* inp is (C,H,W); rows k = (c,ky,kx) of col (C*9 rows, ld apart) get the R*W
 * unfolded values of output rows y0 … y0+R-1. */
static void im2col_band(float *restrict col, size_t ld, const float *restrict inp, int C,
                        int H, int W, int y0, int R)
{
    size_t plane = (size_t)H * W;
    for (int c = 0; c < C; c++)
        for (int t = 0; t < 9; t++)
            im2col_row(col + ((size_t)c * 9 + t) * ld, inp + c * plane, H, W, y0, R, t / 3,
                       t % 3);
}

/* dcol is (C*9, R*W) for output rows y0 … y0+R-1; dinp (C,H,W) gets the
 * adjoint of im2col_band added for channels c0 … c1-1. For each input row,
 * the nine taps that read it are summed in one pass, each as a contiguous
 * shifted run. */
static void col2im_band(float *restrict dinp, const float *restrict dcol, int H, int W,
                        int y0, int R, int c0, int c1)
{
    size_t plane = (size_t)H * W, n = (size_t)R * W;
    int ya = y0 - 1 < 0 ? 0 : y0 - 1;
    int yb = y0 + R + 1 > H ? H : y0 + R + 1;
    for (int c = c0; c < c1; c++) {
        const float *dc = dcol + (size_t)c * 9 * n;
        for (int y = ya; y < yb; y++) {
            float *restrict d = dinp + c * plane + (size_t)y * W;
            for (int ky = 0; ky < 3; ky++) {
                int r = y - y0 - ky + 1;       /* band row whose tap ky reads y */
                if (r < 0 || r >= R) continue;
                const float *restrict s0 = dc + (size_t)(ky * 3 + 0) * n + (size_t)r * W;
                const float *restrict s1 = s0 + n, *restrict s2 = s1 + n;
                /* tap kx reads input x from output x - kx + 1 */
                for (int x = 0; x < W - 1; x++) d[x] += s0[x + 1];
                for (int x = 0; x < W; x++) d[x] += s1[x];
                for (int x = 1; x < W; x++) d[x] += s2[x - 1];
            }
        }
    }
}

/* One band of the im2col path, shared by the pool's threads: they take
 * pieces of the band's rows, that is of the column matrix's columns, about
 * IM2COL_PIECES of them per band (nst_pool_for). */
#define IM2COL_PIECES 8
typedef struct {
    float *out;              /* forward: out; backward: dinp */
    const float *in;         /* forward: inp; backward: dout */
    const float *weight, *bias;
    float *col;              /* (K, R*W) */
    int C, OC, H, W, y0, R;
} im2col_step;

/* Forward, rows lo … hi-1 of the band: out[:, rows] = bias + weight · im2col. */
static void im2col_forward_part(void *p, int part, size_t lo, size_t hi)
{
    im2col_step *s = p;
    size_t plane = (size_t)s->H * s->W, n = (size_t)s->R * s->W;
    (void)part;
    int r = (int)(hi - lo), y = s->y0 + (int)lo;
    size_t m = (size_t)r * s->W;
    float *band = s->out + (size_t)y * s->W, *col = s->col + lo * s->W;
    for (int oc = 0; oc < s->OC; oc++) {
        float b = s->bias ? s->bias[oc] : 0.0f, *o = band + oc * plane;
        for (size_t i = 0; i < m; i++) o[i] = b;
    }
    if (s->C <= 0) return;
    im2col_band(col, n, s->in, s->C, s->H, s->W, y, r);
    /* out[:, rows] += weight (OC,K) · col (K,m); beta = 1 keeps the bias */
    int K = 9 * s->C;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->OC, (int)m, K, 1.0f, s->weight,
                K, col, (int)n, 1.0f, band, (int)plane);
}

/* Backward, first step, rows lo … hi-1: dcol (K,m) = weightᵀ · dout. */
static void im2col_backward_gemm(void *p, int part, size_t lo, size_t hi)
{
    im2col_step *s = p;
    size_t plane = (size_t)s->H * s->W, n = (size_t)s->R * s->W;
    (void)part;
    int K = 9 * s->C, m = (int)(hi - lo) * s->W;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, m, s->OC, 1.0f, s->weight, K,
                s->in + (size_t)(s->y0 + (int)lo) * s->W, (int)plane, 0.0f,
                s->col + lo * s->W, (int)n);
}

/* Backward, second step, channels lo … hi-1: col2im into dinp. */
static void im2col_backward_fold(void *p, int part, size_t lo, size_t hi)
{
    im2col_step *s = p;
    (void)part;
    col2im_band(s->out, s->col, s->H, s->W, s->y0, s->R, (int)lo, (int)hi);
}

/* Rows per piece of a band of R rows. */
static size_t im2col_grain(int R) { return (size_t)(R + IM2COL_PIECES - 1) / IM2COL_PIECES; }

/* The im2col path of conv3x3_forward, for every shape (exported for the
 * conv bench and the Winograd tests, which compare the two paths). */
void conv3x3_forward_im2col(float *out, const float *inp, const float *weight,
                            const float *bias, int C, int OC, int H, int W, float *scratch,
                            nst_pool *pool)
{
    // inp is (C,H,W), weight is (OC,C*9), bias is (OC) or NULL, out will be
    // (OC,H,W); scratch holds conv3x3_scratch_floats(C,OC,H,W)
    if (OC <= 0 || H <= 0 || W <= 0) return;
    int R = conv_tile_rows(C, H, W);
    for (int y0 = 0; y0 < H; y0 += R) {
        im2col_step s = {.out = out, .in = inp, .weight = weight, .bias = bias,
                         .col = scratch, .C = C, .OC = OC, .H = H, .W = W, .y0 = y0,
                         .R = H - y0 < R ? H - y0 : R};
        nst_pool_for(pool, (size_t)s.R, im2col_grain(s.R), im2col_forward_part, &s);
    }
}

/* The im2col path of conv3x3_backward (exported like the forward's). */
void conv3x3_backward_im2col(float *dinp, const float *dout, const float *weight,
                             int C, int OC, int H, int W, float *scratch, nst_pool *pool)
{
    // dout is (OC,H,W), weight is (OC,C*9), dinp will be (C,H,W);
    // scratch holds conv3x3_scratch_floats(C,OC,H,W)
    if (C <= 0 || H <= 0 || W <= 0) return;
    memset(dinp, 0, sizeof(float) * (size_t)C * H * W);
    if (OC <= 0) return;
    int R = conv_tile_rows(C, H, W);
    for (int y0 = 0; y0 < H; y0 += R) {
        im2col_step s = {.out = dinp, .in = dout, .weight = weight, .col = scratch, .C = C,
                         .OC = OC, .H = H, .W = W, .y0 = y0, .R = H - y0 < R ? H - y0 : R};
        nst_pool_for(pool, (size_t)s.R, im2col_grain(s.R), im2col_backward_gemm, &s);
        nst_pool_for(pool, (size_t)C, 1, im2col_backward_fold, &s);
    }
}

size_t conv3x3_kept_floats(int C, int OC, int H, int W, int backward)
{
    int wino = backward ? conv_use_winograd(OC, C, H, W, 1) : conv_use_winograd(C, OC, H, W, 1);
    return wino ? wino_weights_floats(C, OC, backward) : 0;
}

void conv3x3_keep(float *kept, const float *weight, int C, int OC, int backward, nst_pool *pool)
{
    wino_weights(kept, weight, C, OC, backward, pool);
}

/* conv3x3_forward and conv3x3_relu_forward: Winograd applies the ReLU as it
 * writes the output, im2col in a pass of its own. */
static void conv_forward(float *out, const float *inp, const float *weight, const float *kept,
                         const float *bias, int relu, int C, int OC, int H, int W,
                         float *scratch, nst_pool *pool)
{
    if (conv_use_winograd(C, OC, H, W, kept != NULL)) {
        wino_conv3x3_forward(out, inp, weight, kept, bias, relu, C, OC, H, W, scratch, pool);
        return;
    }
    conv3x3_forward_im2col(out, inp, weight, bias, C, OC, H, W, scratch, pool);
    if (relu) relu_forward(out, (size_t)OC * H * W, pool);
}

void conv3x3_forward(float *out, const float *inp, const float *weight, const float *kept,
                     const float *bias, int C, int OC, int H, int W, float *scratch,
                     nst_pool *pool)
{
    conv_forward(out, inp, weight, kept, bias, 0, C, OC, H, W, scratch, pool);
}

void conv3x3_relu_forward(float *out, const float *inp, const float *weight, const float *kept,
                          const float *bias, int C, int OC, int H, int W, float *scratch,
                          nst_pool *pool)
{
    conv_forward(out, inp, weight, kept, bias, 1, C, OC, H, W, scratch, pool);
}

void conv3x3_backward(float *dinp, const float *dout, const float *weight, const float *kept,
                      int C, int OC, int H, int W, float *scratch, nst_pool *pool)
{
    // dout is (OC,H,W), weight is (OC,C,3,3), dinp will be (C,H,W);
    // scratch holds conv3x3_scratch_floats(C,OC,H,W)
    if (conv_use_winograd(OC, C, H, W, kept != NULL))
        wino_conv3x3_backward(dinp, dout, weight, kept, C, OC, H, W, scratch, pool);
    else
        conv3x3_backward_im2col(dinp, dout, weight, C, OC, H, W, scratch, pool);
}

/* ------------------------------------------------------------ relu */

static void relu_forward_range(float *x, size_t n)
{
    // x is (n), in place
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void relu_backward_range(float *dx, const float *y, size_t n)
{
    // dx is (n), y is relu's output (n); dx is masked in place
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dx[i] : 0.0f;
}

/* ------------------------------------------------------------ pooling */

static void maxpool2_forward_range(float *out, const float *inp, int C, int H, int W)
{
    // inp is (C,H,W), out will be (C,H/2,W/2)
    int OH = H / 2, OW = W / 2;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < OH; i++) {
            const float *a = inp + ((size_t)c * H + 2 * i) * W, *b = a + W;
            float *o = out + ((size_t)c * OH + i) * OW;
            for (int j = 0; j < OW; j++) {
                float m0 = a[2 * j] > a[2 * j + 1] ? a[2 * j] : a[2 * j + 1];
                float m1 = b[2 * j] > b[2 * j + 1] ? b[2 * j] : b[2 * j + 1];
                o[j] = m0 > m1 ? m0 : m1;
            }
        }
}

/* The last row and column of each channel of dinp (C,H,W) that 2×2 pooling
 * dropped (odd H or W) get 0. */
static void pool2_backward_dropped(float *dinp, int c, int H, int W)
{
    float *d = dinp + (size_t)c * H * W;
    if (W % 2)
        for (int y = 0; y < H; y++) d[(size_t)y * W + W - 1] = 0.0f;
    if (H % 2) memset(d + (size_t)(H - 1) * W, 0, sizeof(float) * (size_t)W);
}

static void maxpool2_backward_range(float *dinp, const float *dout, const float *inp, int C,
                                    int H, int W)
{
    // dout is (C,H/2,W/2), inp is a ReLU's output (C,H,W), dinp will be
    // (C,H,W); each window's gradient goes to its first maximum in row-major
    // order, or nowhere when that maximum is not positive; each window is
    // written whole
    int OH = H / 2, OW = W / 2;
    for (int c = 0; c < C; c++) {
        for (int i = 0; i < OH; i++) {
            size_t row = ((size_t)c * H + 2 * i) * W;
            const float *a = inp + row;
            float *da = dinp + row;
            const float *g = dout + ((size_t)c * OH + i) * OW;
            for (int j = 0; j < OW; j++) {
                size_t k[4] = {2 * j, 2 * j + 1, W + 2 * j, W + 2 * j + 1};
                size_t best = k[0];
                for (int q = 1; q < 4; q++)
                    if (a[k[q]] > a[best]) best = k[q];
                for (int q = 0; q < 4; q++) da[k[q]] = 0.0f;
                da[best] = a[best] > 0.0f ? g[j] : 0.0f;
            }
        }
        pool2_backward_dropped(dinp, c, H, W);
    }
}

static void avgpool2_forward_range(float *out, const float *inp, int C, int H, int W)
{
    // inp is (C,H,W), out will be (C,H/2,W/2)
    int OH = H / 2, OW = W / 2;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < OH; i++) {
            const float *a = inp + ((size_t)c * H + 2 * i) * W, *b = a + W;
            float *o = out + ((size_t)c * OH + i) * OW;
            for (int j = 0; j < OW; j++)
                o[j] = 0.25f * ((a[2 * j] + a[2 * j + 1]) + (b[2 * j] + b[2 * j + 1]));
        }
}

static void avgpool2_backward_range(float *dinp, const float *dout, const float *mask, int C,
                                    int H, int W)
{
    // dout is (C,H/2,W/2), dinp will be (C,H,W), mask is a ReLU's output
    // (C,H,W) whose non-positive elements get 0
    int OH = H / 2, OW = W / 2;
    for (int c = 0; c < C; c++) {
        for (int i = 0; i < OH; i++) {
            size_t row = ((size_t)c * H + 2 * i) * W;
            float *a = dinp + row, *b = a + W;
            const float *ma = mask + row, *mb = ma + W;
            const float *g = dout + ((size_t)c * OH + i) * OW;
            for (int j = 0; j < OW; j++) {
                float v = 0.25f * g[j];
                a[2 * j] = ma[2 * j] > 0.0f ? v : 0.0f;
                a[2 * j + 1] = ma[2 * j + 1] > 0.0f ? v : 0.0f;
                b[2 * j] = mb[2 * j] > 0.0f ? v : 0.0f;
                b[2 * j + 1] = mb[2 * j + 1] > 0.0f ? v : 0.0f;
            }
        }
        pool2_backward_dropped(dinp, c, H, W);
    }
}

/* ------------------------------------------------------------ threads */

/* The element-wise layers on the pool: ReLU in pieces of EW_GRAIN
 * elements, pooling channel by channel (each channel's planes are
 * contiguous, so a piece is the serial kernel on fewer channels at an
 * offset). */
#define EW_GRAIN ((size_t)1 << 16)
typedef enum { EW_RELU, EW_RELU_BACK, EW_MAX, EW_AVG, EW_MAX_BACK, EW_AVG_BACK } ew_kind;

typedef struct {
    ew_kind kind;
    float *dst;
    const float *a, *b;
    size_t n;                /* relu: elements */
    int C, H, W;             /* pooling; the backward is through the ReLU whose output b is */
} ew_step;

static void ew_part(void *p, int part, size_t lo, size_t hi)
{
    ew_step *s = p;
    (void)part;
    if (s->kind == EW_RELU || s->kind == EW_RELU_BACK) {
        if (s->kind == EW_RELU)
            relu_forward_range(s->dst + lo, hi - lo);
        else
            relu_backward_range(s->dst + lo, s->a + lo, hi - lo);
        return;
    }
    int c = (int)(hi - lo);
    size_t in = (size_t)s->H * s->W * lo, outp = (size_t)(s->H / 2) * (s->W / 2) * lo;
    switch (s->kind) {
    case EW_MAX: maxpool2_forward_range(s->dst + outp, s->a + in, c, s->H, s->W); break;
    case EW_AVG: avgpool2_forward_range(s->dst + outp, s->a + in, c, s->H, s->W); break;
    case EW_MAX_BACK:
        maxpool2_backward_range(s->dst + in, s->a + outp, s->b + in, c, s->H, s->W);
        break;
    case EW_AVG_BACK:
        avgpool2_backward_range(s->dst + in, s->a + outp, s->b + in, c, s->H, s->W);
        break;
    default: break;
    }
}

static void ew_run(nst_pool *pool, ew_step *s)
{
    if (s->kind == EW_RELU || s->kind == EW_RELU_BACK)
        nst_pool_for(pool, s->n, EW_GRAIN, ew_part, s);
    else
        nst_pool_for(pool, (size_t)s->C, 1, ew_part, s);
}

void relu_forward(float *x, size_t n, nst_pool *pool)
{
    ew_step s = {.kind = EW_RELU, .dst = x, .n = n};
    ew_run(pool, &s);
}

void relu_backward(float *dx, const float *y, size_t n, nst_pool *pool)
{
    ew_step s = {.kind = EW_RELU_BACK, .dst = dx, .a = y, .n = n};
    ew_run(pool, &s);
}

void maxpool2_forward(float *out, const float *inp, int C, int H, int W, nst_pool *pool)
{
    ew_step s = {.kind = EW_MAX, .dst = out, .a = inp, .C = C, .H = H, .W = W};
    ew_run(pool, &s);
}

void avgpool2_forward(float *out, const float *inp, int C, int H, int W, nst_pool *pool)
{
    ew_step s = {.kind = EW_AVG, .dst = out, .a = inp, .C = C, .H = H, .W = W};
    ew_run(pool, &s);
}

void maxpool2_relu_backward(float *dinp, const float *dout, const float *y, int C, int H, int W,
                            nst_pool *pool)
{
    ew_step s = {.kind = EW_MAX_BACK, .dst = dinp, .a = dout, .b = y, .C = C, .H = H, .W = W};
    ew_run(pool, &s);
}

void avgpool2_relu_backward(float *dinp, const float *dout, const float *y, int C, int H, int W,
                            nst_pool *pool)
{
    ew_step s = {.kind = EW_AVG_BACK, .dst = dinp, .a = dout, .b = y, .C = C, .H = H, .W = W};
    ew_run(pool, &s);
}
