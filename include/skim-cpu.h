/* skim-cpu.h - the CPU backend: the portable reference, with optional threads.
 * Results do not depend on the thread count: every output element is computed by one
 * thread with a fixed summation order (bitwise equal for any n_threads on one machine).
 * AVX2 and FMA are used when the CPU has them (chosen once per backend; results then
 * differ from the portable path by rounding only); on aarch64, NEON with FMA always.
 *
 * Modes (skim_plan_desc.mode):
 * - SKIP: a tensor bounded by a selection holds `count` compact rows; reading it with
 *   skim_plan_get_output gives those rows followed by zeros.
 * - MASKED_DENSE: every tensor has its full extent (a bounded tensor's row i is token i;
 *   rows of unselected tokens hold unspecified values) and the consumers mask. Unbounded
 *   results and selections equal those of SKIP.
 * Indices: get_rows with an index outside w's rows gives a row of zeros; set_rows skips
 * such a row and the run, completed, returns SKIM_ERR_RANGE.
 * Plans of one backend share its thread pool: their runs are serialised. */
#ifndef SKIM_CPU_H
#define SKIM_CPU_H

#include "skim-backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most the kernels may use (chosen at backend creation from cpuid, so one binary runs
 * on any x86-64). A cap lets a program, or a test, run a lower path on a machine that has
 * more. On aarch64 NEON is part of the architecture and always used: caps are ignored. */
typedef enum skim_cpu_isa {
    SKIM_CPU_ISA_BEST = 0, /* the best the CPU has */
    SKIM_CPU_ISA_PORTABLE, /* plain C */
    SKIM_CPU_ISA_AVX2,     /* at most AVX2 with FMA and F16C */
    SKIM_CPU_ISA_AVX512    /* at most AVX-512 (F, BW, DQ and VL; VNNI where the CPU has it) */
} skim_cpu_isa;

typedef struct skim_cpu_desc {
    int n_threads;            /* zero: 1; at most 256. The pool is created with the backend. */
    skim_allocator allocator; /* zero: malloc/free; used for plans and arenas */
    skim_cpu_isa max_isa;     /* zero: SKIM_CPU_ISA_BEST */
} skim_cpu_desc;

/* desc may be NULL. Returns OK, INVALID_ARG (n_threads, allocator, max_isa out of range),
 * OUT_OF_MEMORY, UNSUPPORTED (threads). */
SKIM_API skim_status skim_backend_create_cpu(const skim_cpu_desc *desc, skim_backend **out_be);

#ifdef __cplusplus
}
#endif
#endif /* SKIM_CPU_H */
