/*
 * loss.c — Gram matrices and the content, style and total-variation losses
 * of Gatys et al.: each one's unweighted value, and weight × its exact
 * gradient added into a caller's buffer (see loss.h).
 *
 * Sums are accumulated in double; tensors stay float. The Gram matrix and
 * the style gradient run on the Winograd GEMM kernel (panel_gemm.h), both
 * shared out over the pool.
 *
 * What this file is not: it does not choose layers, weights or blend several
 * styles' Grams (the transfer does), and it allocates nothing.
 */
#include <math.h>
#include <string.h>

#include "loss.h"
#include "panel_gemm.h"

/* The Gram matrix on the pool in pieces of feat's columns, which the
 * threads take as they come free (nst_pool_for): piece k sums its columns'
 * F Fᵀ on the convolution's GEMM kernel (panel_gram: the upper triangle)
 * into a partial of its own, with pack work of its own; then the partials
 * are added in piece order. Each element is thus summed in an order that
 * depends neither on which thread took what nor on how many threads there
 * are. GRAM_PIECES pieces, halved while a piece would have fewer than
 * GRAM_PIECE_MIN columns (the partials' sum costs as much as a piece's
 * product there). OpenBLAS's ssyrk, which this replaced, ran its SSE3
 * kernels on CPUs it does not know (a Xeon of 2023): 136 ms of a 512 px
 * evaluation's 750. */
#define GRAM_PIECES 8
#define GRAM_PIECE_MIN 256

typedef struct {
    float *gram;
    float *partial; /* piece k sums into partial + k·gram_slot(N) */
    size_t grain;   /* columns per piece */
    const float *feat;
    int N, M, pieces;
    /* style gradient: dfeat += scale · D · feat, split over feat's columns */
    float *dfeat;
    const float *d; /* D packed (panel_pack_a) */
    float *work;    /* piece k's panel_gemm_cols work at work + k·panel_work_floats */
    float scale;
    int relu;       /* then zero dfeat where feat <= 0 */
} gram_step;

/* The style gradient in STYLE_PIECES pieces of feat's columns, which the
 * threads take as they come free (nst_pool_for), each with work of its
 * own. With 4 pieces the thread done first waited about 3 ms per
 * evaluation at 512 px for the other's last piece, with 16 about half
 * that. */
#define STYLE_PIECES 16

/* A Gram piece's partial and its pack work. */
static size_t gram_slot(int N) { return panel_gram_floats(N) + panel_gram_work_floats(N); }

size_t loss_scratch_floats(int N)
{
    size_t gram = gram_slot(N) * GRAM_PIECES;
    size_t style = panel_a_floats(N, N) + STYLE_PIECES * panel_work_floats(N, N);
    return gram > style ? gram : style;
}

static void gram_piece(void *p, int part, size_t lo, size_t hi)
{
    gram_step *s = p;
    float *g = s->partial + lo / s->grain * gram_slot(s->N);
    (void)part;
    panel_gram(g, s->feat, (size_t)s->M, s->N, lo, hi, 0, g + panel_gram_floats(s->N));
}

/* Columns lo … hi-1 of the upper triangle, the partials summed and scaled,
 * into both triangles. */
static void gram_sum(void *p, int part, size_t lo, size_t hi)
{
    gram_step *s = p;
    size_t slot = gram_slot(s->N), N = (size_t)s->N;
    float scale = 1.0f / (float)s->M;
    (void)part;
    for (size_t i = 0; i < hi; i++)
        for (size_t j = i > lo ? i : lo; j < hi; j++) {
            size_t at = panel_gram_at(s->N, (int)i, (int)j);
            float sum = 0.0f;
            for (int k = 0; k < s->pieces; k++) sum += s->partial[(size_t)k * slot + at];
            s->gram[i * N + j] = s->gram[j * N + i] = sum * scale;
        }
}

void gram_compute(float *gram, const float *feat, int N, int M, float *scratch, nst_pool *pool)
{
    // feat is (N,M), gram will be (N,N) = F Fᵀ / M, both triangles filled;
    // scratch holds the pieces' partials and work
    if (N <= 0 || M <= 0) return;
    gram_step s = {.gram = gram, .partial = scratch, .feat = feat, .N = N, .M = M};
    s.pieces = GRAM_PIECES;
    while (s.pieces > 1 && (size_t)M / (size_t)s.pieces < GRAM_PIECE_MIN) s.pieces /= 2;
    s.grain = ((size_t)M + (size_t)s.pieces - 1) / (size_t)s.pieces;
    s.pieces = (int)(((size_t)M + s.grain - 1) / s.grain);
    nst_pool_for(pool, (size_t)M, s.grain, gram_piece, &s);
    nst_pool_for(pool, (size_t)N, 16, gram_sum, &s);
}

static void style_grad_part(void *p, int part, size_t lo, size_t hi)
{
    gram_step *s = p;
    (void)part;
    float *work = s->work + lo / s->grain * panel_work_floats(s->N, s->N);
    panel_gemm_cols(s->dfeat, (size_t)s->M, s->d, s->feat, (size_t)s->M, s->N, s->N, lo, hi,
                    s->scale, s->relu ? s->feat : NULL, work);
}

double style_loss(float *diff, const float *feat, const float *target, int N, int M,
                  float *scratch, nst_pool *pool)
{
    // feat is (N,M), target and diff are (N,N); diff ends holding the
    // symmetric part of G − A
    if (N <= 0 || M <= 0) return 0.0;
    gram_compute(diff, feat, N, M, scratch, pool);
    return style_loss_of_gram(diff, target, N);
}

double style_loss_of_gram(float *diff, const float *target, int N)
{
    float *d = diff;
    double sum = 0.0;
    for (size_t i = 0; i < (size_t)N * N; i++) {
        d[i] -= target[i];
        sum += (double)d[i] * d[i];
    }
    /* dE/dF = (D + Dᵀ) F / (2 N² M); A is symmetric in practice, which makes
     * this D F / (N² M), but an asymmetric target still gets its exact
     * gradient. */
    for (int i = 1; i < N; i++)
        for (int j = 0; j < i; j++) {
            float *lo = d + (size_t)i * N + j, *up = d + (size_t)j * N + i;
            float s = 0.5f * (*lo + *up);
            *lo = s;
            *up = s;
        }
    return sum / (4.0 * (double)N * N);
}

void style_grad(float *dfeat, float weight, const float *feat, const float *diff, int N, int M,
                int relu, float *scratch, nst_pool *pool)
{
    // feat and dfeat are (N,M), diff is (N,N); dfeat is accumulated;
    // scratch holds D packed, then each piece's work
    if (N <= 0 || M <= 0) return;
    panel_pack_a(scratch, diff, (size_t)N, N, N);
    gram_step g = {.feat = feat, .N = N, .M = M, .dfeat = dfeat, .d = scratch, .relu = relu,
                   .work = scratch + panel_a_floats(N, N),
                   .grain = ((size_t)M + STYLE_PIECES - 1) / STYLE_PIECES,
                   .scale = (float)((double)weight / ((double)N * N * M))};
    nst_pool_for(pool, (size_t)M, g.grain, style_grad_part, &g);
}

/* The content loss, and with dfeat its gradient: one loop for both halves. */
static double content_pass(float *dfeat, float weight, const float *feat, const float *target,
                           size_t n)
{
    // feat, target and dfeat are (n); dfeat is accumulated, or NULL
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float d = feat[i] - target[i];
        sum += (double)d * d;
        if (dfeat) dfeat[i] += weight * d;
    }
    return 0.5 * sum;
}

double content_loss(const float *feat, const float *target, size_t n)
{
    return content_pass(NULL, 0.0f, feat, target, n);
}

void content_grad(float *dfeat, float weight, const float *feat, const float *target, size_t n)
{
    content_pass(dfeat, weight, feat, target, n);
}

/* The total variation, and with dimg its gradient: one loop for both halves. */
static double tv_pass(float *dimg, float weight, const float *img, int C, int H, int W)
{
    // img is (C,H,W), dimg is (C,H,W) (accumulated) or NULL
    double sum = 0.0;
    float w2 = 2.0f * weight;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++) {
            const float *a = img + ((size_t)c * H + y) * W;
            float *g = dimg ? dimg + ((size_t)c * H + y) * W : NULL;
            /* horizontal neighbours: (a[x+1] − a[x])² */
            for (int x = 0; x + 1 < W; x++) {
                float d = a[x + 1] - a[x];
                sum += (double)d * d;
                if (g) {
                    g[x + 1] += w2 * d;
                    g[x] -= w2 * d;
                }
            }
            if (y + 1 == H) continue;
            /* vertical neighbours: (b[x] − a[x])² with b the next row */
            const float *b = a + W;
            for (int x = 0; x < W; x++) {
                float d = b[x] - a[x];
                sum += (double)d * d;
                if (g) {
                    g[x + W] += w2 * d;
                    g[x] -= w2 * d;
                }
            }
        }
    return sum;
}

double tv_loss(const float *img, int C, int H, int W) { return tv_pass(NULL, 0.0f, img, C, H, W); }

void tv_grad(float *dimg, float weight, const float *img, int C, int H, int W)
{
    tv_pass(dimg, weight, img, C, H, W);
}
