/*
 * panel_gemm.h — C += α·A·B for a small A (rows × K, a few hundred each
 * at most) against a long B (K × cols), on the GEMM kernel of the
 * Winograd convolution (wino_kernels.h, the path cpu.h chose): A is packed
 * once into the kernel's row panels, B's columns go through the kernel's
 * tile panels in chunks that stay in the L2 cache, and each chunk's
 * product is added into C as it comes out. The style gradient D·F
 * (loss.c) runs on it: OpenBLAS's kernels for this CPU (it takes a Zen 5
 * for a Haswell) reached about half the speed.
 *
 * Allocates nothing: the packed A and the work are the caller's.
 */
#ifndef NST_PANEL_GEMM_H
#define NST_PANEL_GEMM_H

#include <stddef.h>

#include "wino_kernels.h"

/* Floats of A packed for rows × K. */
size_t panel_a_floats(int rows, int K);
/* A (rows × K, rows lda floats apart) into Ap (panel_a_floats). */
void panel_pack_a(float *Ap, const float *A, size_t lda, int rows, int K);

/* Floats of work one panel_gemm_cols call needs for rows × K; never fewer
 * for more rows or a greater K. */
size_t panel_work_floats(int rows, int K);

/* Columns c0 … c1-1 of C (rows × cols, rows ldc floats apart) += alpha ·
 * A · B (B: K × cols, rows ldb apart; A packed by panel_pack_a); with
 * mask (the shape and strides of C), each element is then set to 0 where
 * mask's is not positive (a ReLU's backward, in the same pass). work holds
 * panel_work_floats(rows, K). The sums' order does not depend on c0 or c1,
 * so any split of the columns gives the same bits. */
void panel_gemm_cols(float *C, size_t ldc, const float *Ap, const float *B, size_t ldb, int rows,
                     int K, size_t c0, size_t c1, float alpha, const float *mask, float *work);

/* The Gram product F Fᵀ of F (rows × K, rows ldf floats apart) on the
 * same kernel, its upper triangle in panels: element (i, j), i ≤ j, at
 * G[panel_gram_at(rows, i, j)]; the rest of G is scratch. F's columns go
 * through in chunks of PANEL_GRAM_KC, each packed twice (as A's row panels
 * and as B's tile panels) into work, and the triangle is computed by pairs
 * of tile panels, each with the rows up to its diagonal. */
#define PANEL_GRAM_KC 256

/* Floats of G, and of work, for rows × rows. */
size_t panel_gram_floats(int rows);
size_t panel_gram_work_floats(int rows);

static inline size_t panel_gram_at(int rows, int i, int j)
{
    return panel_at(j, (size_t)pad_rows(rows) * WINO_NR) + (size_t)i * WINO_NR;
}

/* G = (or with acc, G +=) the product of F's columns k0 … k1-1 with
 * themselves; the sums' order depends on k0 and k1 alone. */
void panel_gram(float *G, const float *F, size_t ldf, int rows, size_t k0, size_t k1, int acc,
                float *work);

#endif
