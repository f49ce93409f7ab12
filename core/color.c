/*
 * color.c — colour preservation for style transfer (Gatys, Bethge,
 * Hertzmann, Shechtman, "Controlling Perceptual Factors in Neural Style
 * Transfer", CVPR 2017):
 *   - luminance-only transfer: the stylised image keeps its luminance and
 *     takes the chroma of the content image (YIQ colour space);
 *   - colour histogram matching: a linear map x' = A (x − μ_x) + μ_c with
 *     A = Σ_c^½ Σ_x^−½ gives the image the mean and covariance of another
 *     image's colours. Both covariances get ε·I added first, so a flat image
 *     (singular Σ_x) maps to the target's mean instead of blowing up.
 * Results are clamped to [0,1]. All work is on 3×3 matrices and per-pixel
 * loops; nothing here knows about the network.
 *
 * Not here: deciding when to apply which (the transfer does, from
 * params->preserve_colors); image I/O and resizing (image.c).
 */
#include <math.h>

#include "nst.h"

typedef struct {
    double m[3][3];
} mat3;

/* YIQ from RGB (FCC NTSC); rows give Y, I, Q. Its inverse is computed. */
static const mat3 yiq_from_rgb = {{
    {0.299, 0.587, 0.114},
    {0.595716, -0.274453, -0.321263},
    {0.211456, -0.522591, 0.311135},
}};

/* Regularisation added to both colour covariances (pixel values in [0,1]:
 * about 8-bit quantisation noise, far below any real colour spread). */
static const double cov_epsilon = 1e-5;

static float clamp01(double v)
{
    return v > 0.0 ? (v < 1.0 ? (float)v : 1.0f) : 0.0f; /* NaN → 0 */
}

static int image_valid(const nst_image *img)
{
    return img && img->data && img->w > 0 && img->h > 0;
}

/* ------------------------------------------------------------ 3×3 algebra */

static mat3 mat3_mul(const mat3 *a, const mat3 *b)
{
    mat3 out;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            out.m[i][j] = a->m[i][0] * b->m[0][j] + a->m[i][1] * b->m[1][j] +
                          a->m[i][2] * b->m[2][j];
    return out;
}

/* Inverse by cofactors (cyclic indices carry the signs); a must be invertible. */
static mat3 mat3_inverse(const mat3 *a)
{
    mat3 out;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
            out.m[i][j] = a->m[r0][c0] * a->m[r1][c1] - a->m[r0][c1] * a->m[r1][c0];
        }
    double det = a->m[0][0] * out.m[0][0] + a->m[0][1] * out.m[1][0] + a->m[0][2] * out.m[2][0];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) out.m[i][j] /= det;
    return out;
}

/* m x for a 3-vector x. */
static void mat3_apply(const mat3 *m, const double x[3], double out[3])
{
    for (int i = 0; i < 3; i++) out[i] = m->m[i][0] * x[0] + m->m[i][1] * x[1] + m->m[i][2] * x[2];
}

/* One Jacobi rotation of a symmetric a in the (p,q) plane zeroing a[p][q];
 * v accumulates the rotations (its columns become the eigenvectors). */
static void jacobi_rotate(mat3 *a, mat3 *v, int p, int q)
{
    double theta = (a->m[q][q] - a->m[p][p]) / (2.0 * a->m[p][q]);
    double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + hypot(theta, 1.0));
    double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
    for (int k = 0; k < 3; k++) {
        double akp = a->m[k][p], akq = a->m[k][q];
        a->m[k][p] = c * akp - s * akq;
        a->m[k][q] = s * akp + c * akq;
    }
    for (int k = 0; k < 3; k++) {
        double apk = a->m[p][k], aqk = a->m[q][k];
        a->m[p][k] = c * apk - s * aqk;
        a->m[q][k] = s * apk + c * aqk;
    }
    for (int k = 0; k < 3; k++) {
        double vkp = v->m[k][p], vkq = v->m[k][q];
        v->m[k][p] = c * vkp - s * vkq;
        v->m[k][q] = s * vkp + c * vkq;
    }
}

/* s^power for a symmetric positive definite s: V diag(λ^power) Vᵀ from
 * the cyclic Jacobi eigen-decomposition s = V diag(λ) Vᵀ. Eigenvalues are
 * floored at cov_epsilon. */
static mat3 sym3_power(const mat3 *s, double power)
{
    mat3 a = *s, v = {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}, out;
    double scale = fabs(a.m[0][0]) + fabs(a.m[1][1]) + fabs(a.m[2][2]);
    for (int sweep = 0; sweep < 64; sweep++) {
        double off = fabs(a.m[0][1]) + fabs(a.m[0][2]) + fabs(a.m[1][2]);
        if (off <= 1e-15 * scale) break;
        for (int p = 0; p < 2; p++)
            for (int q = p + 1; q < 3; q++)
                if (a.m[p][q] != 0.0) jacobi_rotate(&a, &v, p, q);
    }
    double d[3];
    for (int i = 0; i < 3; i++) d[i] = pow(fmax(a.m[i][i], cov_epsilon), power);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            out.m[i][j] = v.m[i][0] * d[0] * v.m[j][0] + v.m[i][1] * d[1] * v.m[j][1] +
                          v.m[i][2] * d[2] * v.m[j][2];
    return out;
}

/* ------------------------------------------------------------ statistics */

/* Mean and covariance (over pixels, divided by their count) of the colours
 * of img, plus cov_epsilon on the diagonal. */
static void color_stats(const nst_image *img, double mean[3], mat3 *cov)
{
    size_t n = (size_t)img->w * (size_t)img->h;
    const float *ch[3] = {img->data, img->data + n, img->data + 2 * n};
    for (int c = 0; c < 3; c++) {
        double sum = 0;
        for (size_t i = 0; i < n; i++) sum += ch[c][i];
        mean[c] = sum / (double)n;
    }
    for (int a = 0; a < 3; a++)
        for (int b = a; b < 3; b++) {
            double sum = 0;
            for (size_t i = 0; i < n; i++) sum += (ch[a][i] - mean[a]) * (ch[b][i] - mean[b]);
            cov->m[a][b] = cov->m[b][a] = sum / (double)n;
        }
    for (int c = 0; c < 3; c++) cov->m[c][c] += cov_epsilon;
}

/* ------------------------------------------------------------ public */

/* colors is resampled to img's size when they differ (nothing is done when
 * that allocation fails). */
void nst_colors_luminance(nst_image *img, const nst_image *colors)
{
    if (!image_valid(img) || !image_valid(colors)) return;
    nst_image resized = {0};
    if (colors->w != img->w || colors->h != img->h) {
        if (nst_image_resize(colors, img->w, img->h, &resized) != NST_OK) return;
        colors = &resized;
    }
    mat3 rgb_from_yiq = mat3_inverse(&yiq_from_rgb);
    size_t n = (size_t)img->w * (size_t)img->h;
    float *dst[3] = {img->data, img->data + n, img->data + 2 * n};
    const float *src[3] = {colors->data, colors->data + n, colors->data + 2 * n};
    for (size_t i = 0; i < n; i++) {
        double own[3] = {dst[0][i], dst[1][i], dst[2][i]};
        double their[3] = {src[0][i], src[1][i], src[2][i]};
        double own_yiq[3], yiq[3], rgb[3];
        mat3_apply(&yiq_from_rgb, own, own_yiq);
        mat3_apply(&yiq_from_rgb, their, yiq);
        yiq[0] = own_yiq[0]; /* luminance of img, chroma of colors */
        mat3_apply(&rgb_from_yiq, yiq, rgb);
        for (int c = 0; c < 3; c++) dst[c][i] = clamp01(rgb[c]);
    }
    nst_image_free(&resized);
}

/* x' = A (x − μ_x) + μ_c for every pixel, A = Σ_c^½ Σ_x^−½. */
void nst_colors_match(nst_image *img, const nst_image *colors)
{
    if (!image_valid(img) || !image_valid(colors)) return;
    double mu_x[3], mu_c[3];
    mat3 cov_x, cov_c;
    color_stats(img, mu_x, &cov_x);
    color_stats(colors, mu_c, &cov_c);
    mat3 sqrt_c = sym3_power(&cov_c, 0.5), isqrt_x = sym3_power(&cov_x, -0.5);
    mat3 a = mat3_mul(&sqrt_c, &isqrt_x);
    size_t n = (size_t)img->w * (size_t)img->h;
    float *ch[3] = {img->data, img->data + n, img->data + 2 * n};
    for (size_t i = 0; i < n; i++) {
        double x[3] = {ch[0][i] - mu_x[0], ch[1][i] - mu_x[1], ch[2][i] - mu_x[2]}, y[3];
        mat3_apply(&a, x, y);
        for (int c = 0; c < 3; c++) ch[c][i] = clamp01(y[c] + mu_c[c]);
    }
}
