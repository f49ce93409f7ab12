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
 *     M[ξ]        = U[ξ] · V[ξ]                   36 GEMMs (OC×C)·(C×tiles),
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
 * Memory. The scratch holds U (36·C·OC floats, computed on every call: 2.4
 * ms at 512 + 512 channels on two threads, mostly writing its 38 MB; about
 * 30 ms of a 512 px evaluation, which a cache kept by the caller could
 * save) and one block of tiles: V (36·C·nt) and M (36·OC·nt), where nt is
 * chosen so the block stays within WINO_BLOCK_FLOATS, or nt =
 * WINO_BLOCK_MIN if that is more (wide enough GEMMs matter more than the
 * cache); the image is processed block by block, so the scratch does not
 * grow with H·W. For 512 + 512 channels: U 38 MB + block 38 MB. All three
 * are laid out in the panels the GEMM kernel reads (see "GEMMs"), so the
 * transforms write the GEMMs' operands directly and nothing is packed.
 *
 * Threads. Every step runs on the caller's pool (pool.h), its threads
 * taking the step's pieces first come first served (nst_pool_for). Up to
 * 256 + 256 channels each thread takes 16-tile blocks through all three
 * steps, with V and M of its own (300 KB at 64 + 64 channels, kept in its
 * L2 cache): 10–30% faster than the shared blocks on those layers
 * (in-process A/B, forward + backward). Past that, all threads work on one
 * shared block: the transforms over channels, the 36 GEMMs over transform
 * points (the GEMMs need wide blocks there, and U alone outgrows the
 * caches).
 *
 * What this file is not: it has no other tile sizes, kernels or strides,
 * and does not decide when Winograd pays (ops.c does, from measurements).
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "winograd.h"

/* Budget of one tile block, V plus M: 4M floats, 16 MB (fits the L3 cache).
 * Measured with bench/conv_bench.c: 1M and 2M make the GEMMs too narrow on
 * the deep layers; 8M and 16M gain nothing clear on this machine. A build
 * may override it (-DWINO_BLOCK_FLOATS=…). */
#ifndef WINO_BLOCK_FLOATS
#define WINO_BLOCK_FLOATS ((size_t)4 << 20)
#endif

/* Fewest tiles per block whatever the budget: wide blocks reuse each panel
 * of U over more tiles. With OpenBLAS's sgemm the 36 GEMMs (512×nt)·(512×
 * 512) ran at 69 GFLOP/s with nt = 86 (what 16 MB allows for 512 + 512
 * channels) and at 140 with nt = 256; with our kernel, 128 and 64 are still
 * 1.03–1.08× slower than 256 at 512 px. The block then takes 36·(C+OC)·256
 * floats: 38 MB at 512 + 512 channels. */
#ifndef WINO_BLOCK_MIN
#define WINO_BLOCK_MIN 256
#endif

/* The GEMMs' panels (see "GEMMs"): U's rows in panels of WINO_MR, V's and
 * M's tiles in panels of WINO_NR. */
#define WINO_MR 6
#define WINO_NR 16

/* Tiles per transform chunk, whose intermediates live on the stack: at most
 * one panel, so that the transforms, running over channels for each chunk,
 * write and read V and M in one sequential run per point (going over tiles
 * for each channel instead jumped a panel's size every 16 tiles and made
 * the transforms twice as slow at 64 channels). */
#define WINO_CHUNK WINO_NR

/* Channels ahead whose rows the input transform prefetches. */
#ifndef WINO_PREFETCH
#define WINO_PREFETCH 4
#endif

/* Floats of slack in the scratch, to start U at a 64-byte boundary. */
#define WINO_ALIGN 16

static inline int pad_rows(int n) { return (n + WINO_MR - 1) / WINO_MR * WINO_MR; }
static inline int pad_tiles(int n) { return (n + WINO_NR - 1) / WINO_NR * WINO_NR; }

/* Offset of tile t in a slice of V or M whose panels are ps floats apart. */
static inline size_t panel_at(int t, size_t ps)
{
    return (size_t)(t / WINO_NR) * ps + t % WINO_NR;
}

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
 * for t < n. img is the channel (H,W); v points at V[0][c][first tile] (a
 * row of a panel) and vs is the stride between the 36 points. Rows then
 * columns: the patch's columns are split by phase (x mod 4), so both passes
 * read contiguous runs. Rows wholly inside the image are read in place;
 * others through a zero-padded copy. */
static inline __attribute__((always_inline)) void input_chunk(
    float *restrict v, size_t vs, const float *restrict img, int H, int W, int ty, int a, int n)
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
 * (ty, a+t). m points at M[0][oc][first tile] (a row of a panel), ms is
 * the stride between the 36 points; out is the channel (H,W); b is its
 * bias; relu: write max(value, 0). Tiles past the right or bottom edge
 * write only their rows and columns inside the image. */
static inline __attribute__((always_inline)) void output_chunk(
    float *restrict out, const float *restrict m, size_t ms, float b, int relu, int H, int W,
    int ty, int a, int n)
{
    float o[6][4][WINO_CHUNK]; /* Aᵀ applied along the rows */
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++)
        for (int t = 0; t < n; t++) {
            float d[6];
#pragma GCC unroll 6
            for (int j = 0; j < 6; j++) d[j] = m[(size_t)(i * 6 + j) * ms + t];
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) o[i][j][t] = lin(wino_AT[j], d, 6);
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
                float r = lin(wino_AT[i], d, 6) + b;
                dst[4 * t + j] = !relu || r > 0.0f ? r : 0.0f;
            }
        if (dst == row) memcpy(out + (size_t)y * W + xa, row, sizeof(float) * (size_t)cnt);
    }
}

/* Depth (K) per step of the weight transform: the step's values for one
 * panel, 36·WINO_MR·WINO_WK floats (27 KB), stay in L1 until written,
 * 768 bytes per point. */
#define WINO_WK 32

/* Σ_k c[k]·v[k] over 8 lanes for a constant coefficient row c (n ≤ 6), as
 * lin: zero terms vanish, ±1 terms cost no multiply. */
static inline __attribute__((always_inline)) __m256 vlin(const float *c, const __m256 *v, int n)
{
    __m256 acc = _mm256_setzero_ps();
    int any = 0;
#pragma GCC unroll 6
    for (int k = 0; k < n; k++) {
        if (c[k] == 0.0f) continue;
        if (!any)
            acc = c[k] == 1.0f    ? v[k]
                  : c[k] == -1.0f ? _mm256_sub_ps(_mm256_setzero_ps(), v[k])
                                  : _mm256_mul_ps(_mm256_set1_ps(c[k]), v[k]);
        else
            acc = c[k] == 1.0f    ? _mm256_add_ps(acc, v[k])
                  : c[k] == -1.0f ? _mm256_sub_ps(acc, v[k])
                                  : _mm256_fmadd_ps(_mm256_set1_ps(c[k]), v[k], acc);
        any = 1;
    }
    return acc;
}

/* U[ξ] for the panels p0 ≤ p < p1 of WINO_MR rows of R (see "GEMMs"):
 * element (r, k) of point ξ is (G g Gᵀ)[ξ] for k < K, where the 3×3 filter
 * g is w[r][k] (forward: w is (R,K,3,3)) or, with flip, w[k][r] rotated by
 * 180° (backward: w is (K,R,3,3)). Rows R ≤ r < pad_rows(R) are zero. Eight
 * filters at a time in AVX2 lanes; a panel's values of a step are then
 * interleaved into its layout and written in whole lines, streamed past
 * the caches when U outgrows them (512 + 512 channels: 38 MB, written and
 * read on every call). */
static void weights_panels(float *restrict U, const float *restrict w, int R, int K, int flip,
                           int p0, int p1)
{
    size_t us = (size_t)pad_rows(R) * K;
    /* U larger than the L3 cache goes to memory anyway: stream it there
     * rather than read each line in first */
    int stream = 36 * us > ((size_t)4 << 20);
    for (int p = p0; p < p1; p++)
        for (int k0 = 0; k0 < K; k0 += WINO_WK) {
            int n = K - k0 < WINO_WK ? K - k0 : WINO_WK;
            float u[36][WINO_MR][WINO_WK] __attribute__((aligned(32)));
            for (int i = 0; i < WINO_MR; i++) {
                int r = p * WINO_MR + i;
                float g[9][WINO_WK] __attribute__((aligned(32))); /* g[tap][k] */
                for (int k = 0; k < WINO_WK; k++)
                    for (int q = 0; q < 9; q++)
                        g[q][k] = r >= R || k >= n ? 0.0f
                                  : flip           ? w[((size_t)(k0 + k) * R + r) * 9 + 8 - q]
                                                   : w[((size_t)r * K + k0 + k) * 9 + q];
                for (int k = 0; k < WINO_WK; k += 8) {
                    __m256 h[6][3]; /* h = G·g, down the filter's columns */
#pragma GCC unroll 3
                    for (int x = 0; x < 3; x++) {
                        __m256 col[3] = {_mm256_load_ps(&g[x][k]), _mm256_load_ps(&g[3 + x][k]),
                                         _mm256_load_ps(&g[6 + x][k])};
#pragma GCC unroll 6
                        for (int a = 0; a < 6; a++) h[a][x] = vlin(wino_G[a], col, 3);
                    }
#pragma GCC unroll 6
                    for (int a = 0; a < 6; a++)
#pragma GCC unroll 6
                        for (int j = 0; j < 6; j++)
                            _mm256_store_ps(&u[a * 6 + j][i][k], vlin(wino_G[j], h[a], 3));
                }
            }
            float *d = U + ((size_t)p * K + k0) * WINO_MR;
            for (size_t x = 0; x < 36; x++) {
                float line[WINO_WK * WINO_MR] __attribute__((aligned(32)));
                for (int k = 0; k < n; k++)
#pragma GCC unroll 6
                    for (int i = 0; i < WINO_MR; i++) line[k * WINO_MR + i] = u[x][i][k];
                float *dst = d + x * us;
                int e = 0;
                if (stream && ((uintptr_t)dst & 31) == 0)
                    for (; e + 8 <= n * WINO_MR; e += 8)
                        _mm256_stream_ps(dst + e, _mm256_load_ps(line + e));
                for (; e < n * WINO_MR; e++) dst[e] = line[e];
            }
        }
}

/* ------------------------------------------------------------ GEMMs */

/* M[ξ] = U[ξ]·V[ξ], rows × depth times depth × tiles, with our own AVX2
 * kernel on operands the transforms already wrote in its order, so nothing
 * is packed or copied (OpenBLAS repacked U and V on each of the 36 calls
 * per block: 9% of an evaluation's cycles). Panels:
 *     U[ξ]: rows in panels of WINO_MR, each (depth, WINO_MR)
 *     V[ξ]: tiles in panels of WINO_NR, each (depth, WINO_NR)
 *     M[ξ]: tiles in panels of WINO_NR, each (rows, WINO_NR)
 * with rows padded to a multiple of WINO_MR (zero rows of U) and tiles to
 * a multiple of WINO_NR (zero columns of V); the padding's results are
 * never read. The kernel keeps a WINO_MR × WINO_NR block of M in 12 AVX
 * registers. Loops (Goto's): depth in passes of WINO_KC, so one panel of V
 * (16 KB) stays in L1 while WINO_MC panels of U (252 rows, 252 KB) stay in
 * L2 and are reused for every panel of tiles. Measured once on one thread
 * with the network's shapes in this layout: 85–99 GFLOP/s, where OpenBLAS's
 * sgemm (with its packing) reached 56–89. KC 128 or 512, or MC 84: 1.01–
 * 1.04× slower (bench/wino_ab.c). */
#define WINO_KC 256
#define WINO_MC 42

/* c (mr ≤ WINO_MR rows of WINO_NR) = (first ? 0 : c) + a·b, a (K,
 * WINO_MR) and b (K, WINO_NR) panels; mr is a constant where this is
 * inlined (a last panel with fewer real rows skips its zero rows). The
 * product is summed on its own and then added to c, so a deep sum is
 * blocked by WINO_KC (summing on from c made the backward's error at 1000
 * channels three times OpenBLAS's). */
static inline __attribute__((always_inline)) void gemm_kernel(int K, const float *restrict a,
                                                              const float *restrict b,
                                                              float *restrict c, int first,
                                                              int mr)
{
    __m256 acc[WINO_MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < 2; j++) acc[i][j] = _mm256_setzero_ps();
    for (int k = 0; k < K; k++, a += WINO_MR, b += WINO_NR) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            __m256 x = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(x, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(x, b1, acc[i][1]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < 2; j++) {
            float *cij = c + i * WINO_NR + 8 * j;
            __m256 sum = first ? acc[i][j] : _mm256_add_ps(acc[i][j], _mm256_loadu_ps(cij));
            _mm256_storeu_ps(cij, sum);
        }
}

/* The kernel for panel p of P, whose last panel has `last` real rows. */
static inline __attribute__((always_inline)) void gemm_panel(int K, const float *restrict a,
                                                             const float *restrict b,
                                                             float *restrict c, int first, int p,
                                                             int P, int last)
{
    if (p < P - 1 || last == WINO_MR) {
        gemm_kernel(K, a, b, c, first, WINO_MR);
        return;
    }
    switch (last) {
    case 1: gemm_kernel(K, a, b, c, first, 1); break;
    case 2: gemm_kernel(K, a, b, c, first, 2); break;
    case 3: gemm_kernel(K, a, b, c, first, 3); break;
    case 4: gemm_kernel(K, a, b, c, first, 4); break;
    default: gemm_kernel(K, a, b, c, first, 5); break;
    }
}

/* M (R, N) = U (R, K) · V (K, N) in the panel layouts above, R and N
 * multiples of WINO_MR and WINO_NR; only M's first `rows` rows (the real
 * ones) are computed, its padding rows are left as they are and never read. */
static void gemm_point(float *restrict M, const float *restrict U, const float *restrict V, int R,
                       int K, int N, int rows)
{
    int P = R / WINO_MR, TB = N / WINO_NR, last = rows - (P - 1) * WINO_MR;
    for (int k0 = 0; k0 < K; k0 += WINO_KC) {
        int kc = K - k0 < WINO_KC ? K - k0 : WINO_KC;
        for (int p0 = 0; p0 < P; p0 += WINO_MC) {
            int p1 = p0 + WINO_MC < P ? p0 + WINO_MC : P;
            for (int tb = 0; tb < TB; tb++) {
                const float *b = V + ((size_t)tb * K + k0) * WINO_NR;
                float *c = M + ((size_t)tb * R + (size_t)p0 * WINO_MR) * WINO_NR;
                for (int p = p0; p < p1; p++, c += WINO_MR * WINO_NR)
                    gemm_panel(kc, U + ((size_t)p * K + k0) * WINO_MR, b, c, k0 == 0, p, P,
                               last);
            }
        }
    }
}

/* M[ξ] = U[ξ]·V[ξ] for the points lo ≤ ξ < hi, all three in the panel
 * layouts above, one after the other: (R, N), (R, K) and (K, N); only M's
 * first `rows` rows are computed. */
static void gemm_points(float *M, const float *U, const float *V, size_t R, size_t K, size_t N,
                        int rows, size_t lo, size_t hi)
{
    for (size_t xi = lo; xi < hi; xi++)
        gemm_point(M + xi * R * N, U + xi * R * K, V + xi * K * N, (int)R, (int)K, (int)N, rows);
}

/* ------------------------------------------------------------ blocks */

/* Most tiles per block for a convolution of `tiles` tiles: as many as keep
 * V and M within the budget, but at least WINO_BLOCK_MIN. */
static int wino_block_max(int C, int OC, int tiles)
{
    if (tiles <= 0) return 1;
    size_t per = (size_t)36 * ((size_t)pad_rows(C) + (size_t)pad_rows(OC));
    size_t fit = per ? WINO_BLOCK_FLOATS / per : (size_t)tiles;
    if (fit < WINO_BLOCK_MIN) fit = WINO_BLOCK_MIN;
    return fit > (size_t)tiles ? tiles : (int)(fit / WINO_NR * WINO_NR); /* whole panels */
}

/* Tiles per block actually used: the maximum, evened out over the blocks
 * so the last one is not a sliver, rounded up to whole panels. */
static int wino_block_tiles(int C, int OC, int tiles)
{
    int nmax = wino_block_max(C, OC, tiles);
    int blocks = (tiles + nmax - 1) / nmax;
    return pad_tiles((tiles + blocks - 1) / blocks);
}

size_t wino_scratch_floats(int C, int OC, int H, int W)
{
    if (C <= 0 || OC <= 0 || H <= 0 || W <= 0) return 0;
    int tiles = ((H + 3) / 4) * ((W + 3) / 4);
    size_t rc = (size_t)pad_rows(C), ro = (size_t)pad_rows(OC);
    size_t u = rc * OC > ro * C ? rc * OC : ro * C; /* backward : forward */
    size_t block = (size_t)36 * (rc + ro) * pad_tiles(wino_block_max(C, OC, tiles));
    return WINO_ALIGN + (size_t)36 * u + block;
}

/* Tiles in the transform chunk starting at tile t of the block [T0,
 * T0+nt): up to the end of t's tile row, of the block and of its panel
 * (T0 is a whole number of panels). */
static int chunk_tiles(int t, int T0, int nt, int TW)
{
    int n = TW - t % TW;
    if (n > T0 + nt - t) n = T0 + nt - t;
    return n > WINO_NR - t % WINO_NR ? WINO_NR - t % WINO_NR : n;
}

/* V (36 points of (C, N) in panels) for tiles T0 … T0+nt-1 (row-major over
 * the TW-wide tile grid) of inp (C,H,W), channels c0 … c1-1; the padding
 * tiles nt … N-1 are zero. */
static void input_block(float *V, const float *inp, int C, int H, int W, int TW, int T0, int nt,
                        int c0, int c1)
{
    size_t N = (size_t)pad_tiles(nt), vs = (size_t)C * N, ps = (size_t)C * WINO_NR;
    size_t plane = (size_t)H * W;
    for (int t = T0, n; t < T0 + nt; t += n) {
        n = chunk_tiles(t, T0, nt, TW);
        float *v = V + panel_at(t - T0, ps);
        int ty = t / TW, x0 = 4 * (t % TW) - 1, y0 = 4 * ty - 1;
        for (int c = c0; c < c1; c++) {
            /* This chunk's rows of a channel a few ahead: 6 rows of every
             * channel are too many streams for the hardware prefetcher. */
            if (c + WINO_PREFETCH < c1)
                for (int y = y0 < 0 ? 0 : y0; y < y0 + 6 && y < H; y++)
                    for (int x = x0 < 0 ? 0 : x0; x < x0 + 4 * n + 2 && x < W; x += 16)
                        __builtin_prefetch(inp + (c + WINO_PREFETCH) * plane + (size_t)y * W + x);
            if (n == WINO_CHUNK) /* a constant count: loops without remainders */
                input_chunk(v + (size_t)c * WINO_NR, vs, inp + c * plane, H, W, ty, t % TW,
                            WINO_CHUNK);
            else
                input_chunk(v + (size_t)c * WINO_NR, vs, inp + c * plane, H, W, ty, t % TW, n);
        }
    }
    if ((size_t)nt < N)
        for (int c = c0; c < c1; c++)
            for (size_t x = 0; x < 36; x++)
                memset(V + x * vs + panel_at(nt, ps) + (size_t)c * WINO_NR, 0,
                       sizeof(float) * (N - nt));
}

/* out (OC,H,W) for tiles T0 … T0+nt-1 from M (36 points of (R, N) in
 * panels), plus bias (OC) or NULL, through a ReLU if relu, output channels
 * o0 … o1-1. */
static void output_block(float *out, const float *M, const float *bias, int relu, int OC, int H,
                         int W, int TW, int T0, int nt, int o0, int o1)
{
    size_t R = (size_t)pad_rows(OC), ms = R * pad_tiles(nt), ps = R * WINO_NR;
    size_t plane = (size_t)H * W;
    for (int t = T0, n; t < T0 + nt; t += n) {
        n = chunk_tiles(t, T0, nt, TW);
        const float *m = M + panel_at(t - T0, ps);
        for (int oc = o0; oc < o1; oc++) { /* relu as a constant in each inlined copy */
            float *o = out + oc * plane;
            const float *mo = m + (size_t)oc * WINO_NR;
            float b = bias ? bias[oc] : 0.0f;
            if (relu)
                output_chunk(o, mo, ms, b, 1, H, W, t / TW, t % TW, n);
            else
                output_chunk(o, mo, ms, b, 0, H, W, t / TW, t % TW, n);
        }
    }
}

/* ------------------------------------------------------------ threads */

/* Few channels: each thread runs blocks of WINO_FUSED_TILES tiles through
 * all three steps on its own, so V and M stay in its L2 cache, when the
 * padded channels add up to at most WINO_FUSED_CHANNELS. Measured: 16 and
 * 32 tiles equal; 256 + 256 channels 0.91× the shared blocks, 256 + 512
 * 1.12×. */
#ifndef WINO_FUSED_TILES
#define WINO_FUSED_TILES 16
#endif
#ifndef WINO_FUSED_CHANNELS
#define WINO_FUSED_CHANNELS 516
#endif

/* Floats of one thread's V and M in the fused scheme. */
static size_t fused_floats(int C, int OC)
{
    return (size_t)36 * ((size_t)C + pad_rows(OC)) * WINO_FUSED_TILES;
}

/* One step of a convolution, its items shared out by nst_pool_for: the
 * weight transform over panels of U, the input transform over input
 * channels, the 36 GEMMs over transform points, the output transform over
 * output channels, or the fused steps over blocks. The steps share the
 * argument block (for the fused steps, nt is all the tiles and V the
 * threads' V and M). */
typedef struct {
    float *dst;              /* U, V or out */
    const float *src;        /* weight or inp */
    const float *U, *bias;
    float *V, *M;
    int C, OC, H, W, TW, T0, nt, flip;
    int relu;                /* out goes through a ReLU */
} wino_step;

/* Items per piece of each step: the input transform's prefetch looks
 * WINO_PREFETCH channels ahead within a piece; the others are one item
 * (the output's 8 channels, for fewer pieces of small work). */
#define WINO_GRAIN_INPUT 32
#define WINO_GRAIN_OUTPUT 8

static void step_weights(void *p, int part, size_t lo, size_t hi)
{
    wino_step *s = p;
    (void)part;
    weights_panels(s->dst, s->src, s->OC, s->C, s->flip, (int)lo, (int)hi);
    _mm_sfence();
}

static void step_input(void *p, int part, size_t lo, size_t hi)
{
    wino_step *s = p;
    (void)part;
    input_block(s->V, s->src, s->C, s->H, s->W, s->TW, s->T0, s->nt, (int)lo, (int)hi);
}

static void step_gemm(void *p, int part, size_t lo, size_t hi)
{
    wino_step *s = p;
    size_t R = (size_t)pad_rows(s->OC), N = (size_t)pad_tiles(s->nt);
    (void)part;
    gemm_points(s->M, s->U, s->V, R, (size_t)s->C, N, s->OC, lo, hi);
}

/* Blocks lo … hi-1 of WINO_FUSED_TILES tiles, each through the input
 * transform, the 36 GEMMs and the output transform with the thread's own V
 * and M (fused_floats of them at s->V + part·fused_floats). */
static void step_fused(void *p, int part, size_t lo, size_t hi)
{
    wino_step *s = p;
    size_t R = (size_t)pad_rows(s->OC), N = WINO_FUSED_TILES;
    float *V = s->V + (size_t)part * fused_floats(s->C, s->OC), *M = V + (size_t)36 * s->C * N;
    for (size_t b = lo; b < hi; b++) {
        int T0 = (int)(b * N), nt = s->nt - T0 < (int)N ? s->nt - T0 : (int)N;
        input_block(V, s->src, s->C, s->H, s->W, s->TW, T0, nt, 0, s->C);
        gemm_points(M, s->U, V, R, (size_t)s->C, N, s->OC, 0, 36);
        output_block(s->dst, M, s->bias, s->relu, s->OC, s->H, s->W, s->TW, T0, nt, 0, s->OC);
    }
}

static void step_output(void *p, int part, size_t lo, size_t hi)
{
    wino_step *s = p;
    (void)part;
    output_block(s->dst, s->M, s->bias, s->relu, s->OC, s->H, s->W, s->TW, s->T0, s->nt,
                 (int)lo, (int)hi);
}

/* ------------------------------------------------------------ convolution */

/* U for the forward (R = OC, K = C) or, with flip, the backward (R = C,
 * K = OC) of weight (OC,C,3,3). */
static void weights_transform(float *U, const float *weight, int R, int K, int flip,
                              nst_pool *pool)
{
    wino_step w = {.dst = U, .src = weight, .OC = R, .C = K, .flip = flip};
    nst_pool_for(pool, (size_t)pad_rows(R) / WINO_MR, 1, step_weights, &w);
}

/* out (OC,H,W) = conv of inp (C,H,W) with weight transformed as
 * weights_transform does with R = OC, K = C and flip, plus bias (OC) or
 * NULL, through a ReLU if relu; scratch (64-byte aligned) holds U, then one
 * block of V and M. */
static void wino_conv(float *out, const float *inp, const float *weight, int flip,
                      const float *bias, int relu, int C, int OC, int H, int W, float *scratch,
                      nst_pool *pool)
{
    float *U = scratch, *work = U + (size_t)36 * pad_rows(OC) * C;
    weights_transform(U, weight, OC, C, flip, pool);
    int TW = (W + 3) / 4, T = ((H + 3) / 4) * TW;
    int NT = wino_block_tiles(C, OC, T);
    int parts = nst_pool_threads(pool);
    /* Fused when the channels are few, every thread has a block or more,
     * and the threads' V and M fit where the shared block's would (the
     * scratch was sized without knowing the pool). */
    if (pad_rows(C) + pad_rows(OC) <= WINO_FUSED_CHANNELS && T >= parts * WINO_FUSED_TILES &&
        (size_t)parts * fused_floats(C, OC) <= (size_t)36 * (C + pad_rows(OC)) * NT) {
        wino_step s = {.dst = out, .src = inp, .U = U, .bias = bias, .V = work, .C = C,
                       .OC = OC, .H = H, .W = W, .TW = TW, .nt = T, .relu = relu};
        nst_pool_for(pool, (size_t)(T + WINO_FUSED_TILES - 1) / WINO_FUSED_TILES, 1, step_fused,
                     &s);
        return;
    }
    float *V = work, *M = work + (size_t)36 * C * NT;
    for (int T0 = 0; T0 < T; T0 += NT) {
        int nt = T - T0 < NT ? T - T0 : NT;
        wino_step s = {.dst = out, .src = inp, .U = U, .bias = bias, .V = V, .M = M, .C = C,
                       .OC = OC, .H = H, .W = W, .TW = TW, .T0 = T0, .nt = nt, .relu = relu};
        nst_pool_for(pool, (size_t)C, WINO_GRAIN_INPUT, step_input, &s);
        nst_pool_for(pool, 36, 1, step_gemm, &s);
        nst_pool_for(pool, (size_t)OC, WINO_GRAIN_OUTPUT, step_output, &s);
    }
}

/* The scratch from WINO_ALIGN floats in, at a 64-byte boundary. */
static float *aligned_scratch(float *scratch)
{
    uintptr_t a = ((uintptr_t)scratch + 63) & ~(uintptr_t)63;
    return (float *)a;
}

/* ------------------------------------------------------------ entry points */

void wino_conv3x3_forward(float *out, const float *inp, const float *weight, const float *bias,
                          int relu, int C, int OC, int H, int W, float *scratch, nst_pool *pool)
{
    // inp is (C,H,W), weight is (OC,C,3,3), bias is (OC) or NULL, out will be
    // (OC,H,W), through a ReLU if relu; scratch holds
    // wino_scratch_floats(C,OC,H,W): U, then one block of V and M
    if (OC <= 0 || H <= 0 || W <= 0) return;
    size_t plane = (size_t)H * W;
    if (C <= 0) {
        for (int oc = 0; oc < OC; oc++) {
            float b = bias ? bias[oc] : 0.0f;
            if (relu && !(b > 0.0f)) b = 0.0f;
            for (size_t i = 0; i < plane; i++) out[oc * plane + i] = b;
        }
        return;
    }
    wino_conv(out, inp, weight, 0, bias, relu, C, OC, H, W, aligned_scratch(scratch), pool);
}

void wino_conv3x3_backward(float *dinp, const float *dout, const float *weight,
                           int C, int OC, int H, int W, float *scratch, nst_pool *pool)
{
    // dout is (OC,H,W), weight is (OC,C,3,3), dinp will be (C,H,W); scratch
    // holds wino_scratch_floats(C,OC,H,W): U of the flipped, transposed
    // weights, then one block of V and M
    if (C <= 0 || H <= 0 || W <= 0) return;
    if (OC <= 0) {
        memset(dinp, 0, sizeof(float) * (size_t)C * H * W);
        return;
    }
    wino_conv(dinp, dout, weight, 1, NULL, 0, OC, C, H, W, aligned_scratch(scratch), pool);
}
