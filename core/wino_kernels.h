/*
 * wino_kernels.h — the Winograd convolution's hot loops (winograd.c drives
 * them), one table per kernel path: the same source (wino_kernels_body.h)
 * compiled three times with different instruction sets, by wino_portable.c
 * (plain C, no AVX), wino_avx2.c (AVX2 + FMA) and wino_avx512.c
 * (AVX-512F/VL/DQ, 512-bit vectors). winograd.c takes the table of the path
 * cpu.h chose. All three read and write the same panel layouts (below), so
 * they are interchangeable call by call.
 */
#ifndef NST_WINO_KERNELS_H
#define NST_WINO_KERNELS_H

#include <stddef.h>

/* The GEMMs' panels (see "GEMMs" in wino_kernels_body.h): U's rows in panels of WINO_MR, V's and
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
/* The four steps of wino_conv (see winograd.c and wino_kernels_body.h). */
typedef struct {
    /* U (36 points of (pad_rows(R), K) in panels) for the row panels p0 …
     * p1-1 of weight w: forward (R,K,3,3), or with flip backward (K,R,3,3) */
    void (*weights)(float *U, const float *w, int R, int K, int flip, int p0, int p1);
    /* V (36 points of (C, pad_tiles(nt)) in panels) for tiles T0 … T0+nt-1
     * of inp (C,H,W), channels c0 … c1-1 */
    void (*input)(float *V, const float *inp, int C, int H, int W, int TW, int T0, int nt,
                  int c0, int c1);
    /* M[ξ] (R,N) = U[ξ] (R,K) · V[ξ] (K,N) for the points lo … hi-1, first
     * `rows` rows of M only; with acc, M[ξ] += the product (summed on its
     * own first, in passes of depth, as without) */
    void (*gemm)(float *M, const float *U, const float *V, size_t R, size_t K, size_t N,
                 int rows, size_t lo, size_t hi, int acc);
    /* out (OC,H,W) for tiles T0 … T0+nt-1 from M, plus bias (OC) or NULL,
     * through a ReLU if relu, output channels o0 … o1-1 */
    void (*output)(float *out, const float *M, const float *bias, int relu, int OC, int H,
                   int W, int TW, int T0, int nt, int o0, int o1);
} wino_kernels;

extern const wino_kernels wino_kernels_portable, wino_kernels_avx2, wino_kernels_avx512;

/* The table of the path cpu.h chose (winograd.c). */
const wino_kernels *wino_kernels_chosen(void);

#endif
