/* backend.c - the CPU backend: creation, the skim_backend_i table, supports(). */
#include "cpu-int.h"

#include <stdio.h>


#define SKIM_CPU_MAX_THREADS 256

static void cpu_destroy(skim_backend *be) {
    skim_cpu_backend *cb = be->impl;
    skim_allocator a = be->alloc;
    if (cb) {
        skim_cpu_pool_destroy(cb->pool);
        skim_free(&a, cb);
    }
    skim_allocator raw = be->mem.base; /* be itself came from the caller's allocator */
    skim_free(&raw, be);
}

/* Every op of ops.def and every view; type checks were done when the graph was built. */
static bool cpu_supports(skim_backend *be, const skim_tensor *node) {
    (void)be;
    if (node->kind == SKIM_KIND_VIEW) {
        return true;
    }
    return node->op > SKIM_OP_NONE && node->op < SKIM_OP_COUNT;
}

static const skim_backend_i cpu_iface = {
    "cpu",
    cpu_destroy,
    cpu_supports,
    skim_cpu_plan_create,
    skim_cpu_plan_destroy,
    skim_cpu_set_input,
    skim_cpu_reset_states,
    skim_cpu_run_async,
    skim_cpu_wait,
    skim_cpu_read,
    skim_cpu_store_create,
    skim_cpu_store_destroy,
    skim_cpu_store_fill,
};

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>

/* AVX2, FMA and F16C, and the OS saving YMM state (XCR0 bits 1 and 2). Read with cpuid
 * directly: clang's __builtin_cpu_supports does not know "f16c". */
static bool detect_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) {
        return false;
    }
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
    bool f16c = c & (1u << 29);
    if (!(fma && osxsave && avx && f16c)) {
        return false;
    }
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    if ((lo & 6u) != 6u || __get_cpuid_max(0, NULL) < 7) {
        return false;
    }
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 5)) != 0;
}

/* AVX-512 F, DQ, BW and VL (cpuid 7.0 EBX bits 16, 17, 30, 31) with the OS saving the
 * opmask and ZMM state (XCR0 bits 5-7); *vnni: AVX512_VNNI too (ECX bit 11). Only asked
 * where detect_avx2 holds. */
static bool detect_avx512(bool *vnni) {
    unsigned a, b, c, d, lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned need = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
    bool ok = (lo & 0xe6u) == 0xe6u && (b & need) == need;
    *vnni = ok && (c & (1u << 11)) != 0;
    return ok;
}
#else
static bool detect_avx2(void) {
    return false;
}

static bool detect_avx512(bool *vnni) {
    *vnni = false;
    return false;
}
#endif

skim_status skim_backend_create_cpu(const skim_cpu_desc *desc, skim_backend **out_be) {
    if (!out_be) {
        return SKIM_ERR_INVALID_ARG;
    }
    skim_cpu_desc d = {0};
    if (desc) {
        d = *desc;
    }
    if (d.n_threads < 0 || d.n_threads > SKIM_CPU_MAX_THREADS ||
        (!d.allocator.alloc) != (!d.allocator.free) || d.max_isa < SKIM_CPU_ISA_BEST ||
        d.max_isa > SKIM_CPU_ISA_AVX512) {
        return SKIM_ERR_INVALID_ARG;
    }
    int n = d.n_threads ? d.n_threads : 1;
    skim_backend *be = skim_calloc(&d.allocator, 1, sizeof *be);
    if (!be) {
        return SKIM_ERR_OUT_OF_MEMORY;
    }
    skim_mem_counter_init(&be->mem, &d.allocator, &be->alloc);
    be->iface = &cpu_iface;
    skim_cpu_backend *cb = skim_calloc(&be->alloc, 1, sizeof *cb);
    if (!cb) {
        skim_free(&d.allocator, be);
        return SKIM_ERR_OUT_OF_MEMORY;
    }
    be->impl = cb;
    cb->n_threads = n;
    cb->avx2 = d.max_isa != SKIM_CPU_ISA_PORTABLE && detect_avx2();
    cb->avx512 = cb->avx2 && (d.max_isa == SKIM_CPU_ISA_BEST || d.max_isa == SKIM_CPU_ISA_AVX512) &&
                 detect_avx512(&cb->vnni);
    skim_status st = skim_cpu_pool_create(&be->alloc, n, &cb->pool);
    if (st != SKIM_OK) {
        cb->pool = NULL;
        cpu_destroy(be);
        return st;
    }
#if defined(__aarch64__) && !defined(SKIM_CPU_NO_SIMD)
    const char *isa = "neon";
#else
    const char *isa = cb->vnni ? "avx512+vnni" : cb->avx512 ? "avx512" : cb->avx2 ? "avx2" : "portable";
#endif
    snprintf(be->device, sizeof be->device, "cpu, %d threads, %s", n, isa);
    *out_be = be;
    return SKIM_OK;
}
