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

#endif
