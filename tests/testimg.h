/*
 * testimg.h — closed-form test images for the C tests (no picture files):
 * smooth waves, stripes and a product pattern. tests/reference/make_reference.py
 * generates the same images in NumPy, so the reference test compares like
 * with like.
 */
#ifndef NST_TESTIMG_H
#define NST_TESTIMG_H

#include <math.h>
#include <string.h>

#include "nst.h"

/* kind: "content", "style0", "style1", "x" (the evaluation point), or a
 * mask, grey (all channels alike): "mask_left" (a soft step from 1 on the
 * left to 0 on the right), "mask_right" (1 − mask_left), "mask_spot" (a
 * Gaussian spot). */
static inline void testimg_make(nst_image *img, const char *kind, int w, int h)
{
    nst_image_alloc(img, w, h);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double v;
                if (!strcmp(kind, "content"))
                    v = 0.5 + 0.4 * sin(0.3 * x + 0.2 * y + c);
                else if (!strcmp(kind, "style0"))
                    v = 0.5 + 0.45 * sin(0.9 * x + 2.0 * c) * cos(0.5 * y);
                else if (!strcmp(kind, "style1"))
                    v = 0.5 + 0.45 * cos(0.021 * x * y + 0.7 * c);
                else if (!strcmp(kind, "mask_left"))
                    v = 1.0 / (1.0 + exp(0.6 * (x - 0.5 * w)));
                else if (!strcmp(kind, "mask_right"))
                    v = 1.0 - 1.0 / (1.0 + exp(0.6 * (x - 0.5 * w)));
                else if (!strcmp(kind, "mask_spot"))
                    v = exp(-((x - 0.6 * w) * (x - 0.6 * w) + (y - 0.4 * h) * (y - 0.4 * h)) /
                            (0.1 * w * h));
                else
                    v = 0.5 + 0.3 * sin(0.7 * x - 0.4 * y + 1.3 * c) + 0.1 * cos(1.7 * y + c);
                img->data[(size_t)c * w * h + (size_t)y * w + x] = (float)v;
            }
}

#endif
