/*
 * eval_bench.c — milliseconds of one evaluation (the loss and its gradient:
 * VGG19's forward pass to conv5_1 and the backward pass to the image, with
 * the default layers and weights) for each kernel path the CPU has
 * (core/cpu.h: portable, avx2, avx512), on square noise images.
 *
 * The paths run alternately in one process, on the same objective and
 * threads, so the machine's drift hits them alike: each round times every
 * path once over EVALS evaluations (after one untimed round); the figures
 * are the median, min and max of the rounds' per-evaluation times. The
 * last lines, one per path, are for scripts (bench/kernels.py):
 *     path=avx512 ms_per_eval=123.4 cpu_ms_per_eval=240.1
 * (CPU ms: all threads' CPU time per evaluation, less inflated than the
 * wall time when other programs share the cores.)
 * OpenBLAS (the Gram matrices, conv1_1's backward)
 * picks its own kernels whatever the path; OPENBLAS_CORETYPE changes them.
 * Not part of CI.
 *
 *   cmake --build build --target eval_bench
 *   build/eval_bench [size=512] [rounds=5] [threads=2] [evals=2] [paths=all]
 *
 * paths: a comma-separated list of the paths to run (to profile one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu.h"
#include "nst.h"
#include "objective.h"

static double seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A size×size image of uniform noise (speed does not depend on pixels). */
static int noise_image(nst_image *img, int size, unsigned seed)
{
    if (nst_image_alloc(img, size, size) != 0) return -1;
    for (size_t i = 0; i < (size_t)3 * size * size; i++) {
        seed = seed * 1664525u + 1013904223u;
        img->data[i] = (float)(seed >> 8) / 16777216.0f;
    }
    return 0;
}

/* Milliseconds per evaluation over evals evaluations at x: wall time, and
 * the CPU time of all the process's threads into *cpu. */
static double time_evals(nst_objective *o, const float *x, float *g, int evals, double *cpu)
{
    double t0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
    for (int e = 0; e < evals; e++) {
        nst_objective_value(o, x, NULL);
        nst_objective_gradient(o, x, g);
    }
    *cpu = 1e3 * (seconds(CLOCK_PROCESS_CPUTIME_ID) - c0) / evals;
    return 1e3 * (seconds(CLOCK_MONOTONIC) - t0) / evals;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    int size = argc > 1 ? atoi(argv[1]) : 512, rounds = argc > 2 ? atoi(argv[2]) : 5;
    int threads = argc > 3 ? atoi(argv[3]) : 2, evals = argc > 4 ? atoi(argv[4]) : 2;
    if (size < 16 || rounds < 1 || threads < 1 || evals < 1) {
        fprintf(stderr, "usage: eval_bench [size>=16] [rounds>=1] [threads>=1] [evals>=1]\n");
        return 2;
    }
    nst_model *m;
    nst_error err = {0};
    if (nst_model_random(&m, &err) != 0) {
        fprintf(stderr, "eval_bench: %s\n", err.message);
        return 1;
    }
    nst_params p;
    nst_params_default(&p, m);
    nst_image content, style, x;
    nst_objective *o;
    if (noise_image(&content, size, 1) || noise_image(&style, size, 2) ||
        noise_image(&x, size, 3)) {
        fprintf(stderr, "eval_bench: out of memory\n");
        return 1;
    }
    if (nst_objective_create(m, &p, &content, &style, 1, NULL, threads, &o, &err) != 0) {
        fprintf(stderr, "eval_bench: %s\n", err.message);
        return 1;
    }
    float *g = malloc(sizeof(float) * 3 * (size_t)size * size);
    double *ms = malloc(sizeof(double) * (size_t)rounds * CPU_KERNELS);
    double *cpu = malloc(sizeof(double) * (size_t)rounds * CPU_KERNELS);
    if (!g || !ms || !cpu) return 1;

    const char *only = argc > 5 ? argv[5] : NULL;
    int paths[CPU_KERNELS], np = 0;
    for (int k = 0; k < CPU_KERNELS; k++) {
        const char *name = cpu_kernels_name((cpu_kernels_path)k), *at = only ? strstr(only, name) : NULL;
        int listed = !only || (at && (at == only || at[-1] == ',') &&
                               (at[strlen(name)] == ',' || at[strlen(name)] == '\0'));
        if (listed && cpu_kernels_supported((cpu_kernels_path)k)) paths[np++] = k;
    }
    if (np == 0) {
        fprintf(stderr, "eval_bench: no path of '%s' runs on this CPU\n", only);
        return 2;
    }
    printf("eval_bench: %d px, %d threads, %d rounds of %d evaluations per path, alternating\n",
           size, threads, rounds, evals);
    for (int r = -1; r < rounds; r++)
        for (int i = 0; i < np; i++) {
            /* each round in another order, so no path always follows another */
            int k = paths[(i + (r < 0 ? 0 : r)) % np];
            cpu_kernels_set((cpu_kernels_path)k);
            double c, t = time_evals(o, x.data, g, r < 0 ? 1 : evals, &c);
            if (r >= 0) ms[(size_t)k * rounds + r] = t, cpu[(size_t)k * rounds + r] = c;
        }
    /* CPU ms: all threads' CPU time, which a loaded machine inflates less
     * than the wall time (the pool's brief spins count in it) */
    double base = 0, base_cpu = 0, med[CPU_KERNELS], med_cpu[CPU_KERNELS];
    printf("%-9s %10s %10s %10s %12s %12s %12s\n", "path", "median ms", "min", "max",
           "vs portable", "CPU ms", "vs portable");
    for (int i = 0; i < np; i++) {
        int k = paths[i];
        double *v = ms + (size_t)k * rounds;
        med[k] = median(v, rounds);
        med_cpu[k] = median(cpu + (size_t)k * rounds, rounds);
        if (k == CPU_PORTABLE) base = med[k], base_cpu = med_cpu[k];
        printf("%-9s %10.1f %10.1f %10.1f %11.2fx %12.1f %11.2fx\n",
               cpu_kernels_name((cpu_kernels_path)k), med[k], v[0], v[rounds - 1],
               base > 0 ? med[k] / base : 1.0, med_cpu[k], base_cpu > 0 ? med_cpu[k] / base_cpu : 1.0);
    }
    for (int i = 0; i < np; i++)
        printf("path=%s ms_per_eval=%.1f cpu_ms_per_eval=%.1f\n",
               cpu_kernels_name((cpu_kernels_path)paths[i]), med[paths[i]], med_cpu[paths[i]]);
    free(cpu);
    free(ms);
    free(g);
    nst_objective_free(o);
    nst_image_free(&x);
    nst_image_free(&style);
    nst_image_free(&content);
    nst_model_free(m);
    return 0;
}
