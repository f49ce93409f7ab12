/*
 * test_image.c — image I/O and colour handling (core/image.c, core/color.c).
 * Every picture is generated here (gradients, stripes, noise); files go to
 * $NST_TEST_TMP or /tmp. Headers of oversized images are crafted byte by
 * byte so the size checks are tested without the memory they guard.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "nst.h"
#include "test.h"

/* ------------------------------------------------------------ pictures */

static float *px(nst_image *img, int c, int x, int y)
{
    return &img->data[(size_t)c * img->w * img->h + (size_t)y * img->w + x];
}

static void gradient(nst_image *img, int w, int h)
{
    nst_image_alloc(img, w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            *px(img, 0, x, y) = (float)x / (w - 1);
            *px(img, 1, x, y) = (float)y / (h - 1);
            *px(img, 2, x, y) = (float)(x + y) / (w + h - 2);
        }
}

static void stripes(nst_image *img, int w, int h)
{
    nst_image_alloc(img, w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) *px(img, c, x, y) = ((x / 3 + c) % 2) ? 0.9f : 0.1f;
}

/* Uniform in [lo, hi): a small LCG so every run sees the same pixels. */
static float uniform(uint64_t *state, float lo, float hi)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((*state >> 40) / 16777216.0);
}

static void noise(nst_image *img, int w, int h, float lo, float hi, uint64_t seed)
{
    nst_image_alloc(img, w, h);
    for (size_t i = 0; i < (size_t)3 * w * h; i++) img->data[i] = uniform(&seed, lo, hi);
}

static double max_diff(const nst_image *a, const nst_image *b)
{
    double worst = 0;
    for (size_t i = 0; i < (size_t)3 * a->w * a->h; i++)
        worst = fmax(worst, fabs(a->data[i] - b->data[i]));
    return worst;
}

static const char *tmp_dir(void)
{
    const char *dir = getenv("NST_TEST_TMP");
    return dir && *dir ? dir : "/tmp";
}

/* A PNG signature and IHDR chunk declaring w×h RGB (CRC left zero: the
 * decoder does not check it). */
static void png_header(unsigned char b[33], unsigned w, unsigned h)
{
    static const unsigned char start[16] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                            0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    memset(b, 0, 33);
    memcpy(b, start, sizeof start);
    for (int i = 0; i < 4; i++) {
        b[16 + i] = (unsigned char)(w >> (24 - 8 * i));
        b[20 + i] = (unsigned char)(h >> (24 - 8 * i));
    }
    b[24] = 8; /* bit depth */
    b[25] = 2; /* RGB */
}

/* ------------------------------------------------------------ allocation */

static void test_alloc_copy(void)
{
    nst_image a, b;
    CHECK(nst_image_alloc(&a, 0, 5) == NST_EINVAL && a.data == NULL, "empty image");
    CHECK(nst_image_alloc(&a, 5, -1) == NST_EINVAL, "negative size");
    CHECK(nst_image_alloc(&a, 4, 3) == NST_OK && a.w == 4 && a.h == 3, "alloc");
    int zero = 1;
    for (int i = 0; i < 36; i++) zero &= a.data[i] == 0.0f;
    CHECK(zero, "alloc zeroes");
    a.data[35] = 0.5f;
    CHECK(nst_image_copy(&b, &a) == NST_OK && b.w == 4 && b.h == 3 && b.data != a.data, "copy");
    CHECK(b.data && b.data[35] == 0.5f, "copied pixels");
    nst_image_free(&a);
    nst_image_free(&a); /* twice is harmless */
    nst_image_free(&b);
    CHECK(a.data == NULL && a.w == 0, "freed");
}

/* ------------------------------------------------------------ encode, decode */

static void test_png_round_trip(void)
{
    nst_image in[3], out;
    gradient(&in[0], 37, 23);
    stripes(&in[1], 20, 9);
    noise(&in[2], 64, 48, 0, 1, 1);
    for (int k = 0; k < 3; k++) {
        unsigned char *png;
        size_t len;
        nst_error err = {0};
        CHECK(nst_image_encode_png(&in[k], &png, &len) == NST_OK && len > 8, "encode %d", k);
        int rc = nst_image_decode(png, len, 0, &out, &err);
        CHECK(rc == NST_OK, "decode %d: %s", k, err.message);
        if (rc == NST_OK) {
            CHECK(out.w == in[k].w && out.h == in[k].h, "size %dx%d", out.w, out.h);
            CHECK(max_diff(&out, &in[k]) <= 0.5 / 255 + 1e-6, "image %d differs by %g", k,
                  max_diff(&out, &in[k]));
        }
        nst_image_free(&out);
        free(png);
        nst_image_free(&in[k]);
    }
}

static void test_png_clamps(void)
{
    nst_image img, out;
    nst_image_alloc(&img, 2, 1);
    float v[6] = {-3.0f, 7.0f, NAN, 0.5f, 1.0f, 0.0f};
    memcpy(img.data, v, sizeof v);
    unsigned char *png;
    size_t len;
    CHECK(nst_image_encode_png(&img, &png, &len) == NST_OK, "encode");
    CHECK(nst_image_decode(png, len, 0, &out, NULL) == NST_OK, "decode");
    CHECK(out.data[0] == 0.0f && out.data[1] == 1.0f && out.data[2] == 0.0f, "clamped");
    CHECK_CLOSE(out.data[3], 128 / 255.0, 1e-6);
    free(png);
    nst_image_free(&out);
    nst_image_free(&img);
}

static void test_png_deterministic(void)
{
    nst_image a, b;
    noise(&a, 50, 31, 0, 1, 7);
    nst_image_copy(&b, &a);
    unsigned char *p1, *p2;
    size_t n1, n2;
    CHECK(nst_image_encode_png(&a, &p1, &n1) == NST_OK, "encode");
    CHECK(nst_image_encode_png(&b, &p2, &n2) == NST_OK, "encode again");
    CHECK(n1 == n2 && memcmp(p1, p2, n1) == 0, "PNG bytes differ (%zu, %zu)", n1, n2);
    CHECK(memcmp(p1, "\x89PNG\r\n\x1a\n", 8) == 0, "PNG signature");
    free(p1);
    free(p2);
    nst_image_free(&a);
    nst_image_free(&b);
}

/* stb_image_write appends to a buffer. */
typedef struct {
    unsigned char data[1 << 16];
    size_t len;
} mem_file;

static void mem_write(void *ctx, void *data, int size)
{
    mem_file *f = ctx;
    if (f->len + (size_t)size <= sizeof f->data) memcpy(f->data + f->len, data, (size_t)size);
    f->len += (size_t)size;
}

static void test_jpeg(void)
{
    enum { W = 40, H = 30 };
    unsigned char rgb[W * H * 3];
    nst_image ref, out;
    gradient(&ref, W, H);
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++)
            rgb[3 * i + c] = (unsigned char)(ref.data[c * W * H + i] * 255 + 0.5f);
    static mem_file f;
    f.len = 0;
    int ok = stbi_write_jpg_to_func(mem_write, &f, W, H, 3, rgb, 95);
    CHECK(ok && f.len <= sizeof f.data, "write JPEG");
    nst_error err = {0};
    int rc = nst_image_decode(f.data, f.len, 0, &out, &err);
    CHECK(rc == NST_OK, "JPEG: %s", err.message);
    if (rc == NST_OK) {
        CHECK(out.w == W && out.h == H && max_diff(&out, &ref) <= 0.06, /* q95 */
              "JPEG differs by %g", max_diff(&out, &ref));
        nst_image_free(&out);
    }
    nst_image_free(&ref);
}

/* ------------------------------------------------------------ EXIF orientation */

/* The test picture for orientations: grey, a red 16x16 block in the stored
 * top-left corner and a green one in the stored top-right corner, as a
 * 48x32 JPEG (quality 95: no chroma subsampling, blocks on the 8x8 grid). */
enum { OW = 48, OH = 32 };

static void corners_jpeg(mem_file *f)
{
    static unsigned char rgb[OW * OH * 3];
    for (int y = 0; y < OH; y++)
        for (int x = 0; x < OW; x++) {
            unsigned char *p = &rgb[3 * (y * OW + x)];
            int red = y < 16 && x < 16, green = y < 16 && x >= OW - 16;
            p[0] = red ? 255 : green ? 0 : 128;
            p[1] = green ? 255 : red ? 0 : 128;
            p[2] = red || green ? 0 : 128;
        }
    f->len = 0;
    CHECK(stbi_write_jpg_to_func(mem_write, f, OW, OH, 3, rgb, 95) && f->len <= sizeof f->data,
          "write JPEG");
}

static void put16(unsigned char *b, int big, unsigned v)
{
    b[big ? 0 : 1] = (unsigned char)(v >> 8);
    b[big ? 1 : 0] = (unsigned char)v;
}

static void put32(unsigned char *b, int big, unsigned long v)
{
    put16(b + (big ? 0 : 2), big, (unsigned)(v >> 16));
    put16(b + (big ? 2 : 0), big, (unsigned)(v & 0xffff));
}

/* An APP1 Exif segment (48 bytes) in Motorola (big) or Intel byte order:
 * TIFF header, IFD0 at `ifd` (8: right after the header) with a Make tag
 * and then Orientation = orientation. */
static size_t exif_segment(unsigned char *b, int big, unsigned orientation, unsigned long ifd)
{
    unsigned char *t = b + 10; /* the TIFF header */
    memset(b, 0, 48);
    memcpy(b, "\xff\xe1\x00\x2e" "Exif\0\0", 10);
    memcpy(t, big ? "MM" : "II", 2);
    put16(t + 2, big, 42);
    put32(t + 4, big, ifd);
    put16(t + 8, big, 2);                               /* entries */
    put16(t + 10, big, 0x010f);                         /* Make, */
    put16(t + 12, big, 2);                              /* ASCII, */
    put32(t + 14, big, 4);                              /* 4 bytes, */
    memcpy(t + 18, "nst", 4);                           /* inline */
    put16(t + 22, big, 0x0112);                         /* Orientation, */
    put16(t + 24, big, 3);                              /* SHORT, */
    put32(t + 26, big, 1);                              /* one, */
    put16(t + 30, big, orientation);                    /* left-justified */
    put32(t + 34, big, 0);                              /* no IFD1 */
    return 48;
}

/* jpeg with `seg` (n bytes) inserted after its first `at` bytes. */
static unsigned char *splice(const mem_file *jpeg, size_t at, const unsigned char *seg, size_t n,
                             size_t *len)
{
    *len = jpeg->len + n;
    unsigned char *b = malloc(*len); /* exact size: reads past it are caught */
    memcpy(b, jpeg->data, at);
    memcpy(b + at, seg, n);
    memcpy(b + at + n, jpeg->data + at, jpeg->len - at);
    return b;
}

/* 'R' red, 'G' green, '.' grey: the colour around (x, y). */
static char colour_at(nst_image *img, int x, int y)
{
    float r = *px(img, 0, x, y), g = *px(img, 1, x, y), b = *px(img, 2, x, y);
    if (r > 0.85f && g < 0.2f && b < 0.2f) return 'R';
    if (g > 0.85f && r < 0.2f && b < 0.2f) return 'G';
    if (fabsf(r - 0.5f) < 0.1f && fabsf(g - 0.5f) < 0.1f && fabsf(b - 0.5f) < 0.1f) return '.';
    return '?';
}

/* The colours at the centres of the four 16x16 corners: TL, TR, BL, BR. */
static void corners(nst_image *img, char out[5])
{
    int l = 8, t = 8, r = img->w - 9, b = img->h - 9;
    out[0] = colour_at(img, l, t);
    out[1] = colour_at(img, r, t);
    out[2] = colour_at(img, l, b);
    out[3] = colour_at(img, r, b);
    out[4] = '\0';
}

static void test_exif_orientation(void)
{
    /* where the stored top-left red and top-right green corners show, as
     * TL TR BL BR, for orientations 1..8 (5..8 swap width and height) */
    static const char *const want[9] = {NULL,   "RG..", "GR..", "..GR", "..RG",
                                        "R.G.", ".R.G", ".G.R", "G.R."};
    static mem_file f;
    corners_jpeg(&f);
    nst_image out;
    char got[5];
    CHECK(nst_image_decode(f.data, f.len, 0, &out, NULL) == NST_OK, "decode without Exif");
    corners(&out, got);
    CHECK(strcmp(got, want[1]) == 0, "no Exif: corners %s", got);
    nst_image_free(&out);

    for (int big = 0; big < 2; big++)
        for (unsigned o = 1; o <= 8; o++)
            for (int after_app0 = 0; after_app0 < 2; after_app0++) {
                unsigned char seg[48];
                size_t n = exif_segment(seg, big, o, 8), len;
                size_t at = after_app0 ? 4 + ((size_t)f.data[4] << 8 | f.data[5]) : 2;
                unsigned char *jpeg = splice(&f, at, seg, n, &len);
                nst_error err = {0};
                int w = 0, h = 0, swap = o >= 5;
                int rc = nst_image_probe(jpeg, len, 0, &w, &h, &err);
                CHECK(rc == NST_OK && w == (swap ? OH : OW) && h == (swap ? OW : OH),
                      "%s orientation %u: probe %dx%d: %s", big ? "MM" : "II", o, w, h,
                      err.message);
                rc = nst_image_decode(jpeg, len, 0, &out, &err);
                CHECK(rc == NST_OK, "%s orientation %u: %s", big ? "MM" : "II", o, err.message);
                if (rc == NST_OK) {
                    CHECK(out.w == w && out.h == h, "orientation %u: %dx%d", o, out.w, out.h);
                    corners(&out, got);
                    CHECK(strcmp(got, want[o]) == 0, "%s orientation %u: corners %s, want %s",
                          big ? "MM" : "II", o, got, want[o]);
                    if (o == 6 && !big && !after_app0) { /* to look at */
                        char path[1024];
                        snprintf(path, sizeof path, "%s/nst_test_orientation6.png", tmp_dir());
                        nst_image_save_png(&out, path, NULL);
                    }
                    nst_image_free(&out);
                }
                free(jpeg);
            }
}

/* Exif that is wrong or lies is ignored (the image stays as stored), and
 * no cut of a JPEG carrying it reads past the end. */
static void test_exif_malformed(void)
{
    static mem_file f;
    corners_jpeg(&f);
    struct {
        const char *what;
        unsigned orientation;
        unsigned long ifd;
        int patch_at, patch; /* a byte of the segment to overwrite (at 0: none) */
    } cases[] = {
        {"orientation 0", 0, 8, 0, 0},
        {"orientation 9", 9, 8, 0, 0},
        {"orientation 0x106", 0x106, 8, 0, 0},
        {"IFD past the end", 6, 0xfffffff0ul, 0, 0},
        {"IFD inside the header", 6, 4, 0, 0},
        {"IFD at the segment's last byte", 6, 37, 0, 0},
        {"entry count past the end", 6, 8, 18 + 1, 0x7f}, /* II: high byte of count */
        {"orientation as LONG", 6, 8, 10 + 24, 4},
        {"orientation count 2", 6, 8, 10 + 26, 2},
        {"byte order XX", 6, 8, 10, 'X'},
        {"TIFF magic 43", 6, 8, 12, 43},
        {"not Exif", 6, 8, 4, 'e'},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char seg[48];
        size_t n = exif_segment(seg, 0, cases[i].orientation, cases[i].ifd), len;
        if (cases[i].patch_at) seg[cases[i].patch_at] = (unsigned char)cases[i].patch;
        unsigned char *jpeg = splice(&f, 2, seg, n, &len);
        nst_image out;
        nst_error err = {0};
        int rc = nst_image_decode(jpeg, len, 0, &out, &err);
        CHECK(rc == NST_OK, "%s: %s", cases[i].what, err.message);
        if (rc == NST_OK) {
            char got[5];
            corners(&out, got);
            CHECK(out.w == OW && strcmp(got, "RG..") == 0, "%s: %dx%d, corners %s",
                  cases[i].what, out.w, out.h, got);
            nst_image_free(&out);
        }
        free(jpeg);
    }

    /* an Exif segment that is only a TIFF header, its IFD0 offset pointing
     * past the segment's end into the next (APP2) segment, which holds a
     * valid IFD with orientation 6: not followed */
    static const unsigned char outside[] = {
        0xff, 0xe1, 0, 16, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 12, 0, 0, 0,
        0xff, 0xe2, 0, 20, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0};
    size_t len;
    unsigned char *jpeg = splice(&f, 2, outside, sizeof outside, &len);
    nst_image out;
    nst_error err = {0};
    int rc = nst_image_decode(jpeg, len, 0, &out, &err);
    CHECK(rc == NST_OK && out.w == OW, "IFD beyond its segment: rc %d, %dx%d: %s", rc, out.w,
          out.h, err.message);
    nst_image_free(&out);
    free(jpeg);

    /* every cut of a JPEG with Exif (MM, orientation 8) */
    unsigned char seg[48];
    size_t n = exif_segment(seg, 1, 8, 8), full;
    jpeg = splice(&f, 2, seg, n, &full);
    int bad = 0;
    for (size_t cut = 1; cut < full; cut++) {
        unsigned char *part = malloc(cut);
        memcpy(part, jpeg, cut);
        rc = nst_image_decode(part, cut, 0, &out, NULL);
        if (!(rc == NST_OK || rc == NST_EIMAGE) || (rc == NST_OK && out.w != OH)) bad++;
        nst_image_free(&out);
        free(part);
    }
    CHECK(bad == 0, "%d cuts of a JPEG with Exif misbehaved", bad);
    free(jpeg);
}

/* A Huffman table of more than 256 codes is refused before stb_image 2.27
 * reads it (it would write past its tables), wherever the DHT segment is. */
static void test_jpeg_huffman_overflow(void)
{
    static mem_file f;
    corners_jpeg(&f);
    size_t dht = 0;
    for (size_t i = 2; i + 1 < f.len && !dht; i++)
        if (f.data[i] == 0xff && f.data[i + 1] == 0xc4) dht = i;
    CHECK(dht > 0, "no DHT segment");
    for (int where = 0; where < 2 && dht; where++) {
        size_t len = f.len;
        unsigned char *jpeg = malloc(len);
        memcpy(jpeg, f.data, len);
        jpeg[dht + 5 + 14] = 255; /* counts of the first table: 16 + 255 + 255 codes */
        jpeg[dht + 5 + 15] = 255;
        if (where == 1) { /* the broken table in a DHT after the scan's FF-stuffed data */
            free(jpeg);
            static const unsigned char tail[] = {0xff, 0x00, 0xff, 0xc4, 0x00, 0x13, 0x00, 0, 0,
                                                 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            len = f.len + sizeof tail;
            jpeg = malloc(len);
            memcpy(jpeg, f.data, f.len - 2); /* before EOI */
            memcpy(jpeg + f.len - 2, tail, sizeof tail);
            jpeg[len - 2] = 0xff, jpeg[len - 1] = 0xd9;
            jpeg[f.len - 2 + sizeof tail - 4] = 200; /* 200 + 200 codes */
            jpeg[f.len - 2 + sizeof tail - 3] = 200;
        }
        nst_image out;
        nst_error err = {0};
        int rc = nst_image_decode(jpeg, len, 0, &out, &err);
        CHECK(rc == NST_EIMAGE && out.data == NULL && strstr(err.message, "bad DHT header"),
              "%s: rc %d: %s", where ? "after the scan" : "in the header", rc, err.message);
        nst_image_free(&out);
        free(jpeg);
    }
}

/* A PNG chunk declaring more data than the file holds is refused before
 * stb_image reserves memory for it. */
static void test_png_chunk_past_end(void)
{
    nst_image img, out;
    gradient(&img, 8, 8);
    unsigned char *png;
    size_t len;
    nst_image_encode_png(&img, &png, &len);
    size_t idat = 8;
    while (idat + 8 <= len && memcmp(png + idat + 4, "IDAT", 4) != 0)
        idat += 12 + ((size_t)png[idat] << 24 | png[idat + 1] << 16 | png[idat + 2] << 8 | png[idat + 3]);
    CHECK(idat + 8 <= len, "no IDAT");
    png[idat] = 0x7f; /* about 2 GiB */
    nst_error err = {0};
    int rc = nst_image_decode(png, len, 0, &out, &err);
    CHECK(rc == NST_EIMAGE && out.data == NULL && strstr(err.message, "past the end"),
          "rc %d: %s", rc, err.message);
    free(png);
    nst_image_free(&img);
}

/* ------------------------------------------------------------ alpha */

/* Transparent pixels are composited on white, whatever colour they hold. */
static void test_alpha_on_white(void)
{
    static mem_file f;
    /* RGBA: transparent red, half-transparent black, opaque blue */
    static const unsigned char rgba[] = {255, 0, 0, 0, 0, 0, 0, 128, 0, 0, 255, 255};
    f.len = 0;
    CHECK(stbi_write_png_to_func(mem_write, &f, 3, 1, 4, rgba, 12), "write RGBA PNG");
    nst_image out;
    nst_error err = {0};
    int rc = nst_image_decode(f.data, f.len, 0, &out, &err);
    CHECK(rc == NST_OK && out.w == 3 && out.h == 1, "RGBA: %s", err.message);
    if (rc == NST_OK) {
        for (int c = 0; c < 3; c++) {
            CHECK(*px(&out, c, 0, 0) == 1.0f, "transparent red: channel %d is %g, not white", c,
                  *px(&out, c, 0, 0));
            CHECK(fabsf(*px(&out, c, 1, 0) - 127 / 255.0f) < 1e-6f,
                  "half-transparent black: channel %d is %g, not mid grey", c,
                  *px(&out, c, 1, 0));
            CHECK(*px(&out, c, 2, 0) == (c == 2 ? 1.0f : 0.0f), "opaque blue: channel %d %g", c,
                  *px(&out, c, 2, 0));
        }
        nst_image_free(&out);
    }
    /* grey + alpha: a transparent black pixel and an opaque one */
    static const unsigned char ga[] = {0, 0, 0, 255};
    f.len = 0;
    CHECK(stbi_write_png_to_func(mem_write, &f, 2, 1, 2, ga, 4), "write grey-alpha PNG");
    rc = nst_image_decode(f.data, f.len, 0, &out, &err);
    CHECK(rc == NST_OK, "grey-alpha: %s", err.message);
    if (rc == NST_OK) {
        CHECK(out.data[0] == 1.0f && out.data[2] == 1.0f && out.data[4] == 1.0f,
              "transparent black is (%g %g %g), not white", out.data[0], out.data[2],
              out.data[4]);
        CHECK(out.data[1] == 0.0f && out.data[5] == 0.0f, "opaque black");
        nst_image_free(&out);
    }
}

static void test_save_load(void)
{
    char path[1024], missing[1024];
    snprintf(path, sizeof path, "%s/nst_test_image_%d.png", tmp_dir(), (int)getpid());
    snprintf(missing, sizeof missing, "%s/nst_no_such_dir/x.png", tmp_dir());
    nst_image img, back;
    nst_error err = {0};
    gradient(&img, 33, 17);
    CHECK(nst_image_save_png(&img, path, &err) == NST_OK, "save: %s", err.message);
    CHECK(nst_image_save_png(&img, path, &err) == NST_OK, "overwrite: %s", err.message);
    int rc = nst_image_load(path, 0, &back, &err);
    CHECK(rc == NST_OK, "load: %s", err.message);
    if (rc == NST_OK) CHECK(max_diff(&img, &back) <= 0.5 / 255 + 1e-6, "loaded pixels");
    nst_image_free(&back);

    DIR *d = opendir(tmp_dir()); /* no temporary file left behind */
    const char *base = strrchr(path, '/') + 1;
    for (struct dirent *e; d && (e = readdir(d));)
        CHECK(!(strncmp(e->d_name, base, strlen(base)) == 0 && strstr(e->d_name, ".tmp")),
              "left over: %s", e->d_name);
    if (d) closedir(d);
    unlink(path);

    CHECK(nst_image_load(missing, 0, &back, &err) == NST_EIO && err.code == NST_EIO, "missing");
    CHECK(strstr(err.message, missing) != NULL, "message names the path: %s", err.message);
    CHECK(nst_image_save_png(&img, missing, &err) == NST_EIO, "unwritable");
    CHECK(strstr(err.message, missing) != NULL, "message names the path: %s", err.message);
    nst_image_free(&img);
}

/* ------------------------------------------------------------ bad input */

static void test_probe_too_big(void)
{
    unsigned char png[33];
    nst_error err = {0};
    nst_image out;
    int w = 0, h = 0;
    png_header(png, 100000, 100000);
    int rc = nst_image_probe(png, sizeof png, 4L << 20, &w, &h, &err);
    CHECK(rc == NST_ETOOBIG && err.code == NST_ETOOBIG, "rc %d: %s", rc, err.message);
    CHECK(strstr(err.message, "100000x100000") && strstr(err.message, "4194304"), "%s",
          err.message);
    CHECK(nst_image_decode(png, sizeof png, 4L << 20, &out, &err) == NST_ETOOBIG &&
              out.data == NULL, "decode refuses too");
    rc = nst_image_decode(png, sizeof png, 0, &out, &err); /* no limit: still no crash */
    CHECK(rc != NST_OK && out.data == NULL, "rc %d", rc);

    png_header(png, 3000, 2000);
    CHECK(nst_image_probe(png, sizeof png, 0, &w, &h, &err) == NST_OK && w == 3000 && h == 2000,
          "header only: %s", err.message);
    CHECK(nst_image_probe(png, sizeof png, 6000000, &w, &h, &err) == NST_OK, "at the limit");
    CHECK(nst_image_probe(png, sizeof png, 5999999, &w, &h, &err) == NST_ETOOBIG, "over by one");

    /* a JPEG start-of-frame declaring 65000×60000 */
    static const unsigned char jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00,
                                         0xff, 0xc0, 0x00, 0x11, 0x08, 0xea, 0x60, 0xfd,
                                         0xe8, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01,
                                         0x03, 0x11, 0x01, 0xff, 0xd9};
    rc = nst_image_probe(jpeg, sizeof jpeg, 4L << 20, &w, &h, &err);
    CHECK(rc == NST_ETOOBIG && strstr(err.message, "65000x60000"), "JPEG: %s", err.message);
}

static void test_not_an_image(void)
{
    static const char *const texts[] = {"hello, world", "{\"alpha\": 1}", "BM", "BMW 320i",
                                        "\x89PNG\r\n\x1a\n", "RIFF", "II*"};
    nst_image out;
    nst_error err = {0};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int rc = nst_image_decode(texts[i], strlen(texts[i]), 0, &out, &err);
        CHECK(rc == NST_EIMAGE && err.code == NST_EIMAGE && out.data == NULL, "\"%s\": rc %d",
              texts[i], rc);
        CHECK(err.message[0] != '\0', "a reason");
    }
    CHECK(nst_image_decode("", 0, 0, &out, &err) == NST_EIMAGE, "empty");
    uint64_t seed = 3;
    unsigned char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(uniform(&seed, 0, 256));
    CHECK(nst_image_decode(junk, sizeof junk, 0, &out, &err) == NST_EIMAGE, "noise bytes");
}

/* Only PNG and JPEG are read: other image formats are recognised and
 * refused by name, with NST_EFORMAT, before any decoding. */
static void test_refused_formats(void)
{
    static const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0,
                                        0xff, 0, 0, 0, 0, 0xff, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0,
                                        2, 2, 0x44, 1, 0, 0x3b};
    static const unsigned char webp[] = "RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0";
    static const unsigned char tiff_ii[] = "II*\0\x08\0\0\0\0\0\0\0";
    static const unsigned char tiff_mm[] = "MM\0*\0\0\0\x08\0\0\0\0";
    static const unsigned char heic[] = "\0\0\0\x18" "ftypheic\0\0\0\0mif1heic";
    static const unsigned char avif[] = "\0\0\0\x1c" "ftypavif\0\0\0\0avifmif1miaf";
    static mem_file bmp;
    static const unsigned char rgb[2 * 2 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9};
    bmp.len = 0;
    CHECK(stbi_write_bmp_to_func(mem_write, &bmp, 2, 2, 3, rgb), "write BMP");
    struct {
        const char *name;
        const void *data;
        size_t len;
    } cases[] = {
        {"GIF", gif, sizeof gif},         {"BMP", bmp.data, bmp.len},
        {"WebP", webp, sizeof webp - 1},  {"TIFF", tiff_ii, sizeof tiff_ii - 1},
        {"TIFF", tiff_mm, sizeof tiff_mm - 1}, {"HEIF", heic, sizeof heic - 1},
        {"AVIF", avif, sizeof avif - 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nst_image out;
        nst_error err = {0};
        int w = -1, h = -1;
        int rc = nst_image_probe(cases[i].data, cases[i].len, 0, &w, &h, &err);
        CHECK(rc == NST_EFORMAT && err.code == NST_EFORMAT, "probe %s: rc %d: %s", cases[i].name,
              rc, err.message);
        rc = nst_image_decode(cases[i].data, cases[i].len, 0, &out, &err);
        CHECK(rc == NST_EFORMAT && err.code == NST_EFORMAT && out.data == NULL,
              "decode %s: rc %d: %s", cases[i].name, rc, err.message);
        CHECK(strstr(err.message, cases[i].name) && strstr(err.message, "PNG") &&
                  strstr(err.message, "JPEG"),
              "%s: the message names neither it nor the accepted formats: %s", cases[i].name,
              err.message);
        nst_image_free(&out);
    }
    CHECK(strcmp(nst_strerror(NST_EFORMAT), "unsupported image format") == 0, "%s",
          nst_strerror(NST_EFORMAT));
}

/* A side longer than NST_IMAGE_MAX_SIDE is refused from the header, even
 * with no pixel limit. */
static void test_max_side(void)
{
    unsigned char png[33];
    nst_error err = {0};
    nst_image out;
    int w = 0, h = 0;
    CHECK(NST_IMAGE_MAX_SIDE == 16384, "%d", NST_IMAGE_MAX_SIDE);
    png_header(png, NST_IMAGE_MAX_SIDE + 1, 10);
    int rc = nst_image_probe(png, sizeof png, 0, &w, &h, &err);
    CHECK(rc == NST_ETOOBIG && strstr(err.message, "16385x10") && strstr(err.message, "16384"),
          "rc %d: %s", rc, err.message);
    CHECK(nst_image_decode(png, sizeof png, 0, &out, &err) == NST_ETOOBIG && out.data == NULL,
          "decode: %s", err.message);
    png_header(png, 10, NST_IMAGE_MAX_SIDE + 1);
    CHECK(nst_image_probe(png, sizeof png, 0, &w, &h, &err) == NST_ETOOBIG, "tall: %s",
          err.message);
    png_header(png, NST_IMAGE_MAX_SIDE, 1);
    CHECK(nst_image_probe(png, sizeof png, 0, &w, &h, &err) == NST_OK && w == NST_IMAGE_MAX_SIDE,
          "at the limit: %s", err.message);
}

static void test_truncated(void)
{
    nst_image img, out;
    noise(&img, 24, 16, 0, 1, 5);
    unsigned char *png;
    size_t len;
    nst_image_encode_png(&img, &png, &len);
    /* every cut short of the final CRC (not checked: all the data is there) */
    int bad = 0;
    for (size_t cut = 1; cut < len - 4; cut++) {
        nst_error err = {0};
        unsigned char *part = malloc(cut); /* exact size: reads past it are caught */
        memcpy(part, png, cut);
        int rc = nst_image_decode(part, cut, 0, &out, &err);
        if (rc != NST_EIMAGE || out.data != NULL) bad++;
        nst_image_free(&out);
        free(part);
    }
    CHECK(bad == 0, "%d of %zu truncations were not refused", bad, len - 5);
    free(png);

    /* the JPEG decoder may fill a cut-off tail; it must not crash */
    static mem_file f;
    unsigned char rgb[24 * 16 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (unsigned char)(img.data[i] * 255);
    f.len = 0;
    stbi_write_jpg_to_func(mem_write, &f, 24, 16, 3, rgb, 90);
    for (size_t cut = 1; cut < f.len && f.len <= sizeof f.data; cut++) {
        unsigned char *part = malloc(cut);
        memcpy(part, f.data, cut);
        int rc = nst_image_decode(part, cut, 0, &out, NULL);
        CHECK(rc == NST_OK || rc == NST_EIMAGE, "rc %d", rc);
        nst_image_free(&out);
        free(part);
    }
    nst_image_free(&img);
}

/* ------------------------------------------------------------ resize */

static void test_resize_fit(void)
{
    nst_image in, out;
    gradient(&in, 200, 100);
    CHECK(nst_image_fit(&in, 50, &out) == NST_OK && out.w == 50 && out.h == 25, "%dx%d", out.w,
          out.h);
    double lo = 1, hi = 0;
    for (size_t i = 0; i < (size_t)3 * out.w * out.h; i++)
        lo = fmin(lo, out.data[i]), hi = fmax(hi, out.data[i]);
    CHECK(lo >= 0 && hi <= 1 && hi > 0.9, "range [%g, %g]", lo, hi);
    CHECK_CLOSE(*px(&out, 0, 25, 12), 0.5, 0.03); /* the middle stays the middle */
    nst_image_free(&out);
    nst_image_free(&in);

    gradient(&in, 90, 301);
    CHECK(nst_image_fit(&in, 512, &out) == NST_OK && out.h == 512 && out.w == 153, "%dx%d",
          out.w, out.h);
    nst_image_free(&out);
    nst_image_free(&in);

    stripes(&in, 1000, 3);
    CHECK(nst_image_fit(&in, 100, &out) == NST_OK && out.w == 100 && out.h == 1, "%dx%d", out.w,
          out.h);
    nst_image_free(&out);
    CHECK(nst_image_resize(&in, 1000, 3, &out) == NST_OK && max_diff(&in, &out) == 0, "same size");
    nst_image_free(&out);
    CHECK(nst_image_resize(&in, 0, 3, &out) == NST_EINVAL, "zero width");
    CHECK(nst_image_fit(&in, 0, &out) == NST_EINVAL, "zero size");
    nst_image_free(&in);
}

/* ------------------------------------------------------------ colours */

static void yiq(const nst_image *img, int i, double out[3])
{
    size_t n = (size_t)img->w * img->h;
    double r = img->data[i], g = img->data[n + i], b = img->data[2 * n + i];
    out[0] = 0.299 * r + 0.587 * g + 0.114 * b;
    out[1] = 0.595716 * r - 0.274453 * g - 0.321263 * b;
    out[2] = 0.211456 * r - 0.522591 * g + 0.311135 * b;
}

static void test_luminance(void)
{
    nst_image img, before, colors;
    noise(&img, 32, 24, 0.3f, 0.7f, 11);
    noise(&colors, 32, 24, 0.35f, 0.65f, 12);
    nst_image_copy(&before, &img);
    nst_colors_luminance(&img, &colors);
    double worst_y = 0, worst_iq = 0;
    for (int i = 0; i < 32 * 24; i++) {
        double a[3], b[3], c[3];
        yiq(&img, i, a);
        yiq(&before, i, b);
        yiq(&colors, i, c);
        worst_y = fmax(worst_y, fabs(a[0] - b[0]));
        worst_iq = fmax(worst_iq, fmax(fabs(a[1] - c[1]), fabs(a[2] - c[2])));
    }
    CHECK(worst_y < 1e-5, "luminance moved by %g", worst_y);
    CHECK(worst_iq < 1e-5, "chroma differs by %g", worst_iq);
    nst_image_free(&colors);

    gradient(&colors, 64, 64); /* another size: resampled, no crash */
    nst_colors_luminance(&img, &colors);
    double lo = 1, hi = 0;
    for (int i = 0; i < 3 * 32 * 24; i++) lo = fmin(lo, img.data[i]), hi = fmax(hi, img.data[i]);
    CHECK(lo >= 0 && hi <= 1, "range [%g, %g]", lo, hi);
    nst_image_free(&colors);
    nst_image_free(&before);
    nst_image_free(&img);
}

static void stats(const nst_image *img, double mean[3], double cov[3][3])
{
    size_t n = (size_t)img->w * img->h;
    for (int c = 0; c < 3; c++) {
        mean[c] = 0;
        for (size_t i = 0; i < n; i++) mean[c] += img->data[c * n + i];
        mean[c] /= n;
    }
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            cov[a][b] = 0;
            for (size_t i = 0; i < n; i++)
                cov[a][b] += (img->data[a * n + i] - mean[a]) * (img->data[b * n + i] - mean[b]);
            cov[a][b] /= n;
        }
}

static void test_match(void)
{
    static const double m[3][3] = {{0.10, 0.02, 0.0}, {0.03, 0.08, 0.01}, {0.0, 0.04, 0.06}};
    static const double mu[3] = {0.5, 0.45, 0.55};
    nst_image img, colors;
    noise(&img, 60, 40, 0.4f, 0.6f, 21);
    noise(&colors, 50, 70, -1, 1, 22); /* correlated colours: mu + m u */
    size_t n = 50 * 70;
    for (size_t i = 0; i < n; i++) {
        double u[3] = {colors.data[i], colors.data[n + i], colors.data[2 * n + i]};
        for (int c = 0; c < 3; c++)
            colors.data[c * n + i] =
                (float)(mu[c] + m[c][0] * u[0] + m[c][1] * u[1] + m[c][2] * u[2]);
    }
    nst_colors_match(&img, &colors);
    double mi[3], mc[3], ci[3][3], cc[3][3];
    stats(&img, mi, ci);
    stats(&colors, mc, cc);
    for (int a = 0; a < 3; a++) {
        CHECK(fabs(mi[a] - mc[a]) < 1e-4, "mean %d: %g vs %g", a, mi[a], mc[a]);
        for (int b = 0; b < 3; b++)
            CHECK(fabs(ci[a][b] - cc[a][b]) < 3e-5 + 0.01 * fabs(cc[a][b]),
                  "cov[%d][%d]: %g vs %g", a, b, ci[a][b], cc[a][b]);
    }

    /* a flat image takes the target's mean and does not blow up */
    nst_image flat;
    nst_image_alloc(&flat, 10, 10);
    for (int i = 0; i < 300; i++) flat.data[i] = 0.3f;
    nst_colors_match(&flat, &colors);
    double worst = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 100; i++) worst = fmax(worst, fabs(flat.data[c * 100 + i] - mc[c]));
    CHECK(worst < 1e-4, "flat image off the target mean by %g", worst);
    nst_image_free(&flat);
    nst_image_free(&colors);
    nst_image_free(&img);
}

int main(void)
{
    TEST_RUN(test_alloc_copy);
    TEST_RUN(test_png_round_trip);
    TEST_RUN(test_png_clamps);
    TEST_RUN(test_png_deterministic);
    TEST_RUN(test_jpeg);
    TEST_RUN(test_exif_orientation);
    TEST_RUN(test_exif_malformed);
    TEST_RUN(test_jpeg_huffman_overflow);
    TEST_RUN(test_png_chunk_past_end);
    TEST_RUN(test_alpha_on_white);
    TEST_RUN(test_save_load);
    TEST_RUN(test_probe_too_big);
    TEST_RUN(test_not_an_image);
    TEST_RUN(test_refused_formats);
    TEST_RUN(test_max_side);
    TEST_RUN(test_truncated);
    TEST_RUN(test_resize_fit);
    TEST_RUN(test_luminance);
    TEST_RUN(test_match);
    return TEST_EXIT();
}
