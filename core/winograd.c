/*
 * winograd.c — 3×3 convolution (stride 1, zero padding 1) by Winograd's
 * minimal filtering F(4×4, 3×3) (Lavin & Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2016), forward and backward to the input.
 *
 * Algorithm. The output is cut into 4×4 tiles; tile t of channel c reads a
 * 6×6 patch d (the tile plus a one-pixel border, zeros outside the image).
 * With the 6×6 input transform Bᵀ, the 6×3 filter transform G and the 4×6
 * output transform Aᵀ,
 *     V[ξ][c][t]  = (Bᵀ d_{c,t} B)[ξ]            for the 36 points ξ,
 *     U[ξ][oc][c] = (G w_{oc,c} Gᵀ)[ξ],
 *     M[ξ]        = U[ξ] · V[ξ]                   36 sgemms (OC×C)·(C×tiles),
 *     out_{oc,t}  = Aᵀ M_{oc,t} A (+ bias).
 * That is 36 multiplications per tile and channel pair where the direct
 * convolution needs 144: the GEMMs do a quarter of im2col's work. The
 * backward to the input is the same convolution of dout with the weights
 * flipped spatially and transposed (C↔OC), so only U differs.
 *
 * Accuracy. The transform points are 0, 1, -1, 2, -1/2 and ∞, chosen by
 * measurement over the usual 0, ±1, ±2 (whose backward error exceeds 1e-5
 * of the largest element at 512 channels); see the table at the matrices.
 * Errors are 2–5× those of the direct float sum, within test_ops.c's 1e-5.
 * The transforms run in float with the constant matrices folded in (zero
 * coefficients are skipped, ±1 cost no multiply).
 *
 * Memory. The scratch holds U (36·C·OC floats, computed on every call: 3–6
 * ms at 512 + 512 channels, about 50 ms of a 512 px evaluation, which a
 * cache kept by the caller could save) and
 * one block of tiles: V (36·C·nt) and M (36·OC·nt), where nt is chosen so
 * the block stays within WINO_BLOCK_FLOATS, or nt = WINO_BLOCK_MIN if that
 * is more (wide enough GEMMs matter more than the cache); the image is
 * processed block by block, so the scratch does not grow with H·W. For
 * 512 + 512 channels: U 38 MB + block 38 MB. M stays at one place for all
 * blocks and the GEMMs accumulate into it (beta = 1): the input transform
 * of the first block clears it, and the output transform clears what it
 * has read, while in cache, instead of OpenBLAS clearing it in a separate
 * pass (with the edge rows read without a padded copy and full rows written
 * in place, 512 px evaluations measured about 7% faster).
 *
 * Threads. Every step runs on the caller's pool (pool.h), split evenly:
 * the transforms over channels, the 36 GEMMs over transform points (each
 * thread calling a one-thread OpenBLAS on its own points). Measured at 512
 * px against OpenBLAS threading the GEMMs and short-lived threads for the
 * transforms: OpenBLAS's idle threads no longer spin through the
 * transforms, and convolutions take 1161 → 1011 ms per evaluation.
 *
 * What this file is not: it has no other tile sizes, kernels or strides,
 * and does not decide when Winograd pays (ops.c does, from measurements).
 */
#include <cblas.h>
#include <string.h>

#include "winograd.h"

/* Budget of one tile block, V plus M: 4M floats, 16 MB (fits the L3 cache).
 * Measured with bench/conv_bench.c: 1M and 2M make the GEMMs too narrow on
 * the deep layers; 8M and 16M gain nothing clear on this machine. A build
 * may override it (-DWINO_BLOCK_FLOATS=…). */
#ifndef WINO_BLOCK_FLOATS
#define WINO_BLOCK_FLOATS ((size_t)4 << 20)
#endif

/* Fewest tiles per block whatever the budget: OpenBLAS runs the 36 GEMMs
 * (512×nt)·(512×512) at 69 GFLOP/s with nt = 86 (what 16 MB allows for 512
 * + 512 channels) and at 140 with nt = 256, the speed of one large sgemm.
 * The block then takes 36·(C+OC)·256 floats: 38 MB at 512 + 512 channels. */
#ifndef WINO_BLOCK_MIN
#define WINO_BLOCK_MIN 256
#endif

/* Tiles per transform chunk: the chunk's intermediates live on the stack. */
#define WINO_CHUNK 64

/* ------------------------------------------------------------ transforms */

/* Points 0, 1, -1, 2, -1/2 and ∞ (exact fractions; derived by Toom-Cook
 * from the points). Worst errors of the whole convolution measured by
 * tests/unit/test_winograd.c against a direct double sum (forward: error
 * over Σ|w·x| of the output; backward: error over the largest element;
 * worst over its shapes, C and OC up to 1000):
 *     points                   forward   backward
 *     0, ±1, ±2                4.8e-06   1.3e-05   (fails the 1e-5 of test_ops)
 *     0, ±1, ±1/2              8.5e-06   1.0e-05
 *     0, ±1, ±2/3              6.8e-06   8.7e-06
 *     0, ±1, ±3/2              2.9e-06   9.7e-06
 *     0, -1, 1, 1/2, -3        3.4e-06   5.3e-06
 *     0, 1, -1, 1/2, -2        3.0e-06   5.1e-06
 *     0, 1, -1, 2, -1/2        2.6e-06   4.3e-06   (used)
 * The mixed ±2^k pair keeps the transformed values' magnitudes balanced. */
static const float wino_BT[6][6] = {
    {1.0f, 3.0f / 2.0f, -2.0f, -3.0f / 2.0f, 1.0f, 0.0f},
    {0.0f, -1.0f, -5.0f / 2.0f, -1.0f / 2.0f, 1.0f, 0.0f},
    {0.0f, 1.0f, 1.0f / 2.0f, -5.0f / 2.0f, 1.0f, 0.0f},
    {0.0f, -1.0f / 2.0f, -1.0f, 1.0f / 2.0f, 1.0f, 0.0f},
    {0.0f, 2.0f, -1.0f, -2.0f, 1.0f, 0.0f},
    {0.0f, 1.0f, 3.0f / 2.0f, -2.0f, -3.0f / 2.0f, 1.0f},
};

static const float wino_G[6][3] = {
    {1.0f, 0.0f, 0.0f},
    {-1.0f / 3.0f, -1.0f / 3.0f, -1.0f / 3.0f},
    {1.0f / 3.0f, -1.0f / 3.0f, 1.0f / 3.0f},
    {1.0f / 15.0f, 2.0f / 15.0f, 4.0f / 15.0f},
    {-16.0f / 15.0f, 8.0f / 15.0f, -4.0f / 15.0f},
    {0.0f, 0.0f, 1.0f},
};

static const float wino_AT[4][6] = {
    {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f},
    {0.0f, 1.0f, -1.0f, 2.0f, -1.0f / 2.0f, 0.0f},
    {0.0f, 1.0f, 1.0f, 4.0f, 1.0f / 4.0f, 0.0f},
    {0.0f, 1.0f, -1.0f, 8.0f, -1.0f / 8.0f, 1.0f},
};

/* Σ_k c[k]·v[k] for a constant coefficient row c (n ≤ 6). Inlined into
 * fully unrolled loops, the tests on c fold away: zero terms vanish and
 * ±1 terms cost no multiply. */
static inline __attribute__((always_inline)) float lin(const float *c, const float *v, int n)
{
    float acc = 0.0f;
    int any = 0;
#pragma GCC unroll 6
    for (int k = 0; k < n; k++) {
        if (c[k] == 0.0f) continue;
        float t = c[k] == 1.0f ? v[k] : c[k] == -1.0f ? -v[k] : c[k] * v[k];
        acc = any ? acc + t : t;
        any = 1;
    }
    return acc;
}

/* The column pass of the input transform for one row i of points: o_j[t]
 * (j < 6) = Σ_k Bᵀ[j][k]·y[k mod 4][t + k/4], where y[p] holds the row's
 * values of phase p. Separate restrict outputs let the loop vectorise. */
static inline __attribute__((always_inline)) void input_cols(
    float *restrict o0, float *restrict o1, float *restrict o2, float *restrict o3,
    float *restrict o4, float *restrict o5, const float (*restrict y)[WINO_CHUNK + 1], int n)
{
    for (int t = 0; t < n; t++) {
        float d[6];
#pragma GCC unroll 6
        for (int k = 0; k < 6; k++) d[k] = y[k & 3][t + (k >> 2)];
        o0[t] = lin(wino_BT[0], d, 6);
        o1[t] = lin(wino_BT[1], d, 6);
        o2[t] = lin(wino_BT[2], d, 6);
        o3[t] = lin(wino_BT[3], d, 6);
        o4[t] = lin(wino_BT[4], d, 6);
        o5[t] = lin(wino_BT[5], d, 6);
    }
}

/* Input transform of n ≤ WINO_CHUNK tiles of one channel: tiles (ty, a+t)
 * for t < n. img is the channel (H,W); v points at V[0][c][first tile] and
 * vs is the stride between the 36 points. Rows then columns: the patch's
 * columns are split by phase (x mod 4), so both passes read contiguous
 * runs. Rows wholly inside the image are read in place; others through a
 * zero-padded copy. */
static void input_chunk(float *restrict v, size_t vs, const float *restrict img, int H, int W,
                        int ty, int a, int n)
{
    float ph[6][4][WINO_CHUNK + 1]; /* ph[i][p][t] = img[4ty-1+i][4(a+t)-1+p] */
    int x0 = 4 * a - 1;
    /* Tiles t in [tl, th) have all four columns inside the image; the few
     * others (at the left and right edges) are read column by column. */
    int tl = x0 < 0 ? 1 : 0, th = (W - x0) / 4;
    if (th > n + 1) th = n + 1;
    if (th < tl) th = tl;
    for (int i = 0; i < 6; i++) {
        int y = 4 * ty - 1 + i;
        if (y < 0 || y >= H) {
            for (int p = 0; p < 4; p++)
                for (int t = 0; t <= n; t++) ph[i][p][t] = 0.0f;
            continue;
        }
        const float *src = img + (size_t)y * W;
        for (int t = 0; t <= n; t++) {
            if (t == tl && t < th) {
                const float *s = src + x0;
                for (; t < th; t++)
#pragma GCC unroll 4
                    for (int p = 0; p < 4; p++) ph[i][p][t] = s[4 * t + p];
                if (t > n) break;
            }
            for (int p = 0; p < 4; p++) {
                int x = x0 + 4 * t + p;
                ph[i][p][t] = x >= 0 && x < W ? src[x] : 0.0f;
            }
        }
    }
    float yt[6][4][WINO_CHUNK + 1]; /* Bᵀ applied down the columns */
    for (int p = 0; p < 4; p++)
        for (int t = 0; t <= n; t++) {
            float d[6];
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) d[i] = ph[i][p][t];
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) yt[i][p][t] = lin(wino_BT[i], d, 6);
        }
    for (int i = 0; i < 6; i++) {
        float *o = v + (size_t)(i * 6) * vs;
        input_cols(o, o + vs, o + 2 * vs, o + 3 * vs, o + 4 * vs, o + 5 * vs, yt[i], n);
    }
}

/* Output transform of n ≤ WINO_CHUNK tiles of one output channel: tiles
 * (ty, a+t). m points at M[0][oc][first tile], ms is the stride between the
 * 36 points; out is the channel (H,W); b is its bias. Tiles past the right
 * or bottom edge write only their rows and columns inside the image. */
static void output_chunk(float *restrict out, float *restrict m, size_t ms, float b,
                         int H, int W, int ty, int a, int n)
{
    float o[6][4][WINO_CHUNK]; /* Aᵀ applied along the rows */
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        for (int t = 0; t < n; t++) {
            float d[6];
#pragma GCC unroll 6
            for (int j = 0; j < 6; j++) d[j] = m[(size_t)(i * 6 + j) * ms + t];
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) o[i][j][t] = lin(wino_AT[j], d, 6);
        }
        /* Leave M zero for the next block's GEMMs (beta = 1), while its
         * lines are in cache. */
        for (int j = 0; j < 6; j++) memset(m + (size_t)(i * 6 + j) * ms, 0, sizeof(float) * n);
    }
    float row[4 * WINO_CHUNK];
    int xa = 4 * a, cnt = 4 * n < W - xa ? 4 * n : W - xa;
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        int y = 4 * ty + i;
        if (y >= H) continue;
        float *dst = cnt == 4 * n ? out + (size_t)y * W + xa : row; /* in place if it fits */
        for (int t = 0; t < n; t++)
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                float d[6];
#pragma GCC unroll 6
                for (int k = 0; k < 6; k++) d[k] = o[k][j][t];
                dst[4 * t + j] = lin(wino_AT[i], d, 6) + b;
            }
        if (dst == row) memcpy(out + (size_t)y * W + xa, row, sizeof(float) * (size_t)cnt);
    }
}

/* U[ξ][r][k] = (G g Gᵀ)[ξ] for r0 ≤ r < r1, k < K, where the 3×3 filter g is
 * w[r][k] (forward: w is (R,K,3,3)) or, with flip, w[k][r] rotated by 180°
 * (backward: w is (K,R,3,3)). U is (36,R,K). */
static void weights_rows(float *restrict U, const float *restrict w, int R, int K, int flip,
                         int r0, int r1)
{
    size_t us = (size_t)R * K;
    for (int r = r0; r < r1; r++)
        for (int k0 = 0; k0 < K; k0 += 64) {
            int n = K - k0 < 64 ? K - k0 : 64;
            float g[9][64], h[6][3][64]; /* g[q][k]: tap q; h = G·g, per column */
            if (flip)
                for (int k = 0; k < n; k++)
                    for (int q = 0; q < 9; q++) g[q][k] = w[((size_t)(k0 + k) * R + r) * 9 + 8 - q];
            else
                for (int k = 0; k < n; k++)
                    for (int q = 0; q < 9; q++) g[q][k] = w[((size_t)r * K + k0 + k) * 9 + q];
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
#pragma GCC unroll 3
                for (int x = 0; x < 3; x++)
                    for (int k = 0; k < n; k++) {
                        float col[3] = {g[x][k], g[3 + x][k], g[6 + x][k]};
                        h[i][x][k] = lin(wino_G[i], col, 3);
                    }
            float *u = U + (size_t)r * K + k0;
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
#pragma GCC unroll 6
                for (int j = 0; j < 6; j++) {
                    float *restrict d = u + (size_t)(i * 6 + j) * us;
                    for (int k = 0; k < n; k++) {
                        float row[3] = {h[i][0][k], h[i][1][k], h[i][2][k]};
                        d[k] = lin(wino_G[j], row, 3);
                    }
                }
        }
}

/* ------------------------------------------------------------ blocks */

/* Most tiles per block for a convolution of `tiles` tiles: as many as keep
 * V and M within the budget, but at least WINO_BLOCK_MIN. */
static int wino_block_max(int C, int OC, int tiles)
{
    if (tiles <= 0) return 1;
    size_t per = (size_t)36 * ((size_t)C + (size_t)OC);
    size_t fit = per ? WINO_BLOCK_FLOATS / per : (size_t)tiles;
    if (fit < WINO_BLOCK_MIN) fit = WINO_BLOCK_MIN;
    return fit > (size_t)tiles ? tiles : (int)fit;
}

/* Tiles per block actually used: the maximum, evened out over the blocks
 * so the last one is not a sliver. */
static int wino_block_tiles(int C, int OC, int tiles)
{
    int nmax = wino_block_max(C, OC, tiles);
    int blocks = (tiles + nmax - 1) / nmax;
    return (tiles + blocks - 1) / blocks;
}

size_t wino_scratch_floats(int C, int OC, int H, int W)
{
    if (C <= 0 || OC <= 0 || H <= 0 || W <= 0) return 0;
    int tiles = ((H + 3) / 4) * ((W + 3) / 4);
    return (size_t)36 * C * OC + (size_t)36 * ((size_t)C + OC) * wino_block_max(C, OC, tiles);
}

/* Tiles in the transform chunk starting at tile t of the block [T0,
 * T0+nt): up to the end of t's tile row, of the block and of WINO_CHUNK. */
static int chunk_tiles(int t, int T0, int nt, int TW)
{
    int n = TW - t % TW;
    if (n > T0 + nt - t) n = T0 + nt - t;
    return n > WINO_CHUNK ? WINO_CHUNK : n;
}

/* V (36,C,nt) for tiles T0 … T0+nt-1 (row-major over the TW-wide tile
 * grid) of inp (C,H,W), channels c0 … c1-1. */
static void input_block(float *V, const float *inp, int C, int H, int W, int TW, int T0, int nt,
                        int c0, int c1)
{
    size_t vs = (size_t)C * nt, plane = (size_t)H * W;
    for (int c = c0; c < c1; c++)
        for (int t = T0, n; t < T0 + nt; t += n) {
            n = chunk_tiles(t, T0, nt, TW);
            input_chunk(V + (size_t)c * nt + (t - T0), vs, inp + c * plane, H, W, t / TW,
                        t % TW, n);
        }
}

/* out (OC,H,W) for tiles T0 … T0+nt-1 from M (36,OC,nt), plus bias (OC)
 * or NULL, output channels o0 … o1-1. */
static void output_block(float *out, float *M, const float *bias, int OC, int H, int W,
                         int TW, int T0, int nt, int o0, int o1)
{
    size_t ms = (size_t)OC * nt, plane = (size_t)H * W;
    for (int oc = o0; oc < o1; oc++)
        for (int t = T0, n; t < T0 + nt; t += n) {
            n = chunk_tiles(t, T0, nt, TW);
            output_chunk(out + oc * plane, M + (size_t)oc * nt + (t - T0), ms,
                         bias ? bias[oc] : 0.0f, H, W, t / TW, t % TW, n);
        }
}

/* ------------------------------------------------------------ threads */

/* One step of a convolution, run by every thread of the pool on its share:
 * the weight transform over rows of U, the input transform over input
 * channels, the 36 GEMMs over transform points, the output transform over
 * output channels. The steps share the argument block. */
typedef struct {
    float *dst;              /* U, V or out */
    const float *src;        /* weight or inp */
    const float *U, *bias;
    float *V, *M;
    size_t mz;               /* STEP input: floats of M to clear first */
    int C, OC, H, W, TW, T0, nt, flip;
} wino_step;

static void step_weights(void *p, int part, int parts)
{
    wino_step *s = p;
    size_t lo, hi;
    nst_pool_share((size_t)s->OC, part, parts, &lo, &hi);
    weights_rows(s->dst, s->src, s->OC, s->C, s->flip, (int)lo, (int)hi);
}

static void step_input(void *p, int part, int parts)
{
    wino_step *s = p;
    size_t lo, hi;
    nst_pool_share(s->mz, part, parts, &lo, &hi);
    memset(s->M + lo, 0, sizeof(float) * (hi - lo));
    nst_pool_share((size_t)s->C, part, parts, &lo, &hi);
    input_block(s->V, s->src, s->C, s->H, s->W, s->TW, s->T0, s->nt, (int)lo, (int)hi);
}

static void step_gemm(void *p, int part, int parts)
{
    wino_step *s = p;
    size_t lo, hi;
    nst_pool_share(36, part, parts, &lo, &hi);
    /* beta = 1 into a zero M: cheaper than OpenBLAS's own clearing */
    for (size_t xi = lo; xi < hi; xi++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->OC, s->nt, s->C, 1.0f,
                    s->U + xi * s->OC * s->C, s->C, s->V + xi * s->C * s->nt, s->nt, 1.0f,
                    s->M + xi * s->OC * s->nt, s->nt);
}

static void step_output(void *p, int part, int parts)
{
    wino_step *s = p;
    size_t lo, hi;
    nst_pool_share((size_t)s->OC, part, parts, &lo, &hi);
    output_block(s->dst, s->M, s->bias, s->OC, s->H, s->W, s->TW, s->T0, s->nt, (int)lo,
                 (int)hi);
}

/* ------------------------------------------------------------ convolution */

/* out (OC,H,W) = conv of inp (C,H,W) with transformed weights U (36,OC,C),
 * plus bias (OC) or NULL; work holds 36·(C+OC)·wino_block_tiles floats. */
static void wino_conv(float *out, const float *inp, const float *U, const float *bias, int C,
                      int OC, int H, int W, float *work, nst_pool *pool)
{
    int TW = (W + 3) / 4, T = ((H + 3) / 4) * TW;
    int NT = wino_block_tiles(C, OC, T);
    /* M at a fixed place, so what the output transform cleared is where the
     * next block's M is (the last block may have fewer tiles). */
    float *V = work, *M = work + (size_t)36 * C * NT;
    for (int T0 = 0; T0 < T; T0 += NT) {
        int nt = T - T0 < NT ? T - T0 : NT;
        wino_step s = {.dst = out, .src = inp, .U = U, .bias = bias, .V = V, .M = M,
                       .mz = T0 == 0 ? (size_t)36 * OC * nt : 0, .C = C, .OC = OC, .H = H,
                       .W = W, .TW = TW, .T0 = T0, .nt = nt};
        nst_pool_run(pool, step_input, &s);
        nst_pool_run(pool, step_gemm, &s);
        nst_pool_run(pool, step_output, &s);
    }
}

/* U (36,R,K) for the forward (R = OC, K = C) or, with flip, the backward
 * (R = C, K = OC) of weight (OC,C,3,3). */
static void weights_transform(float *U, const float *weight, int R, int K, int flip,
                              nst_pool *pool)
{
    wino_step w = {.dst = U, .src = weight, .OC = R, .C = K, .flip = flip};
    nst_pool_run(pool, step_weights, &w);
}

/* ------------------------------------------------------------ entry points */

void wino_conv3x3_forward(float *out, const float *inp, const float *weight, const float *bias,
                          int C, int OC, int H, int W, float *scratch, nst_pool *pool)
{
    // inp is (C,H,W), weight is (OC,C,3,3), bias is (OC) or NULL, out will be
    // (OC,H,W); scratch holds wino_scratch_floats(C,OC,H,W): U (36,OC,C), then
    // one block of V and M
    if (OC <= 0 || H <= 0 || W <= 0) return;
    size_t plane = (size_t)H * W;
    if (C <= 0) {
        for (int oc = 0; oc < OC; oc++)
            for (size_t i = 0; i < plane; i++) out[oc * plane + i] = bias ? bias[oc] : 0.0f;
        return;
    }
    weights_transform(scratch, weight, OC, C, 0, pool);
    wino_conv(out, inp, scratch, bias, C, OC, H, W, scratch + (size_t)36 * OC * C, pool);
}

void wino_conv3x3_backward(float *dinp, const float *dout, const float *weight,
                           int C, int OC, int H, int W, float *scratch, nst_pool *pool)
{
    // dout is (OC,H,W), weight is (OC,C,3,3), dinp will be (C,H,W); scratch
    // holds wino_scratch_floats(C,OC,H,W): U (36,C,OC) of the flipped,
    // transposed weights, then one block of V and M
    if (C <= 0 || H <= 0 || W <= 0) return;
    if (OC <= 0) {
        memset(dinp, 0, sizeof(float) * (size_t)C * H * W);
        return;
    }
    weights_transform(scratch, weight, C, OC, 1, pool);
    wino_conv(dinp, dout, scratch, NULL, OC, C, H, W, scratch + (size_t)36 * C * OC, pool);
}
