/*
 * stbi.c — stb_image compiled into libnst (see stbi.h): its functions are
 * static here (STB_IMAGE_STATIC), so they neither clash with nor fall back
 * to the system's libstb, whose stb_image decodes every format it knows.
 */
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
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

int nst_stbi_info(const unsigned char *buf, int len, int *w, int *h, int *comp)
{
    return stbi_info_from_memory(buf, len, w, h, comp);
}

unsigned char *nst_stbi_load(const unsigned char *buf, int len, int *w, int *h, int channels)
{
    int comp;
    return stbi_load_from_memory(buf, len, w, h, &comp, channels);
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
