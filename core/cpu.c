/*
 * cpu.c — the choice of kernel path (see cpu.h): CPUID through the
 * compiler's __builtin_cpu_supports (which also checks that the OS saves
 * the wide registers), then NST_KERNELS, read once.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

static const char *const kernels_names[CPU_KERNELS] = {"portable", "avx2", "avx512"};

/* The path in use, or -1 before the first call decides it. */
static atomic_int kernels_chosen = -1;

int cpu_kernels_supported(cpu_kernels_path k)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    switch (k) {
    case CPU_PORTABLE: return 1;
    case CPU_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CPU_AVX512:
        return cpu_kernels_supported(CPU_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    default: return 0;
    }
#else
    return k == CPU_PORTABLE;
#endif
}

const char *cpu_kernels_name(cpu_kernels_path k)
{
    return k >= 0 && k < CPU_KERNELS ? kernels_names[k] : "unknown";
}

/* The best path the CPU has, or the one NST_KERNELS names if it has that. */
static cpu_kernels_path kernels_default(void)
{
    cpu_kernels_path best = CPU_PORTABLE;
    for (int k = CPU_KERNELS - 1; k > CPU_PORTABLE; k--)
        if (cpu_kernels_supported((cpu_kernels_path)k)) {
            best = (cpu_kernels_path)k;
            break;
        }
    const char *env = getenv("NST_KERNELS");
    if (!env || !*env) return best;
    for (int k = 0; k < CPU_KERNELS; k++)
        if (strcmp(env, kernels_names[k]) == 0) {
            if (cpu_kernels_supported((cpu_kernels_path)k)) return (cpu_kernels_path)k;
            fprintf(stderr, "nst: NST_KERNELS=%s: this CPU lacks it, using %s\n", env,
                    kernels_names[best]);
            return best;
        }
    fprintf(stderr, "nst: NST_KERNELS=%s is none of portable, avx2, avx512; using %s\n", env,
            kernels_names[best]);
    return best;
}

cpu_kernels_path cpu_kernels(void)
{
    int k = atomic_load_explicit(&kernels_chosen, memory_order_relaxed);
    if (k >= 0) return (cpu_kernels_path)k;
    int expected = -1;
    atomic_compare_exchange_strong(&kernels_chosen, &expected, (int)kernels_default());
    return (cpu_kernels_path)atomic_load(&kernels_chosen);
}

int cpu_kernels_set(cpu_kernels_path k)
{
    if (k < 0 || k >= CPU_KERNELS || !cpu_kernels_supported(k)) return -1;
    atomic_store(&kernels_chosen, (int)k);
    return 0;
}
