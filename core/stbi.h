/*
 * stbi.h — the image decoder libnst ships (stbi.c): stb_image built into
 * libnst with only its PNG and JPEG decoders, so no other format's decoder
 * is reachable from an upload, and with no side longer than
 * NST_IMAGE_MAX_SIDE (stb's STBI_MAX_DIMENSIONS), behind guards for flaws
 * of stb_image 2.27 (oversized JPEG Huffman tables, PNG chunks longer than
 * the file). The system's libstb, which has every decoder, is still used
 * for resizing and writing PNG.
 */
#ifndef NST_STBI_H
#define NST_STBI_H

/* stbi_info_from_memory: 1 and the size and channel count, or 0. */
int nst_stbi_info(const unsigned char *buf, int len, int *w, int *h, int *comp);
/* stbi_load_from_memory: interleaved 8-bit pixels with `channels` channels
 * (free with nst_stbi_free), or NULL. */
unsigned char *nst_stbi_load(const unsigned char *buf, int len, int *w, int *h, int channels);
void nst_stbi_free(void *pixels);
/* Why the last call on this thread failed, never NULL. */
const char *nst_stbi_reason(void);

#endif
