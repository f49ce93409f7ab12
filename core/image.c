/*
 * image.c — images in and out of libnst: allocation, decoding (with the
 * size checks an upload needs), resizing, and PNG encoding.
 *
 * Decoding, resizing and encoding are stb's: stb_image built into libnst
 * with only its PNG and JPEG decoders (stbi.c), stb_image_resize and
 * stb_image_write from the system's libstb. This file converts between
 * stb's interleaved 8-bit or float pixels and libnst's planar RGB floats in
 * [0,1], and puts limits in front of the decoder:
 *   - only PNG and JPEG are accepted, recognised by their signature bytes;
 *     GIF, BMP, WebP, TIFF, HEIF and AVIF are recognised too, to be refused
 *     by name (NST_EFORMAT), and anything else is not an image;
 *   - the header is read first and the image is refused before any pixel
 *     memory is allocated when w*h exceeds the caller's pixel limit or a
 *     side exceeds NST_IMAGE_MAX_SIDE (the size is read here from the
 *     header as well as by stb, whose own reader rejects very large images
 *     with a vague reason).
 * Decoded images are what a viewer shows: a JPEG's Exif orientation is
 * applied (exif_orientation reads it, bounded by its segment, since it is
 * uploaded bytes), and transparent pixels are composited on white, in the
 * encoded (sRGB) values as browsers do, so the colour a transparent pixel
 * happens to hold never shows.
 * PNG output is deterministic: the same pixels give the same bytes.
 *
 * Not here: colour preservation (color.c), anything about what the pixels
 * mean to the network (the model's preprocessing).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>

#include "fileio.h"
#include "nst.h"
#include "stbi.h"

/* ------------------------------------------------------------ allocation */

int nst_image_alloc(nst_image *img, int w, int h)
{
    img->w = img->h = 0;
    img->data = NULL;
    if (w <= 0 || h <= 0) return NST_EINVAL;
    if ((size_t)w > SIZE_MAX / sizeof(float) / 3 / (size_t)h) return NST_ENOMEM;
    img->data = calloc((size_t)3 * (size_t)w * (size_t)h, sizeof(float));
    if (!img->data) return NST_ENOMEM;
    img->w = w;
    img->h = h;
    return NST_OK;
}

void nst_image_free(nst_image *img)
{
    if (!img) return;
    free(img->data);
    img->data = NULL;
    img->w = img->h = 0;
}

static int image_valid(const nst_image *img)
{
    return img && img->data && img->w > 0 && img->h > 0;
}

static size_t image_floats(const nst_image *img)
{
    return (size_t)3 * (size_t)img->w * (size_t)img->h;
}

/* dst is overwritten, not freed: pass an empty or freed image. */
int nst_image_copy(nst_image *dst, const nst_image *src)
{
    if (!image_valid(src)) return NST_EINVAL;
    int rc = nst_image_alloc(dst, src->w, src->h);
    if (rc) return rc;
    memcpy(dst->data, src->data, image_floats(src) * sizeof(float));
    return NST_OK;
}

/* ------------------------------------------------------------ layout */

static float clamp01(float v)
{
    return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; /* NaN → 0 */
}

/* rgb is interleaved floats (h,w,3); out (3,h,w) gets it clamped to [0,1]. */
static void planar_from_rgbf(nst_image *out, const float *rgb)
{
    size_t n = (size_t)out->w * (size_t)out->h;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++) out->data[c * n + i] = clamp01(rgb[3 * i + c]);
}

/* planar (3,h,w) → interleaved floats (h,w,3). */
static void interleaved_from_planar(float *out, const nst_image *in)
{
    size_t n = (size_t)in->w * (size_t)in->h;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) out[3 * i + c] = in->data[c * n + i];
}

/* ------------------------------------------------------------ decoding */

/* Big- and little-endian unsigned integers at b. */
static unsigned long be16(const unsigned char *b) { return (unsigned long)b[0] << 8 | b[1]; }
static unsigned long le16(const unsigned char *b) { return (unsigned long)b[1] << 8 | b[0]; }
static unsigned long be32(const unsigned char *b) { return be16(b) << 16 | be16(b + 2); }
static unsigned long le32(const unsigned char *b) { return le16(b + 2) << 16 | le16(b); }

/* Each reader takes the dimensions straight from a format's header, so an
 * oversized image is refused by its declared size even where stb's header
 * reader gives up on it with a vaguer reason. 0: not found. */
static int png_size(const unsigned char *b, size_t n, long *w, long *h)
{
    if (n < 24 || memcmp(b + 12, "IHDR", 4) != 0) return 0;
    *w = (long)be32(b + 16);
    *h = (long)be32(b + 20);
    return 1;
}

/* Walks the markers up to the first start-of-frame (SOF0 … SOF15 except
 * DHT C4, JPG C8, DAC CC). */
static int jpeg_size(const unsigned char *b, size_t n, long *w, long *h)
{
    size_t i = 2;
    while (i + 4 <= n && b[i] == 0xff) {
        unsigned m = b[i + 1];
        if (m == 0xff || m == 0x01 || (m >= 0xd0 && m <= 0xd8)) { /* fill, no length */
            i += m == 0xff ? 1 : 2;
        } else if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
            if (i + 9 > n) return 0;
            *h = (long)be16(b + i + 5);
            *w = (long)be16(b + i + 7);
            return 1;
        } else if (m == 0xd9 || m == 0xda) { /* end of image, scan: no frame */
            return 0;
        } else {
            i += 2 + be16(b + i + 2);
        }
    }
    return 0;
}

/* The formats accepted, by their leading bytes. */
typedef struct {
    const char *name;
    const char *magic;
    size_t magic_len;
    int (*size)(const unsigned char *b, size_t n, long *w, long *h);
} image_format;

static const image_format formats[] = {
    {"PNG", "\x89PNG\r\n\x1a\n", 8, png_size},
    {"JPEG", "\xff\xd8\xff", 3, jpeg_size},
};

static const image_format *format_of(const unsigned char *buf, size_t len)
{
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (len >= formats[i].magic_len && memcmp(buf, formats[i].magic, formats[i].magic_len) == 0)
            return &formats[i];
    return NULL;
}

/* Formats recognised only to be refused by name: their name, or NULL. */
static const char *refused_format(const unsigned char *b, size_t n)
{
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) return "GIF";
    if (n >= 18 && memcmp(b, "BM", 2) == 0) { /* and a known info header size */
        unsigned long dib = le32(b + 14);
        if (dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 ||
            dib == 124)
            return "BMP";
    }
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) return "WebP";
    if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0)) return "TIFF";
    if (n >= 12 && memcmp(b + 4, "ftyp", 4) == 0) { /* ISO media: the major brand */
        if (memcmp(b + 8, "avif", 4) == 0 || memcmp(b + 8, "avis", 4) == 0) return "AVIF";
        static const char heif[][5] = {"heic", "heix", "hevc", "hevx", "heim", "heis", "mif1",
                                       "msf1"};
        for (size_t i = 0; i < sizeof heif / sizeof heif[0]; i++)
            if (memcmp(b + 8, heif[i], 4) == 0) return "HEIF (HEIC)";
    }
    return NULL;
}

/* ---- Exif orientation */

/* The Orientation tag (0x0112) of IFD0 in the TIFF structure t of n bytes
 * (an Exif segment's payload after "Exif\0\0"), 1..8; 1 when it is absent
 * or anything about it is off. Every offset is checked against n first. */
static int exif_orientation(const unsigned char *t, size_t n)
{
    if (n < 8) return 1;
    int big = memcmp(t, "MM", 2) == 0;
    if (!big && memcmp(t, "II", 2) != 0) return 1;
    unsigned long (*u16)(const unsigned char *) = big ? be16 : le16;
    unsigned long (*u32)(const unsigned char *) = big ? be32 : le32;
    if (u16(t + 2) != 42) return 1;
    unsigned long ifd = u32(t + 4);
    if (ifd < 8 || ifd > n - 2) return 1;
    unsigned long count = u16(t + ifd);
    if (count > (n - ifd - 2) / 12) return 1; /* the whole IFD must be inside */
    for (unsigned long k = 0; k < count; k++) {
        const unsigned char *e = t + ifd + 2 + 12 * k; /* tag, type, count, value */
        if (u16(e) != 0x0112) continue;
        unsigned long v = u16(e + 8);                  /* a SHORT: left-justified */
        return u16(e + 2) == 3 && u32(e + 4) == 1 && v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/* The orientation of a JPEG from its first APP1 Exif segment before the
 * scan; 1 for no Exif, and for PNG. Segments must lie inside the buffer. */
static int image_orientation(const unsigned char *b, size_t n)
{
    if (n < 3 || memcmp(b, "\xff\xd8\xff", 3) != 0) return 1;
    size_t i = 2;
    while (i + 4 <= n && b[i] == 0xff) {
        unsigned m = b[i + 1];
        if (m == 0xff || m == 0x01 || (m >= 0xd0 && m <= 0xd8)) { /* fill, no length */
            i += m == 0xff ? 1 : 2;
            continue;
        }
        if (m == 0xd9 || m == 0xda) return 1; /* end of image, scan */
        size_t seg = be16(b + i + 2);         /* counts its own two bytes */
        if (seg < 2 || seg > n - i - 2) return 1;
        if (m == 0xe1 && seg >= 8 && memcmp(b + i + 4, "Exif\0\0", 6) == 0)
            return exif_orientation(b + i + 10, seg - 8);
        i += 2 + seg;
    }
    return 1;
}

/* Orientations 5..8 turn the image a quarter: width and height swap. */
static int orientation_swaps(int orientation)
{
    return orientation >= 5 && orientation <= 8;
}

/* rgba is interleaved 8-bit (sh,sw,4) as stored; out (3,h,w), as displayed
 * under the Exif orientation, gets it scaled to [0,1] and composited on
 * white: v = c*a + (1 - a). The stored pixel (x, y) shows at (X, Y):
 *   1 (x, y)  2 (sw-1-x, y)  3 (sw-1-x, sh-1-y)  4 (x, sh-1-y)
 *   5 (y, x)  6 (sh-1-y, x)  7 (sh-1-y, sw-1-x)  8 (y, sw-1-x) */
static void planar_from_rgba8(nst_image *out, const unsigned char *rgba, int sw, int sh,
                              int orientation)
{
    size_t n = (size_t)out->w * (size_t)out->h;
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++) {
            int X, Y;
            switch (orientation) {
            case 2: X = sw - 1 - x, Y = y; break;
            case 3: X = sw - 1 - x, Y = sh - 1 - y; break;
            case 4: X = x, Y = sh - 1 - y; break;
            case 5: X = y, Y = x; break;
            case 6: X = sh - 1 - y, Y = x; break;
            case 7: X = sh - 1 - y, Y = sw - 1 - x; break;
            case 8: X = y, Y = sw - 1 - x; break;
            default: X = x, Y = y; break;
            }
            const unsigned char *p = rgba + 4 * ((size_t)y * sw + x);
            size_t i = (size_t)Y * out->w + X;
            float a = p[3] / 255.0f;
            for (int c = 0; c < 3; c++)
                out->data[c * n + i] = clamp01(p[c] / 255.0f * a + (1.0f - a));
        }
}

/* ---- checks */

static int check_size(long w, long h, long max_pixels, nst_error *err)
{
    if (w <= 0 || h <= 0)
        return nst_error_set(err, NST_EIMAGE, "", "image has no pixels (%ldx%ld)", w, h);
    if (max_pixels > 0 && w > max_pixels / h) /* w*h > max_pixels, without overflow */
        return nst_error_set(err, NST_ETOOBIG, "",
                             "image is %ldx%ld pixels, more than the limit of %ld pixels", w, h,
                             max_pixels);
    if (w > NST_IMAGE_MAX_SIDE || h > NST_IMAGE_MAX_SIDE)
        return nst_error_set(err, NST_ETOOBIG, "",
                             "image is %ldx%ld pixels; a side may be at most %d pixels", w, h,
                             NST_IMAGE_MAX_SIDE);
    return NST_OK;
}

int nst_image_probe(const void *buf, size_t len, long max_pixels, int *w, int *h,
                    nst_error *err)
{
    int iw = 0, ih = 0, comp = 0, rc;
    long hw, hh;
    if (!buf || len == 0) return nst_error_set(err, NST_EIMAGE, "", "image is empty");
    if (len > INT_MAX)
        return nst_error_set(err, NST_ETOOBIG, "", "encoded image is larger than %d bytes",
                             INT_MAX);
    const image_format *f = format_of(buf, len);
    const char *refused = f ? NULL : refused_format(buf, len);
    if (refused)
        return nst_error_set(err, NST_EFORMAT, "",
                             "%s images are not supported: only PNG and JPEG are accepted",
                             refused);
    if (!f) return nst_error_set(err, NST_EIMAGE, "", "not a PNG or JPEG image");
    if (f->size(buf, len, &hw, &hh) && (rc = check_size(hw, hh, max_pixels, err)))
        return rc;
    if (!nst_stbi_info(buf, (int)len, &iw, &ih, &comp))
        return nst_error_set(err, NST_EIMAGE, "", "cannot read %s header: %s", f->name,
                             nst_stbi_reason());
    if ((rc = check_size(iw, ih, max_pixels, err))) return rc;
    if (orientation_swaps(image_orientation(buf, len))) { /* as displayed */
        int t = iw;
        iw = ih;
        ih = t;
    }
    if (w) *w = iw;
    if (h) *h = ih;
    return NST_OK;
}

int nst_image_decode(const void *buf, size_t len, long max_pixels, nst_image *out,
                     nst_error *err)
{
    int w, h, sw = 0, sh = 0; /* as displayed, as stored */
    out->w = out->h = 0;
    out->data = NULL;
    int rc = nst_image_probe(buf, len, max_pixels, &w, &h, err);
    if (rc) return rc;
    int orientation = image_orientation(buf, len);
    unsigned char *pix = nst_stbi_load(buf, (int)len, &sw, &sh, 4);
    if (!pix)
        return nst_error_set(err, NST_EIMAGE, "", "cannot decode image: %s", nst_stbi_reason());
    int swap = orientation_swaps(orientation);
    if ((swap ? sh : sw) != w || (swap ? sw : sh) != h) {
        nst_stbi_free(pix);
        return nst_error_set(err, NST_EIMAGE, "", "image header and data disagree on size");
    }
    rc = nst_image_alloc(out, w, h);
    if (rc == NST_OK) planar_from_rgba8(out, pix, sw, sh, orientation);
    nst_stbi_free(pix);
    return rc ? nst_error_set(err, rc, "", "out of memory decoding a %dx%d image", w, h) : 0;
}

int nst_image_load(const char *path, long max_pixels, nst_image *out, nst_error *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    out->w = out->h = 0;
    out->data = NULL;
    int rc = nst_file_read(path, 0, &buf, &len);
    if (rc) return nst_error_set(err, NST_EIO, "", "cannot read %s: %s", path, strerror(-rc));
    rc = nst_image_decode(buf, len, max_pixels, out, err);
    free(buf);
    if (rc && err) { /* say which file */
        char msg[sizeof err->message];
        memcpy(msg, err->message, sizeof msg);
        nst_error_set(err, rc, "", "%s: %s", path, msg);
    }
    return rc;
}

/* ------------------------------------------------------------ resizing */

int nst_image_resize(const nst_image *in, int w, int h, nst_image *out)
{
    if (!image_valid(in) || w <= 0 || h <= 0) return NST_EINVAL;
    if (w == in->w && h == in->h) return nst_image_copy(out, in);
    int rc = nst_image_alloc(out, w, h);
    if (rc) return rc;
    float *src = malloc(image_floats(in) * sizeof(float));
    float *dst = malloc(image_floats(out) * sizeof(float));
    if (src && dst) {
        interleaved_from_planar(src, in);
        if (stbir_resize_float(src, in->w, in->h, 0, dst, w, h, 0, 3))
            planar_from_rgbf(out, dst); /* clamped: cubic filters overshoot */
        else
            rc = NST_ENOMEM;
    } else {
        rc = NST_ENOMEM;
    }
    free(src);
    free(dst);
    if (rc) nst_image_free(out);
    return rc;
}

int nst_image_fit(const nst_image *in, int longest, nst_image *out)
{
    if (!image_valid(in) || longest <= 0) return NST_EINVAL;
    int big = in->w > in->h ? in->w : in->h;
    double scale = (double)longest / big;
    int w = in->w == big ? longest : (int)lround(in->w * scale);
    int h = in->h == big ? longest : (int)lround(in->h * scale);
    return nst_image_resize(in, w > 0 ? w : 1, h > 0 ? h : 1, out);
}

/* ------------------------------------------------------------ encoding */

/* A growing byte buffer that stb's writer appends to. */
typedef struct {
    unsigned char *data;
    size_t len, cap;
    int failed;
} byte_sink;

static void sink_write(void *ctx, void *data, int size)
{
    byte_sink *s = ctx;
    if (s->failed || size <= 0) return;
    if (s->len + (size_t)size > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + (size_t)size) cap *= 2;
        unsigned char *p = realloc(s->data, cap);
        if (!p) {
            s->failed = 1;
            return;
        }
        s->data = p;
        s->cap = cap;
    }
    memcpy(s->data + s->len, data, (size_t)size);
    s->len += (size_t)size;
}

int nst_image_encode_png(const nst_image *img, unsigned char **png, size_t *len)
{
    *png = NULL;
    *len = 0;
    if (!image_valid(img)) return NST_EINVAL;
    if (((long long)img->w * 3 + 1) * img->h > INT_MAX) return NST_ETOOBIG; /* stb's ints */
    size_t n = (size_t)img->w * (size_t)img->h;
    unsigned char *rgb = malloc(3 * n);
    if (!rgb) return NST_ENOMEM;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            rgb[3 * i + c] = (unsigned char)(clamp01(img->data[c * n + i]) * 255.0f + 0.5f);
    byte_sink sink = {0};
    int ok = stbi_write_png_to_func(sink_write, &sink, img->w, img->h, 3, rgb, img->w * 3);
    free(rgb);
    if (!ok || sink.failed) {
        free(sink.data);
        return NST_ENOMEM;
    }
    *png = sink.data;
    *len = sink.len;
    return NST_OK;
}

/* Written to a temporary file that is renamed over `path`, so a reader
 * sees the old file or the whole new one, never a part. */
int nst_image_save_png(const nst_image *img, const char *path, nst_error *err)
{
    unsigned char *png;
    size_t len;
    int rc = nst_image_encode_png(img, &png, &len);
    if (rc) return nst_error_set(err, rc, "", "cannot encode %s: %s", path, nst_strerror(rc));
    int e = nst_file_write(path, png, len);
    free(png);
    return e ? nst_error_set(err, NST_EIO, "", "cannot write %s: %s", path, strerror(-e)) : NST_OK;
}

/* ------------------------------------------------------------ memory */

/* stb's worst case among the accepted formats is a 16-bit RGBA PNG: the
 * inflated rows (8 bytes a pixel, plus a filter byte a row) and the image
 * they expand into (8 more), then the conversion to 8-bit RGB (3) that
 * nst_image_decode turns into floats. Rounded up to leave room for the
 * copies an orientation fix or an alpha flatten makes. */
#define DECODE_BYTES_PER_PIXEL 24

size_t nst_image_decode_memory(int w, int h)
{
    if (w < 1 || h < 1) return 0;
    return (size_t)DECODE_BYTES_PER_PIXEL * (size_t)w * (size_t)h + ((size_t)1 << 20);
}

/* The pixel data decoded as nst_image_decode decodes it, into stb's 8-bit
 * RGBA only (a third of the float image's bytes) and dropped at once. */
int nst_image_verify(const void *buf, size_t len, long max_pixels, nst_error *err)
{
    int w, h, sw = 0, sh = 0, comp = 0, dw = 0, dh = 0;
    int rc = nst_image_probe(buf, len, max_pixels, &w, &h, err);
    if (rc) return rc;
    if (!nst_stbi_info(buf, (int)len, &sw, &sh, &comp))   /* as stored, before any rotation */
        return nst_error_set(err, NST_EIMAGE, "", "cannot decode image: %s", nst_stbi_reason());
    unsigned char *pix = nst_stbi_load(buf, (int)len, &dw, &dh, 4);
    if (!pix)
        return nst_error_set(err, NST_EIMAGE, "", "cannot decode image: %s", nst_stbi_reason());
    nst_stbi_free(pix);
    if (dw != sw || dh != sh)
        return nst_error_set(err, NST_EIMAGE, "", "image header and data disagree on size");
    return NST_OK;
}
