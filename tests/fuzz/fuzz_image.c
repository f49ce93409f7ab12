/*
 * fuzz_image.c — libFuzzer target for image decoding: any bytes as an
 * uploaded image, with a 4-megapixel limit, through the decoder libnst
 * ships (stb_image with only PNG and JPEG, core/stbi.c) and the Exif
 * orientation reader. A decoded image must have the size the probe
 * reported (turned by the orientation) and pixels in [0,1]; small ones are
 * also re-encoded as PNG and decoded again. A refused format (GIF, BMP, …)
 * must be refused by the probe too, with a message naming PNG and JPEG.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nst.h"

#define MAX_PIXELS (4L << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nst_image img, back;
    nst_error err;
    int w = 0, h = 0;
    int probed = nst_image_probe(data, size, MAX_PIXELS, &w, &h, &err);
    int rc = nst_image_decode(data, size, MAX_PIXELS, &img, &err);
    if (rc != NST_OK) {
        if (img.data || err.message[0] == '\0') abort();
        if ((rc == NST_EFORMAT) != (probed == NST_EFORMAT)) abort();
        if (rc == NST_EFORMAT && !(strstr(err.message, "PNG") && strstr(err.message, "JPEG")))
            abort();
        return 0;
    }
    if (probed != NST_OK || img.w != w || img.h != h || (long)w * h > MAX_PIXELS) abort();
    for (size_t i = 0; i < (size_t)3 * w * h; i++)
        if (!(img.data[i] >= 0.0f && img.data[i] <= 1.0f)) abort();
    if ((long)w * h <= 4096) {
        unsigned char *png;
        size_t len;
        if (nst_image_encode_png(&img, &png, &len) != NST_OK) abort();
        if (nst_image_decode(png, len, MAX_PIXELS, &back, &err) != NST_OK) abort();
        if (back.w != w || back.h != h) abort();
        nst_image_free(&back);
        free(png);
    }
    nst_image_free(&img);
    return 0;
}
