/*
 * conv_ref.h — the direct 3×3 convolution (stride 1, zero padding 1) and its
 * transpose in double precision: the references test_ops.c and
 * test_winograd.c check the fast paths against.
 */
#ifndef NST_CONV_REF_H
#define NST_CONV_REF_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* inp is (C,H,W) double, weight (OC,C,3,3) float, bias (OC) or NULL, out
 * will be (OC,H,W) double; absum (OC,H,W) or NULL gets Σ|w·x| (error scale). */
static inline void ref_conv(double *out, double *absum, const double *inp, const float *weight,
                            const float *bias, int C, int OC, int H, int W)
{
    for (int oc = 0; oc < OC; oc++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double s = bias ? bias[oc] : 0.0, a = bias ? fabs(bias[oc]) : 0.0;
                for (int c = 0; c < C; c++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int yy = y + ky - 1, xx = x + kx - 1;
                            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                            double t = weight[((oc * C + c) * 3 + ky) * 3 + kx] *
                                       inp[((size_t)c * H + yy) * W + xx];
                            s += t;
                            a += fabs(t);
                        }
                size_t o = ((size_t)oc * H + y) * W + x;
                out[o] = s;
                if (absum) absum[o] = a;
            }
}

/* dout is (OC,H,W) double, dinp will be (C,H,W): the transposed sum. */
static inline void ref_conv_backward(double *dinp, const double *dout, const float *weight,
                                     int C, int OC, int H, int W)
{
    memset(dinp, 0, sizeof(double) * (size_t)C * H * W);
    for (int oc = 0; oc < OC; oc++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < C; c++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int yy = y + ky - 1, xx = x + kx - 1;
                            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                            dinp[((size_t)c * H + yy) * W + xx] +=
                                weight[((oc * C + c) * 3 + ky) * 3 + kx] *
                                dout[((size_t)oc * H + y) * W + x];
                        }
}

static inline double *to_double(const float *p, size_t n)
{
    double *d = malloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) d[i] = p[i];
    return d;
}

#endif
