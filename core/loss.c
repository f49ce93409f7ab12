/*
 * loss.c — Gram matrices and the content, style and total-variation losses
 * of Gatys et al., each returning its unweighted value and adding
 * weight × its exact gradient into a caller's buffer (see loss.h).
 *
 * Sums are accumulated in double; tensors stay float. The Gram matrix and the
 * style gradient are BLAS calls (ssyrk and sgemm) shared out over the pool.
 *
 * What this file is not: it does not choose layers, weights or blend several
 * styles' Grams (the transfer does), and it allocates nothing.
 */
#include <cblas.h>
#include <math.h>

#include "loss.h"

/* The Gram matrix on the pool: part k takes the rows [a, b) of the upper
 * triangle with a = N(1 − √(1 − k/parts)), which gives each part the same
 * area of the triangle; it computes its diagonal block with ssyrk and the
 * block right of it with sgemm, so no product is computed twice. */
typedef struct {
    float *gram;
    const float *feat;
    int N, M;
    /* style gradient: dfeat += scale · D · feat, split over feat's columns */
    float *dfeat;
    const float *d;
    float scale;
} gram_step;

static int triangle_row(int N, int k, int parts)
{
    return (int)lround((double)N * (1.0 - sqrt(1.0 - (double)k / parts)));
}

static void gram_part(void *p, int part, int parts)
{
    gram_step *s = p;
    int a = triangle_row(s->N, part, parts), b = triangle_row(s->N, part + 1, parts);
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

void gram_compute(float *gram, const float *feat, int N, int M, nst_pool *pool)
{
    // feat is (N,M), gram will be (N,N) = F Fᵀ / M, both triangles filled
    if (N <= 0 || M <= 0) return;
    gram_step s = {.gram = gram, .feat = feat, .N = N, .M = M};
    nst_pool_run(pool, gram_part, &s);
    for (int i = 1; i < N; i++)
        for (int j = 0; j < i; j++) gram[(size_t)i * N + j] = gram[(size_t)j * N + i];
}

/* The style gradient in STYLE_PIECES pieces of feat's columns, which the
 * threads take as they come free (nst_pool_for). More pieces would pack D
 * again for each. */
#define STYLE_PIECES 4

static void style_grad_part(void *p, int part, size_t lo, size_t hi)
{
    gram_step *s = p;
    (void)part;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->N, (int)(hi - lo), s->N, s->scale,
                s->d, s->N, s->feat + lo, s->M, 1.0f, s->dfeat + lo, s->M);
}

double style_loss(float *dfeat, float weight, const float *feat, const float *target,
                  int N, int M, float *scratch, nst_pool *pool)
{
    // feat is (N,M), target is (N,N), dfeat is (N,M) (accumulated),
    // scratch is (N,N): it ends holding the symmetric part of G − A
    if (N <= 0 || M <= 0) return 0.0;
    float *d = scratch;
    gram_compute(d, feat, N, M, pool);
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
    double nn = (double)N * N;
    gram_step g = {.feat = feat, .N = N, .M = M, .dfeat = dfeat, .d = d,
                   .scale = (float)((double)weight / (nn * M))};
    nst_pool_for(pool, (size_t)M, ((size_t)M + STYLE_PIECES - 1) / STYLE_PIECES, style_grad_part,
                 &g);
    return sum / (4.0 * nn);
}

double content_loss(float *dfeat, float weight, const float *feat, const float *target,
                    size_t n)
{
    // feat, target and dfeat are (n); dfeat is accumulated
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float d = feat[i] - target[i];
        sum += (double)d * d;
        dfeat[i] += weight * d;
    }
    return 0.5 * sum;
}

double tv_loss(float *dimg, float weight, const float *img, int C, int H, int W)
{
    // img is (C,H,W), dimg is (C,H,W) (accumulated)
    double sum = 0.0;
    float w2 = 2.0f * weight;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++) {
            const float *a = img + ((size_t)c * H + y) * W;
            float *g = dimg + ((size_t)c * H + y) * W;
            /* horizontal neighbours: (a[x+1] − a[x])² */
            for (int x = 0; x + 1 < W; x++) {
                float d = a[x + 1] - a[x];
                sum += (double)d * d;
                g[x + 1] += w2 * d;
                g[x] -= w2 * d;
            }
            if (y + 1 == H) continue;
            /* vertical neighbours: (b[x] − a[x])² with b the next row */
            const float *b = a + W;
            float *gb = g + W;
            for (int x = 0; x < W; x++) {
                float d = b[x] - a[x];
                sum += (double)d * d;
                gb[x] += w2 * d;
                g[x] -= w2 * d;
            }
        }
    return sum;
}
