/* failing_alloc.h - the test allocator that fails the fail_at-th allocation (counting from
 * 0; a negative fail_at never fails) and counts the blocks still live, for the sweeps of
 * test_misuse, the host fault tests and the graph fuzzer. Header-only so that the fuzzer,
 * which compiles the library's sources itself, can use it without the test library. */
#ifndef SKIM_TEST_FAILING_ALLOC_H
#define SKIM_TEST_FAILING_ALLOC_H

#include "skim.h"

#include <stdlib.h>

typedef struct failing {
    long n, fail_at, live;
} failing;

static inline void *f_alloc(void *user, size_t size) {
    failing *f = user;
    if (f->n++ == f->fail_at) return NULL;
    void *p = malloc(size);
    if (p) f->live++;
    return p;
}

static inline void f_free(void *user, void *p) {
    failing *f = user;
    if (p) {
        f->live--;
        free(p);
    }
}

static inline skim_allocator f_allocator(failing *f) {
    skim_allocator a = {f_alloc, f_free, f};
    return a;
}

#endif
