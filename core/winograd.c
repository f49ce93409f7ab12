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
 * Memory. The scratch holds U (36·C·OC floats, computed on every call
 * unless the caller keeps it from wino_weights: 2.4 ms at 512 + 512
 * channels on two threads, mostly writing its 38 MB; about 30 ms of a
 * 512 px evaluation) and one block of tiles: V (36·C·nt) and M
 * (36·OC·nt), where nt is chosen so the block stays within
 * WINO_BLOCK_FLOATS, or nt = WINO_BLOCK_MIN if that is more (wide enough
 * GEMMs matter more than the cache); the image is processed block by
 * block, so the scratch does not grow with H·W. For 512 + 512 channels: U
 * 38 MB + block 38 MB. All three are laid out in the panels the GEMM
 * kernel reads (wino_kernels.h), so the transforms write the GEMMs'
 * operands directly and nothing is packed.
 *
 * Kernels. The transforms and the GEMMs are in wino_kernels_body.h,
 * compiled once per kernel path (portable, AVX2, AVX-512: wino_kernels.h);
 * each convolution takes the table of the path cpu.h chose. This file
 * holds the blocks, the threads and the entry points.
 *
 * Threads. Every step runs on the caller's pool (pool.h), its threads
 * taking the step's pieces first come first served (nst_pool_for). Up to
 * 256 + 256 channels each thread takes 32-tile blocks through all three
 * steps, with V and M of its own (600 KB at 64 + 64 channels, kept in its
 * L2 cache): 10–30% faster than the shared blocks on those layers
 * (in-process A/B, forward + backward). Past that, all threads work on one
 * shared block: the transforms over channels, the 36 GEMMs over transform
 * points (the GEMMs need wide blocks there, and U alone outgrows the
 * caches).
 *
 * What this file is not: it has no other tile sizes or strides, and does
 * not decide when Winograd pays (ops.c does, from measurements).
 */
#include <stdint.h>
#include <string.h>

#include "cpu.h"
#include "wino_kernels.h"
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

/* Floats of slack in the scratch, to start U at a 64-byte boundary. */
#define WINO_ALIGN 16

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


/* ------------------------------------------------------------ threads */

/* Few channels: each thread runs blocks of WINO_FUSED_TILES tiles through
 * all three steps on its own, so V and M stay in its L2 cache, when the
 * padded channels add up to at most WINO_FUSED_CHANNELS. Measured (AVX2,
 * Zen 3): 16 and 32 tiles equal; 256 + 256 channels 0.91× the shared
 * blocks, 256 + 512 1.12×. 32 tiles (two panels) let the AVX-512 GEMM
 * kernel take two panels of tiles at once: on one Zen 5 thread 64 + 64
 * and 128 + 128 channels ran 1.08–1.15× faster than with 16, AVX2 alike. */
#ifndef WINO_FUSED_TILES
#define WINO_FUSED_TILES 32
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
    const wino_kernels *k;   /* the path's kernels */
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
    s->k->weights(s->dst, s->src, s->OC, s->C, s->flip, (int)lo, (int)hi);
}

static void step_input(void *p, int part, size_t lo, size_t hi)
{
    wino_step *s = p;
    (void)part;
    s->k->input(s->V, s->src, s->C, s->H, s->W, s->TW, s->T0, s->nt, (int)lo, (int)hi);
}

static void step_gemm(void *p, int part, size_t lo, size_t hi)
{
    wino_step *s = p;
    size_t R = (size_t)pad_rows(s->OC), N = (size_t)pad_tiles(s->nt);
    (void)part;
    s->k->gemm(s->M, s->U, s->V, R, (size_t)s->C, N, s->OC, lo, hi, 0);
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
        s->k->input(V, s->src, s->C, s->H, s->W, s->TW, T0, nt, 0, s->C);
        /* the last block may have fewer panels: V and M are laid out for them */
        s->k->gemm(M, s->U, V, R, (size_t)s->C, (size_t)pad_tiles(nt), s->OC, 0, 36, 0);
        s->k->output(s->dst, M, s->bias, s->relu, s->OC, s->H, s->W, s->TW, T0, nt, 0, s->OC);
    }
}

static void step_output(void *p, int part, size_t lo, size_t hi)
{
    wino_step *s = p;
    (void)part;
    s->k->output(s->dst, s->M, s->bias, s->relu, s->OC, s->H, s->W, s->TW, s->T0, s->nt,
                 (int)lo, (int)hi);
}

/* ------------------------------------------------------------ convolution */

const wino_kernels *wino_kernels_chosen(void)
{
    static const wino_kernels *const by_path[CPU_KERNELS] = {
        [CPU_PORTABLE] = &wino_kernels_portable,
        [CPU_AVX2] = &wino_kernels_avx2,
        [CPU_AVX512] = &wino_kernels_avx512,
    };
    return by_path[cpu_kernels()];
}

/* U for the forward (R = OC, K = C) or, with flip, the backward (R = C,
 * K = OC) of weight (OC,C,3,3), with kernels k. */
static void weights_transform(const wino_kernels *k, float *U, const float *weight, int R, int K,
                              int flip, nst_pool *pool)
{
    wino_step w = {.k = k, .dst = U, .src = weight, .OC = R, .C = K, .flip = flip};
    nst_pool_for(pool, (size_t)pad_rows(R) / WINO_MR, 1, step_weights, &w);
}

size_t wino_weights_floats(int C, int OC, int backward)
{
    if (C <= 0 || OC <= 0) return 0;
    return backward ? (size_t)36 * pad_rows(C) * OC : (size_t)36 * pad_rows(OC) * C;
}

void wino_weights(float *U, const float *weight, int C, int OC, int backward, nst_pool *pool)
{
    if (C <= 0 || OC <= 0) return;
    if (backward)
        weights_transform(wino_kernels_chosen(), U, weight, C, OC, 1, pool);
    else
        weights_transform(wino_kernels_chosen(), U, weight, OC, C, 0, pool);
}

/* out (OC,H,W) = conv of inp (C,H,W) with weight transformed as
 * weights_transform does with R = OC, K = C and flip (kept: already, else
 * into the scratch), plus bias (OC) or NULL, through a ReLU if relu;
 * scratch (64-byte aligned) holds U, then one block of V and M. */
static void wino_conv(float *out, const float *inp, const float *weight, const float *kept,
                      int flip, const float *bias, int relu, int C, int OC, int H, int W,
                      float *scratch, nst_pool *pool)
{
    const wino_kernels *k = wino_kernels_chosen();
    const float *U = kept;
    float *work = scratch + (size_t)36 * pad_rows(OC) * C;
    if (!kept) {
        weights_transform(k, scratch, weight, OC, C, flip, pool);
        U = scratch;
    }
    int TW = (W + 3) / 4, T = ((H + 3) / 4) * TW;
    int NT = wino_block_tiles(C, OC, T);
    int parts = nst_pool_threads(pool);
    /* Fused when the channels are few, every thread has a block or more,
     * and the threads' V and M fit where the shared block's would (the
     * scratch was sized without knowing the pool). */
    if (pad_rows(C) + pad_rows(OC) <= WINO_FUSED_CHANNELS && T >= parts * WINO_FUSED_TILES &&
        (size_t)parts * fused_floats(C, OC) <= (size_t)36 * (C + pad_rows(OC)) * NT) {
        wino_step s = {.k = k, .dst = out, .src = inp, .U = U, .bias = bias, .V = work, .C = C,
                       .OC = OC, .H = H, .W = W, .TW = TW, .nt = T, .relu = relu};
        nst_pool_for(pool, (size_t)(T + WINO_FUSED_TILES - 1) / WINO_FUSED_TILES, 1, step_fused,
                     &s);
        return;
    }
    float *V = work, *M = work + (size_t)36 * C * NT;
    for (int T0 = 0; T0 < T; T0 += NT) {
        int nt = T - T0 < NT ? T - T0 : NT;
        wino_step s = {.k = k, .dst = out, .src = inp, .U = U, .bias = bias, .V = V, .M = M, .C = C,
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

void wino_conv3x3_forward(float *out, const float *inp, const float *weight, const float *kept,
                          const float *bias, int relu, int C, int OC, int H, int W,
                          float *scratch, nst_pool *pool)
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
    wino_conv(out, inp, weight, kept, 0, bias, relu, C, OC, H, W, aligned_scratch(scratch),
              pool);
}

void wino_conv3x3_backward(float *dinp, const float *dout, const float *weight,
                           const float *kept, int C, int OC, int H, int W, float *scratch,
                           nst_pool *pool)
{
    // dout is (OC,H,W), weight is (OC,C,3,3), dinp will be (C,H,W); scratch
    // holds wino_scratch_floats(C,OC,H,W): U of the flipped, transposed
    // weights, then one block of V and M
    if (C <= 0 || H <= 0 || W <= 0) return;
    if (OC <= 0) {
        memset(dinp, 0, sizeof(float) * (size_t)C * H * W);
        return;
    }
    wino_conv(dinp, dout, weight, kept, 1, NULL, 0, OC, C, H, W, aligned_scratch(scratch),
              pool);
}
