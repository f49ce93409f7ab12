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

static void test_other_formats(void)
{
    enum { W = 40, H = 30 };
    unsigned char rgb[W * H * 3];
    nst_image ref, out;
    gradient(&ref, W, H);
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++)
            rgb[3 * i + c] = (unsigned char)(ref.data[c * W * H + i] * 255 + 0.5f);
    static mem_file f;
    for (int kind = 0; kind < 2; kind++) {
        f.len = 0;
        int ok = kind == 0 ? stbi_write_bmp_to_func(mem_write, &f, W, H, 3, rgb)
                           : stbi_write_jpg_to_func(mem_write, &f, W, H, 3, rgb, 95);
        CHECK(ok && f.len <= sizeof f.data, "write %s", kind ? "JPEG" : "BMP");
        nst_error err = {0};
        int rc = nst_image_decode(f.data, f.len, 0, &out, &err);
        CHECK(rc == NST_OK, "%s: %s", kind ? "JPEG" : "BMP", err.message);
        if (rc) continue;
        double tol = kind == 0 ? 0.5 / 255 + 1e-6 : 0.06; /* BMP lossless, JPEG q95 */
        CHECK(out.w == W && out.h == H && max_diff(&out, &ref) <= tol, "%s differs by %g",
              kind ? "JPEG" : "BMP", max_diff(&out, &ref));
        nst_image_free(&out);
    }
    nst_image_free(&ref);
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
    static const char *const texts[] = {"hello, world", "{\"alpha\": 1}", "BM", "GIF89a",
                                        "\x89PNG\r\n\x1a\n"};
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

    /* JPEG and BMP decoders may fill a cut-off tail; they must not crash */
    static mem_file f;
    unsigned char rgb[24 * 16 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (unsigned char)(img.data[i] * 255);
    for (int kind = 0; kind < 2; kind++) {
        f.len = 0;
        if (kind == 0) stbi_write_bmp_to_func(mem_write, &f, 24, 16, 3, rgb);
        else stbi_write_jpg_to_func(mem_write, &f, 24, 16, 3, rgb, 90);
        for (size_t cut = 1; cut < f.len && f.len <= sizeof f.data; cut++) {
            unsigned char *part = malloc(cut);
            memcpy(part, f.data, cut);
            int rc = nst_image_decode(part, cut, 0, &out, NULL);
            CHECK(rc == NST_OK || rc == NST_EIMAGE, "rc %d", rc);
            nst_image_free(&out);
            free(part);
        }
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
    TEST_RUN(test_other_formats);
    TEST_RUN(test_save_load);
    TEST_RUN(test_probe_too_big);
    TEST_RUN(test_not_an_image);
    TEST_RUN(test_truncated);
    TEST_RUN(test_resize_fit);
    TEST_RUN(test_luminance);
    TEST_RUN(test_match);
    return TEST_EXIT();
}
