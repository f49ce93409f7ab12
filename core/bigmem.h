/*
 * bigmem.h — allocation of the engine's large buffers (activations,
 * convolution scratch, optimiser vectors) backed by transparent huge pages
 * where the kernel offers them.
 *
 * Why: a 512 px evaluation walks a few hundred megabytes of activations,
 * transformed tiles and gradients; with 4 KiB pages the Winograd transforms,
 * which read rows of every channel plane, miss the TLB often, and a job's
 * first touch of its buffers costs a page fault per 4 KiB (expensive in a
 * virtual machine). Asking for huge pages (madvise MADV_HUGEPAGE, which a
 * kernel set to "madvise" honours) made a 384 px run about 9 % faster in
 * CPU time (README, Kernel paths).
 *
 * The buffer is heap memory of exactly the size asked for, aligned to 64
 * bytes (a cache line, an AVX-512 vector) and freed with free(): only its
 * 2 MiB-aligned interior is advised, so no byte more is allocated and the
 * memory estimates stay what they count. Where the kernel has no huge
 * pages the advice is ignored. The alignment lets the Winograd output
 * transform stream its rows past the caches (wino_kernels_body.h,
 * store_row): malloc's 16-byte alignment kept every row on the copying
 * path, and a 512 px evaluation took 1.12 times as long.
 */
#ifndef NST_BIGMEM_H
#define NST_BIGMEM_H

#include <stddef.h>

/* bytes of memory aligned to 64 bytes, with huge pages asked for the
 * buffer's 2 MiB-aligned interior when it spans at least one such page.
 * NULL when out of memory. */
void *nst_big_alloc(size_t bytes);

#endif
