/*
 * loss.c — Gram matrices and the content, style and total-variation losses
 * of Gatys et al.: each one's unweighted value, and weight × its exact
 * gradient added into a caller's buffer (see loss.h).
 *
 * Sums are accumulated in double; tensors stay float. The Gram matrix is
 * BLAS calls (ssyrk and sgemm), the style gradient the Winograd GEMM
 * kernel's (panel_gemm.h), both shared out over the pool.
 *
 * What this file is not: it does not choose layers, weights or blend several
 * styles' Grams (the transfer does), and it allocates nothing.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "loss.h"
#include "panel_gemm.h"

/* The Gram matrix on the pool in GRAM_PIECES pieces, which the threads take
 * as they come free (nst_pool_for), split one of two ways; either way each
 * element is summed in an order that does not depend on which thread took
 * what, or on how many threads there are.
 *   By rows, for few positions per channel: piece k takes the rows [a, b)
 *   of the upper triangle with a = N(1 − √(1 − k/pieces)), the same area
 *   each; it computes its diagonal block with ssyrk and the block right of
 *   it with sgemm.
 *   By columns, for many positions per channel (at least GRAM_COLUMNS_MIN
 *   per channel): pieces of feat's columns, each piece's upper triangle of
 *   F Fᵀ (ssyrk) summed on its own, then the sums added in piece order.
 *   The rows' split makes its first piece read all of F for the block right
 *   of its diagonal; with 64 channels over 512² positions that took 21 ms
 *   and the columns' split 14. With 512 channels over 64² positions the
 *   pieces' own triangles cost more than that saves (7 ms by rows, 9 by
 *   columns). */
#define GRAM_PIECES 8
#define GRAM_COLUMNS_MIN 16

typedef struct {
    float *gram;
    float *partial; /* by columns: piece k sums into partial + k·N·N */
    size_t grain;   /* by columns: columns per piece */
    const float *feat;
    int N, M;
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

size_t loss_scratch_floats(int N)
{
    size_t gram = (size_t)N * N * GRAM_PIECES;
    size_t style = panel_a_floats(N, N) + STYLE_PIECES * panel_work_floats(N, N);
    return gram > style ? gram : style;
}

static int triangle_row(int N, int k, int parts)
{
    return (int)lround((double)N * (1.0 - sqrt(1.0 - (double)k / parts)));
}

static void gram_rows(void *p, int part, size_t lo, size_t hi)
{
    gram_step *s = p;
    (void)part, (void)hi;
    int a = triangle_row(s->N, (int)lo, GRAM_PIECES);
    int b = triangle_row(s->N, (int)lo + 1, GRAM_PIECES);
    if (b <= a) return;
    float alpha = 1.0f / (float)s->M;
    const float *fa = s->feat + (size_t)a * s->M;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, b - a, s->M, alpha, fa, s->M, 0.0f,
                s->gram + (size_t)a * s->N + a, s->N);
    if (b < s->N)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b - a, s->N - b, s->M, alpha, fa,
                    s->M, s->feat + (size_t)b * s->M, s->M, 0.0f, s->gram + (size_t)a * s->N + b,
                    s->N);
}

static void gram_columns(void *p, int part, size_t lo, size_t hi)
{
    gram_step *s = p;
    float *g = s->partial + lo / s->grain * s->N * s->N;
    (void)part;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, s->N, (int)(hi - lo), 1.0f / (float)s->M,
                s->feat + lo, s->M, 0.0f, g, s->N);
}

void gram_compute(float *gram, const float *feat, int N, int M, float *scratch, nst_pool *pool)
{
    // feat is (N,M), gram will be (N,N) = F Fᵀ / M, both triangles filled;
    // scratch holds the column pieces' sums
    if (N <= 0 || M <= 0) return;
    gram_step s = {.gram = gram, .partial = scratch, .feat = feat, .N = N, .M = M};
    if ((size_t)M < (size_t)GRAM_COLUMNS_MIN * N) {
        nst_pool_for(pool, GRAM_PIECES, 1, gram_rows, &s);
        for (int i = 1; i < N; i++)
            for (int j = 0; j < i; j++) gram[(size_t)i * N + j] = gram[(size_t)j * N + i];
        return;
    }
    size_t nn = (size_t)N * N;
    s.grain = ((size_t)M + GRAM_PIECES - 1) / GRAM_PIECES;
    size_t pieces = ((size_t)M + s.grain - 1) / s.grain;
    nst_pool_for(pool, (size_t)M, s.grain, gram_columns, &s);
    for (int i = 0; i < N; i++)
        for (int j = i; j < N; j++) {
            float sum = 0.0f;
            for (size_t k = 0; k < pieces; k++) sum += scratch[k * nn + (size_t)i * N + j];
            gram[(size_t)i * N + j] = sum;
            gram[(size_t)j * N + i] = sum;
        }
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
