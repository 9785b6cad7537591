/* skim-cpu.h - the CPU backend: the portable reference, with optional threads.
 * Results do not depend on the thread count: every reduction has a fixed order. */
#ifndef SKIM_CPU_H
#define SKIM_CPU_H

#include "skim-backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct skim_cpu_desc {
    int n_threads;            /* zero: 1. The pool is created with the backend. */
    skim_allocator allocator; /* zero: malloc/free; used for plans and arenas */
} skim_cpu_desc;

/* desc may be NULL. Returns OK, INVALID_ARG, OUT_OF_MEMORY, UNSUPPORTED (threads). */
SKIM_API skim_status skim_backend_create_cpu(const skim_cpu_desc *desc, skim_backend **out_be);

#ifdef __cplusplus
}
#endif
#endif /* SKIM_CPU_H */
