/*
 * wino_kernels_body.h — the Winograd convolution's kernels: the input,
 * weight and output transforms and the 36 GEMMs per block, in the panel
 * layouts of wino_kernels.h. Included once by each of wino_portable.c,
 * wino_avx2.c and wino_avx512.c, which compile it for their instruction
 * set and name its table (WINO_KERNELS_TABLE): the transforms are plain C
 * loops over the 16 tiles of a chunk, which each compilation vectorises
 * for its own width; the GEMM's inner kernel is written per path (see
 * "GEMMs"), chosen by the compiler's own macros (__AVX512F__, __AVX2__).
 * Everything here is static but the table.
 */
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <stdint.h>
#include <string.h>

#include "wino_kernels.h"

/* Channels ahead whose rows the input transform prefetches. */
#ifndef WINO_PREFETCH
#define WINO_PREFETCH 4
#endif

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

/* Outputs larger than this many floats (16 MB, more than the L3 cache
 * keeps for the next layer) are written past the caches, so their lines
 * are not read in first. */
#ifndef WINO_STREAM_FLOATS
#define WINO_STREAM_FLOATS ((size_t)4 << 20)
#endif

/* dst[0 … n) = row[0 … n) (row 64-byte aligned), streamed past the caches
 * when stream and the vector instructions allow: ordinary stores up to
 * dst's first vector-aligned element, whole vectors streamed from there
 * (rows of a plane whose width is not a multiple of the vector start
 * anywhere in a line), the rest stored. */
static inline __attribute__((always_inline)) void store_row(float *restrict dst,
                                                            const float *restrict row, int n,
                                                            int stream)
{
    int e = 0;
#if defined(__AVX512F__) || defined(__AVX2__)
#if defined(__AVX512F__)
    enum { vec = 16 };
#else
    enum { vec = 8 };
#endif
    if (stream) {
        uintptr_t bytes = vec * sizeof(float), off = (uintptr_t)dst & (bytes - 1);
        e = off ? (int)((bytes - off) / sizeof(float)) : 0;
        if (e > n) e = n;
        memcpy(dst, row, sizeof(float) * (size_t)e);
#if defined(__AVX512F__)
        for (; e + vec <= n; e += vec) _mm512_stream_ps(dst + e, _mm512_loadu_ps(row + e));
#else
        for (; e + vec <= n; e += vec) _mm256_stream_ps(dst + e, _mm256_loadu_ps(row + e));
#endif
    }
#else
    (void)stream;
#endif
    memcpy(dst + e, row + e, sizeof(float) * (size_t)(n - e));
}

/* Output transform of n ≤ WINO_CHUNK tiles of one output channel: tiles
 * (ty, a+t). m points at M[0][oc][first tile] (a row of a panel), ms is
 * the stride between the 36 points; out is the channel (H,W); b is its
 * bias; relu: write max(value, 0); stream: write past the caches
 * (store_row). Tiles past the right or bottom edge write only their rows
 * and columns inside the image. */
static inline __attribute__((always_inline)) void output_chunk(
    float *restrict out, const float *restrict m, size_t ms, float b, int relu, int stream,
    int H, int W, int ty, int a, int n)
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
    float row[4 * WINO_CHUNK] __attribute__((aligned(64)));
    int xa = 4 * a, cnt = 4 * n < W - xa ? 4 * n : W - xa;
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        int y = 4 * ty + i;
        if (y >= H) continue;
        /* in place if it fits and is not streamed */
        float *dst = cnt == 4 * n && !stream ? out + (size_t)y * W + xa : row;
        for (int t = 0; t < n; t++)
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                float d[6];
#pragma GCC unroll 6
                for (int k = 0; k < 6; k++) d[k] = o[k][j][t];
                float r = lin(wino_AT[i], d, 6) + b;
                dst[4 * t + j] = !relu || r > 0.0f ? r : 0.0f;
            }
        if (dst == row) store_row(out + (size_t)y * W + xa, row, cnt, stream);
    }
}

/* Depth (K) per step of the weight transform: the step's values for one
 * panel, 36·WINO_MR·WINO_WK floats (27 KB), stay in L1 until written,
 * 768 bytes per point. */
#define WINO_WK 32

/* U[ξ] for the panels p0 ≤ p < p1 of WINO_MR rows of R (see "GEMMs"):
 * element (r, k) of point ξ is (G g Gᵀ)[ξ] for k < K, where the 3×3 filter
 * g is w[r][k] (forward: w is (R,K,3,3)) or, with flip, w[k][r] rotated by
 * 180° (backward: w is (K,R,3,3)). Rows R ≤ r < pad_rows(R) are zero.
 * WINO_WK filters at a time in vector lanes; a panel's values of a step are then
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
                float h[6][3][WINO_WK] __attribute__((aligned(64))); /* G·g, down the columns */
#pragma GCC unroll 3
                for (int x = 0; x < 3; x++)
                    for (int k = 0; k < WINO_WK; k++) {
                        float col[3] = {g[x][k], g[3 + x][k], g[6 + x][k]};
#pragma GCC unroll 6
                        for (int a = 0; a < 6; a++) h[a][x][k] = lin(wino_G[a], col, 3);
                    }
#pragma GCC unroll 6
                for (int a = 0; a < 6; a++)
#pragma GCC unroll 6
                    for (int j = 0; j < 6; j++)
                        for (int k = 0; k < WINO_WK; k++) {
                            float d[3] = {h[a][0][k], h[a][1][k], h[a][2][k]};
                            u[a * 6 + j][i][k] = lin(wino_G[j], d, 3);
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
#if defined(__AVX2__)
                if (stream && ((uintptr_t)dst & 31) == 0)
                    for (; e + 8 <= n * WINO_MR; e += 8)
                        _mm256_stream_ps(dst + e, _mm256_load_ps(line + e));
#endif
                for (; e < n * WINO_MR; e++) dst[e] = line[e];
            }
        }
#if defined(__AVX2__)
    if (stream) _mm_sfence(); /* the streamed lines before anyone reads U */
#else
    (void)stream;
#endif
}

/* ------------------------------------------------------------ GEMMs */

/* M[ξ] = U[ξ]·V[ξ], rows × depth times depth × tiles, with our own
 * kernel on operands the transforms already wrote in its order, so nothing
 * is packed or copied (OpenBLAS repacked U and V on each of the 36 calls
 * per block: 9% of an evaluation's cycles). Panels:
 *     U[ξ]: rows in panels of WINO_MR, each (depth, WINO_MR)
 *     V[ξ]: tiles in panels of WINO_NR, each (depth, WINO_NR)
 *     M[ξ]: tiles in panels of WINO_NR, each (rows, WINO_NR)
 * with rows padded to a multiple of WINO_MR (zero rows of U) and tiles to
 * a multiple of WINO_NR (zero columns of V); the padding's results are
 * never read. The AVX2 kernel keeps a WINO_MR × WINO_NR block of M in 12
 * registers (the portable one the same block in an array the compiler
 * vectorises; AVX-512's, below, two such blocks by two). Loops (Goto's): depth in passes of WINO_KC, so one panel of V
 * (16 KB) stays in L1 while WINO_MC panels of U (252 rows, 252 KB) stay in
 * L2 and are reused for every panel of tiles. AVX2, measured once on one
 * Zen 3 thread with the network's shapes in this layout: 85–99 GFLOP/s, where OpenBLAS's
 * sgemm (with its packing) reached 56–89. KC 128 or 512, or MC 84: 1.01–
 * 1.04× slower (bench/wino_ab.c). */
#define WINO_KC 256
#define WINO_MC 42

#if defined(__AVX512F__)

/* AVX-512 (32 vector registers of 16 floats): the kernel takes a pair of
 * U's panels (2·WINO_MR rows, `as` floats apart) against up to two panels
 * of V (`bs` floats apart), keeping up to 12 × 2 blocks of M in 24
 * registers: per step of depth one or two loads of V and twelve broadcasts
 * of U feed 24 FMAs (AVX2's kernel: two loads and six broadcasts for 12).
 * c is M's first row of the pair in the first panel of tiles, the second
 * `cs` floats on. mr (≤ 2·WINO_MR) and nb (≤ 2) are constants where this is
 * inlined; rows past mr are not computed. Each element is summed in the
 * same order as in the other paths' kernels (depth in passes of WINO_KC,
 * each summed on its own, then added to c). */
static inline __attribute__((always_inline)) void gemm_kernel(int K, const float *restrict a,
                                                              size_t as, const float *restrict b,
                                                              size_t bs, float *restrict c,
                                                              size_t cs, int first, int mr,
                                                              int nb)
{
    __m512 acc[2 * WINO_MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nb; j++) acc[i][j] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++, a += WINO_MR, b += WINO_NR) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = nb > 1 ? _mm512_loadu_ps(b + bs) : b0;
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            __m512 x = _mm512_set1_ps(a[(size_t)(i / WINO_MR) * as + i % WINO_MR]);
            acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);
            if (nb > 1) acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nb; j++) {
            float *cij = c + (size_t)j * cs + i * WINO_NR;
            __m512 sum = first ? acc[i][j] : _mm512_add_ps(acc[i][j], _mm512_loadu_ps(cij));
            _mm512_storeu_ps(cij, sum);
        }
}

/* The kernel with mr and nb as constants: the full pair against two panels
 * of tiles, or a last pair (fewer real rows) or a last panel of tiles. */
#define WINO_KERNEL_MR(nb)                                                                \
    switch (mr) {                                                                         \
    case 1: gemm_kernel(K, a, as, b, bs, c, cs, first, 1, nb); break;                     \
    case 2: gemm_kernel(K, a, as, b, bs, c, cs, first, 2, nb); break;                     \
    case 3: gemm_kernel(K, a, as, b, bs, c, cs, first, 3, nb); break;                     \
    case 4: gemm_kernel(K, a, as, b, bs, c, cs, first, 4, nb); break;                     \
    case 5: gemm_kernel(K, a, as, b, bs, c, cs, first, 5, nb); break;                     \
    case 6: gemm_kernel(K, a, as, b, bs, c, cs, first, 6, nb); break;                     \
    case 7: gemm_kernel(K, a, as, b, bs, c, cs, first, 7, nb); break;                     \
    case 8: gemm_kernel(K, a, as, b, bs, c, cs, first, 8, nb); break;                     \
    case 9: gemm_kernel(K, a, as, b, bs, c, cs, first, 9, nb); break;                     \
    case 10: gemm_kernel(K, a, as, b, bs, c, cs, first, 10, nb); break;                   \
    case 11: gemm_kernel(K, a, as, b, bs, c, cs, first, 11, nb); break;                   \
    default: gemm_kernel(K, a, as, b, bs, c, cs, first, 12, nb); break;                   \
    }

static void gemm_block(int K, const float *restrict a, size_t as, const float *restrict b,
                       size_t bs, float *restrict c, size_t cs, int first, int mr, int nb)
{
    if (mr == 2 * WINO_MR && nb == 2)
        gemm_kernel(K, a, as, b, bs, c, cs, first, 2 * WINO_MR, 2);
    else if (nb == 2)
        WINO_KERNEL_MR(2)
    else
        WINO_KERNEL_MR(1)
}

/* M (R, N) = U (R, K) · V (K, N) in the panel layouts above, R and N
 * multiples of WINO_MR and WINO_NR; only M's first `rows` rows (the real
 * ones, or those a caller wants) are computed, the rest left as they are.
 * Loops as in the other paths, over pairs of panels. */
static void gemm_point(float *restrict M, const float *restrict U, const float *restrict V, int R,
                       int K, int N, int rows, int acc)
{
    int P = pad_rows(rows) / WINO_MR, TB = N / WINO_NR;
    size_t as = (size_t)K * WINO_MR, bs = (size_t)K * WINO_NR, cs = (size_t)R * WINO_NR;
    for (int k0 = 0; k0 < K; k0 += WINO_KC) {
        int kc = K - k0 < WINO_KC ? K - k0 : WINO_KC;
        for (int p0 = 0; p0 < P; p0 += WINO_MC) {
            int p1 = p0 + WINO_MC < P ? p0 + WINO_MC : P;
            for (int tb = 0; tb < TB; tb += 2) {
                int nb = TB - tb > 1 ? 2 : 1;
                const float *b = V + ((size_t)tb * K + k0) * WINO_NR;
                for (int p = p0; p < p1; p += 2) {
                    int mr = rows - p * WINO_MR, pair = p1 - p > 1 ? 2 * WINO_MR : WINO_MR;
                    float *c = M + ((size_t)tb * R + (size_t)p * WINO_MR) * WINO_NR;
                    gemm_block(kc, U + ((size_t)p * K + k0) * WINO_MR, as, b, bs, c, cs,
                               k0 == 0 && !acc, mr < pair ? mr : pair, nb);
                }
            }
        }
    }
}

#else /* AVX2 or portable: one panel of U against one of V */

/* c (mr ≤ WINO_MR rows of WINO_NR) = (first ? 0 : c) + a·b, a (K,
 * WINO_MR) and b (K, WINO_NR) panels; mr is a constant where this is
 * inlined (a last panel with fewer real rows skips its zero rows). The
 * product is summed on its own and then added to c, so a deep sum is
 * blocked by WINO_KC (summing on from c made the backward's error at 1000
 * channels three times OpenBLAS's). */
#if defined(__AVX2__)
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

#else
static inline __attribute__((always_inline)) void gemm_kernel(int K, const float *restrict a,
                                                              const float *restrict b,
                                                              float *restrict c, int first,
                                                              int mr)
{
    float acc[WINO_MR][WINO_NR];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < WINO_NR; j++) acc[i][j] = 0.0f;
    for (int k = 0; k < K; k++, a += WINO_MR, b += WINO_NR)
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < WINO_NR; j++) acc[i][j] += a[i] * b[j];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < WINO_NR; j++)
            c[i * WINO_NR + j] = first ? acc[i][j] : acc[i][j] + c[i * WINO_NR + j];
}
#endif

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
 * ones, or those a caller wants) are computed, the rest left as they are. */
static void gemm_point(float *restrict M, const float *restrict U, const float *restrict V, int R,
                       int K, int N, int rows, int acc)
{
    int P = pad_rows(rows) / WINO_MR, TB = N / WINO_NR, last = rows - (P - 1) * WINO_MR;
    for (int k0 = 0; k0 < K; k0 += WINO_KC) {
        int kc = K - k0 < WINO_KC ? K - k0 : WINO_KC;
        for (int p0 = 0; p0 < P; p0 += WINO_MC) {
            int p1 = p0 + WINO_MC < P ? p0 + WINO_MC : P;
            for (int tb = 0; tb < TB; tb++) {
                const float *b = V + ((size_t)tb * K + k0) * WINO_NR;
                float *c = M + ((size_t)tb * R + (size_t)p0 * WINO_MR) * WINO_NR;
                for (int p = p0; p < p1; p++, c += WINO_MR * WINO_NR)
                    gemm_panel(kc, U + ((size_t)p * K + k0) * WINO_MR, b, c, k0 == 0 && !acc, p,
                               P, last);
            }
        }
    }
}

#endif

/* M[ξ] = U[ξ]·V[ξ] (with acc, M[ξ] += U[ξ]·V[ξ]) for the points lo ≤ ξ <
 * hi, all three in the panel layouts above, one after the other: (R, N),
 * (R, K) and (K, N); only M's first `rows` rows are computed. */
static void gemm_points(float *M, const float *U, const float *V, size_t R, size_t K, size_t N,
                        int rows, size_t lo, size_t hi, int acc)
{
    for (size_t xi = lo; xi < hi; xi++)
        gemm_point(M + xi * R * N, U + xi * R * K, V + xi * K * N, (int)R, (int)K, (int)N, rows,
                   acc);
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
    int stream = (size_t)OC * plane > WINO_STREAM_FLOATS;
    for (int t = T0, n; t < T0 + nt; t += n) {
        n = chunk_tiles(t, T0, nt, TW);
        const float *m = M + panel_at(t - T0, ps);
        for (int oc = o0; oc < o1; oc++) { /* relu and whole chunks as constants */
            float *o = out + oc * plane;
            const float *mo = m + (size_t)oc * WINO_NR;
            float b = bias ? bias[oc] : 0.0f;
            int ty = t / TW, a = t % TW;
            if (n == WINO_CHUNK && relu)
                output_chunk(o, mo, ms, b, 1, stream, H, W, ty, a, WINO_CHUNK);
            else if (n == WINO_CHUNK)
                output_chunk(o, mo, ms, b, 0, stream, H, W, ty, a, WINO_CHUNK);
            else if (relu)
                output_chunk(o, mo, ms, b, 1, stream, H, W, ty, a, n);
            else
                output_chunk(o, mo, ms, b, 0, stream, H, W, ty, a, n);
        }
    }
#if defined(__AVX2__)
    if (stream) _mm_sfence(); /* the streamed rows before the next layer reads them */
#endif
}

const wino_kernels WINO_KERNELS_TABLE = {
    .weights = weights_panels, .input = input_block, .gemm = gemm_points, .output = output_block,
};
