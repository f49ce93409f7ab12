/*
 * panel_gemm.c — see panel_gemm.h. Layouts (wino_kernels.h): A's rows in
 * panels of WINO_MR, each (K, WINO_MR); a chunk of B's columns in panels of
 * WINO_NR, each (K, WINO_NR); the product in panels of WINO_NR columns,
 * each (pad_rows(rows), WINO_NR). Padding rows and columns are zeros and
 * their results are never read.
 */
#include <string.h>

#include "panel_gemm.h"
#include "wino_kernels.h"

/* Budget of one chunk's B panels and product: 64K floats, 256 KB, within
 * the L2 cache beside A's panels the kernel is reading. */
#define PANEL_WORK_FLOATS ((size_t)64 << 10)

/* Columns per chunk: as many as the budget holds, in whole pairs of tile
 * panels (the AVX-512 kernel takes two at once), at least one pair. */
static size_t chunk_cols(int rows, int K)
{
    size_t per = (size_t)K + (size_t)pad_rows(rows), pair = 2 * WINO_NR;
    size_t n = PANEL_WORK_FLOATS / per / pair * pair;
    return n < pair ? pair : n;
}

size_t panel_a_floats(int rows, int K) { return (size_t)pad_rows(rows) * (size_t)K; }

void panel_pack_a(float *Ap, const float *A, size_t lda, int rows, int K)
{
    for (int p = 0; p < pad_rows(rows) / WINO_MR; p++)
        for (int k = 0; k < K; k++) {
            float *dst = Ap + ((size_t)p * K + k) * WINO_MR;
            for (int i = 0; i < WINO_MR; i++) {
                int r = p * WINO_MR + i;
                dst[i] = r < rows ? A[(size_t)r * lda + k] : 0.0f;
            }
        }
}

/* The budget, or one pair of panels where that is more: never less for
 * more rows or depth, so work sized for the largest shape serves all. */
size_t panel_work_floats(int rows, int K)
{
    size_t pair = ((size_t)K + (size_t)pad_rows(rows)) * 2 * WINO_NR;
    return pair > PANEL_WORK_FLOATS ? pair : PANEL_WORK_FLOATS;
}

/* B's columns c … c+n-1 into V (pad_tiles(n) columns in panels). */
static void pack_b(float *V, const float *B, size_t ldb, int K, size_t c, int n)
{
    for (int t = 0; t < pad_tiles(n) / WINO_NR; t++) {
        int w = n - t * WINO_NR < WINO_NR ? n - t * WINO_NR : WINO_NR;
        for (int k = 0; k < K; k++) {
            float *dst = V + ((size_t)t * K + k) * WINO_NR;
            const float *src = B + (size_t)k * ldb + c + (size_t)t * WINO_NR;
            if (w == WINO_NR) { /* a constant size: copied inline, not by a call */
                memcpy(dst, src, sizeof(float) * WINO_NR);
                continue;
            }
            memcpy(dst, src, sizeof(float) * w);
            memset(dst + w, 0, sizeof(float) * (WINO_NR - w));
        }
    }
}

void panel_gemm_cols(float *C, size_t ldc, const float *Ap, const float *B, size_t ldb, int rows,
                     int K, size_t c0, size_t c1, float alpha, const float *mask, float *work)
{
    if (rows <= 0 || K <= 0 || c1 <= c0) return;
    const wino_kernels *kern = wino_kernels_chosen();
    size_t nc = chunk_cols(rows, K), R = (size_t)pad_rows(rows);
    float *V = work, *M = work + (size_t)K * nc;
    for (size_t c = c0; c < c1; c += nc) {
        int n = (int)(c1 - c < nc ? c1 - c : nc);
        pack_b(V, B, ldb, K, c, n);
        kern->gemm(M, Ap, V, R, (size_t)K, (size_t)pad_tiles(n), rows, 0, 1, 0);
        for (int i = 0; i < rows; i++)
            for (int t = 0; t * WINO_NR < n; t++) {
                size_t at = (size_t)i * ldc + c + (size_t)t * WINO_NR;
                const float *m = M + ((size_t)t * R + (size_t)i) * WINO_NR;
                int w = n - t * WINO_NR < WINO_NR ? n - t * WINO_NR : WINO_NR;
                float *dst = C + at;
                if (mask)
                    for (int j = 0; j < w; j++)
                        dst[j] = mask[at + j] > 0.0f ? dst[j] + alpha * m[j] : 0.0f;
                else
                    for (int j = 0; j < w; j++) dst[j] += alpha * m[j];
            }
    }
}

size_t panel_gram_floats(int rows) { return (size_t)pad_rows(rows) * (size_t)pad_tiles(rows); }

size_t panel_gram_work_floats(int rows)
{
    return ((size_t)pad_rows(rows) + (size_t)pad_tiles(rows)) * PANEL_GRAM_KC;
}

/* A's columns c … c+n-1 as B's rows: V (pad_tiles(rows) tiles in panels,
 * each (n, WINO_NR)) from A (rows × …, rows lda apart). */
static void pack_bt(float *V, const float *A, size_t lda, int rows, size_t c, int n)
{
    for (int t = 0; t < pad_tiles(rows) / WINO_NR; t++) {
        float *dst = V + (size_t)t * n * WINO_NR;
        int w = rows - t * WINO_NR < WINO_NR ? rows - t * WINO_NR : WINO_NR;
        if (w < WINO_NR) memset(dst, 0, sizeof(float) * (size_t)n * WINO_NR);
        for (int j = 0; j < w; j++) {
            const float *src = A + (size_t)(t * WINO_NR + j) * lda + c;
            for (int k = 0; k < n; k++) dst[(size_t)k * WINO_NR + j] = src[k];
        }
    }
}

void panel_gram(float *G, const float *F, size_t ldf, int rows, size_t k0, size_t k1, int acc,
                float *work)
{
    if (rows <= 0) return;
    const wino_kernels *kern = wino_kernels_chosen();
    size_t R = (size_t)pad_rows(rows), T = (size_t)pad_tiles(rows);
    if (k1 <= k0) {
        if (!acc) memset(G, 0, sizeof(float) * R * T);
        return;
    }
    float *Ap = work, *V = work + R * PANEL_GRAM_KC;
    for (size_t k = k0; k < k1; k += PANEL_GRAM_KC) {
        int n = (int)(k1 - k < PANEL_GRAM_KC ? k1 - k : PANEL_GRAM_KC);
        panel_pack_a(Ap, F + k, ldf, rows, n);
        pack_bt(V, F, ldf, rows, k, n);
        /* pairs of tile panels (the AVX-512 kernel takes two at once),
         * each with the rows up to the pair's last column */
        for (size_t t = 0; t < T; t += 2 * WINO_NR) {
            size_t w = T - t < 2 * WINO_NR ? T - t : 2 * WINO_NR;
            int r = (int)(t + w) < rows ? (int)(t + w) : rows;
            kern->gemm(G + t * R, Ap, V + t * (size_t)n, R, (size_t)n, w, r, 0, 1,
                       acc || k > k0);
        }
    }
}
