/*
 * stbi.c — stb_image compiled into libnst (see stbi.h): its functions are
 * static here (STB_IMAGE_STATIC), so they neither clash with nor fall back
 * to the system's libstb, whose stb_image decodes every format it knows.
 */
#include <stddef.h>
#include <string.h>

#include "nst.h"
#include "stbi.h"

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_GIF /* also drops the GIF declarations STBI_ONLY_* leaves */
#define STBI_NO_STDIO
#define STBI_MAX_DIMENSIONS NST_IMAGE_MAX_SIDE

/* stb declares a function it never defines (warned at the end of the
 * file, so not popped); its code also trips gcc's flow analysis. */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/* Under the fuzzers' sanitizers stb's own code is checked by
 * AddressSanitizer (no access outside an allocation) but not by
 * UndefinedBehaviorSanitizer: stb_image 2.27 has known undefined behaviour
 * on corrupt input that stays inside its own objects, fixed in 2.28 and not
 * ours to change: for an empty first IDAT chunk it adds 0 to, and
 * memcpy()s 0 bytes into, a NULL buffer; and on a corrupt JPEG its bit
 * reader lets its bit count go below zero, so it shifts a 32-bit value by
 * more than 31 and indexes a Huffman table of its decoder struct with a
 * negative symbol. The header compiled here has stb 2.28's checks for the
 * latter two applied (core/stb_patch.cmake: the negative symbol could also
 * read past the heap object); the exemption stays for what may remain of
 * 2.27's undefined behaviour inside its objects. Inputs that showed each
 * are in the fuzz corpus. */
#ifdef __clang__
#pragma clang attribute push(__attribute__((no_sanitize("undefined"))), apply_to = function)
#endif
#include <stb/stb_image.h>
#ifdef __clang__
#pragma clang attribute pop
#endif
#pragma GCC diagnostic pop

/* ---- guards for stb_image 2.27
 *
 * PNG: stb grows its buffer for a chunk's data to the length the chunk
 * declares (up to 2 GiB) before it finds the data missing, so a few bytes
 * of upload could make it allocate gigabytes. A chunk running past the end
 * of the file is refused here first; stb needs every chunk up to IEND, so
 * no PNG it could decode is lost.
 *
 * JPEG:
 * stb_image 2.27 (Debian's libstb-dev) trusts a DHT table's 16 code counts:
 * when they add up to more than 256 it writes past the table's size[257]
 * and values[256] arrays (fixed upstream in 2.28). Until the system's copy
 * has the fix, every table stb could read is checked here first and the
 * image refused as stb 2.28 would ("bad DHT header").
 *
 * stb takes a marker only right after a 0xff byte (fill bytes skipped),
 * so every DHT it could process starts at a pair ff c4. Before the first
 * scan the segments are walked as stb walks them (their lengths skip APPn
 * payloads such as Exif thumbnails and ICC profiles, whose bytes stb never
 * reads as markers); from the first scan on, or at anything the walk does
 * not expect, every ff c4 pair left is checked. */

static int get8(const unsigned char *b, size_t n, size_t i)
{
    return i < n ? b[i] : 0; /* stb reads 0s past the end */
}

/* The DHT segment whose length field is at i: 0 if a table, as stb reads
 * it, has more than 256 codes. */
static int dht_ok(const unsigned char *b, size_t n, size_t i)
{
    long left = (long)(get8(b, n, i) << 8 | get8(b, n, i + 1)) - 2;
    i += 2;
    while (left > 0 && i < n) {
        int q = get8(b, n, i++);
        if (q >> 4 > 1 || (q & 15) > 3) return 1; /* stb stops: bad DHT header */
        long codes = 0;
        for (int k = 0; k < 16; k++) codes += get8(b, n, i++);
        if (codes > 256) return 0;
        i += (size_t)codes;
        left -= 17 + codes;
    }
    return 1;
}

static int jpeg_tables_ok(const unsigned char *b, size_t n)
{
    size_t i = 2; /* after SOI */
    while (i < n) {
        if (b[i++] != 0xff) continue; /* stb skips bytes between segments */
        while (i < n && b[i] == 0xff) i++;
        if (i + 2 >= n) return 1;
        unsigned m = b[i++];
        if (m == 0xc4 && !dht_ok(b, n, i)) return 0;
        int with_length = m == 0xc4 || m == 0xdb || m == 0xdd || m == 0xfe ||
                          (m >= 0xe0 && m <= 0xef) || (m >= 0xc0 && m <= 0xcf && m != 0xc8);
        size_t seg = (size_t)b[i] << 8 | b[i + 1];
        if (!with_length || seg < 2) break; /* a scan, or not what stb walks */
        i += seg;
    }
    for (; i + 1 < n; i++) /* from the first scan on */
        if (b[i] == 0xff && b[i + 1] == 0xc4 && !dht_ok(b, n, i + 2)) return 0;
    return 1;
}

static int png_chunks_ok(const unsigned char *b, size_t n)
{
    for (size_t i = 8; i + 8 <= n;) {
        size_t len = (size_t)b[i] << 24 | (size_t)b[i + 1] << 16 | (size_t)b[i + 2] << 8 | b[i + 3];
        if (memcmp(b + i + 4, "IEND", 4) == 0) return 1;
        if (len > n - i - 8) return 0;
        i += 8 + len + 4; /* header, data, CRC */
    }
    return 1; /* truncated between chunks: stb finds no IEND */
}

static int guard(const unsigned char *buf, int len)
{
    if (len >= 2 && buf[0] == 0xff && buf[1] == 0xd8 && !jpeg_tables_ok(buf, (size_t)len))
        return stbi__err("bad DHT header", "Corrupt JPEG");
    if (len >= 8 && memcmp(buf, "\x89PNG", 4) == 0 && !png_chunks_ok(buf, (size_t)len))
        return stbi__err("chunk past the end of the file", "Corrupt PNG");
    return 1;
}

/* ---- the calls */

int nst_stbi_info(const unsigned char *buf, int len, int *w, int *h, int *comp)
{
    return guard(buf, len) && stbi_info_from_memory(buf, len, w, h, comp);
}

unsigned char *nst_stbi_load(const unsigned char *buf, int len, int *w, int *h, int channels)
{
    int comp;
    return guard(buf, len) ? stbi_load_from_memory(buf, len, w, h, &comp, channels) : NULL;
}

void nst_stbi_free(void *pixels)
{
    stbi_image_free(pixels);
}

const char *nst_stbi_reason(void)
{
    const char *r = stbi_failure_reason();
    return r ? r : "unknown reason";
}
