/*
 * wino_ab.c — in-process A/B of two builds of core/winograd.c on the VGG19
 * layer shapes a 512 px evaluation convolves (conv1_2 … conv5_1).
 *
 * This machine's speed drifts by 20–40% within minutes, so two processes
 * timed one after the other cannot tell a 5% change. Here both builds live
 * in one process and run alternately, forward then backward, on the same
 * data and threads, as the network runs them (the forward with its ReLU
 * fused; the backward's gradient is the forward's output). The figure to
 * read is the median of the per-pair ratios A/B. Build B is the old source
 * (from a commit, here HEAD) with its entry points and kernel tables
 * renamed, each kernel file with the flags CMakeLists.txt gives it; A is the
 * tree's libnst.a. Both take the kernel path core/cpu.c chooses (so
 * NST_KERNELS=avx2 compares the AVX2 paths):
 *
 *   cmake --build build --target nst
 *   mkdir -p /tmp/b && git archive HEAD core | tar -x -C /tmp/b
 *   R="-O3 -march=native -D_GNU_SOURCE -I/tmp/b/core -I/tmp/b/core/include \
 *      -Dwino_conv3x3_forward=b_forward -Dwino_conv3x3_backward=b_backward \
 *      -Dwino_scratch_floats=b_scratch_floats -Dwino_kernels_portable=b_portable \
 *      -Dwino_kernels_avx2=b_avx2 -Dwino_kernels_avx512=b_avx512"
 *   cc $R -c /tmp/b/core/winograd.c -o /tmp/b/winograd.o
 *   cc $R -mno-avx -c /tmp/b/core/wino_portable.c -o /tmp/b/wino_portable.o
 *   cc $R -mavx2 -mfma -mno-avx512f -c /tmp/b/core/wino_avx2.c -o /tmp/b/wino_avx2.o
 *   cc $R -mavx512f -mavx512vl -mavx512dq -mprefer-vector-width=512 \
 *      -c /tmp/b/core/wino_avx512.c -o /tmp/b/wino_avx512.o
 *   cc -O3 -march=native -D_GNU_SOURCE -Icore -Icore/include bench/wino_ab.c /tmp/b/*.o \
 *      build/libnst.a -lopenblas -lcjson -lstb -lpthread -lm -o wino_ab
 *   ./wino_ab [pairs=15] [threads=2]
 *
 * Prints per shape the median and min milliseconds of A and B and the
 * median ratio, then the medians summed over the layers up to conv5_1.
 * Run it once with B built from the same source as A to see the noise
 * floor: with 3 pairs the total's ratio came out 1.10, with 9 within 3%.
 * Not part of CI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pool.h"
#include "winograd.h"

size_t b_scratch_floats(int C, int OC, int H, int W);
void b_forward(float *out, const float *inp, const float *weight, const float *kept,
               const float *bias, int relu, int C, int OC, int H, int W, float *scratch,
               nst_pool *pool);
void b_backward(float *dinp, const float *dout, const float *weight, const float *kept, int C,
                int OC, int H, int W, float *scratch, nst_pool *pool);

#define MAX_PAIRS 101

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int pairs = argc > 1 ? atoi(argv[1]) : 15, threads = argc > 2 ? atoi(argv[2]) : 2;
    if (pairs < 1 || pairs > MAX_PAIRS) {
        fprintf(stderr, "wino_ab: pairs must be 1..%d\n", MAX_PAIRS);
        return 2;
    }
    nst_pool *pool = nst_pool_create(threads);
    /* C, OC, H at 512 px, and how many layers up to conv5_1 have the shape */
    static const int shapes[][4] = {{64, 64, 512, 1},  {64, 128, 256, 1}, {128, 128, 256, 1},
                                    {128, 256, 128, 1}, {256, 256, 128, 3}, {256, 512, 64, 1},
                                    {512, 512, 64, 3},  {512, 512, 32, 1}};
    double total[2] = {0.0, 0.0};
    srand(1);
    for (size_t l = 0; l < sizeof shapes / sizeof shapes[0]; l++) {
        int C = shapes[l][0], OC = shapes[l][1], H = shapes[l][2];
        size_t nx = (size_t)C * H * H, ny = (size_t)OC * H * H, nw = (size_t)OC * C * 9;
        size_t ns = wino_scratch_floats(C, OC, H, H), nb = b_scratch_floats(C, OC, H, H);
        float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny);
        float *g = malloc(sizeof(float) * nx);
        float *w = malloc(sizeof(float) * nw), *s = malloc(sizeof(float) * (ns > nb ? ns : nb));
        if (!x || !y || !g || !w || !s) {
            fprintf(stderr, "wino_ab: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < nx; i++) x[i] = (float)rand() / (float)RAND_MAX;
        for (size_t i = 0; i < nw; i++) w[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        double t[2][MAX_PAIRS], ratio[MAX_PAIRS];
        for (int r = 0; r < pairs; r++)
            for (int v = 0; v < 2; v++) {
                double t0 = now();
                if (v == 0) {
                    wino_conv3x3_forward(y, x, w, NULL, NULL, 1, C, OC, H, H, s, pool);
                    wino_conv3x3_backward(g, y, w, NULL, C, OC, H, H, s, pool);
                } else {
                    b_forward(y, x, w, NULL, NULL, 1, C, OC, H, H, s, pool);
                    b_backward(g, y, w, NULL, C, OC, H, H, s, pool);
                }
                t[v][r] = now() - t0;
            }
        for (int r = 0; r < pairs; r++) ratio[r] = t[0][r] / t[1][r];
        qsort(t[0], (size_t)pairs, sizeof(double), by_value);
        qsort(t[1], (size_t)pairs, sizeof(double), by_value);
        qsort(ratio, (size_t)pairs, sizeof(double), by_value);
        total[0] += shapes[l][3] * t[0][pairs / 2];
        total[1] += shapes[l][3] * t[1][pairs / 2];
        printf("C=%3d OC=%3d H=%3d  A %7.2f ms (min %7.2f)  B %7.2f ms (min %7.2f)  A/B %.3f\n", C,
               OC, H, 1e3 * t[0][pairs / 2], 1e3 * t[0][0], 1e3 * t[1][pairs / 2], 1e3 * t[1][0],
               ratio[pairs / 2]);
        free(x), free(y), free(g), free(w), free(s);
    }
    printf("to conv5_1, forward + backward, sum of medians: A %.1f ms  B %.1f ms  A/B %.3f\n",
           1e3 * total[0], 1e3 * total[1], total[0] / total[1]);
    nst_pool_free(pool);
    return 0;
}
