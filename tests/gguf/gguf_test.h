/* gguf_test.h - small helpers for the GGUF, tokenizer and sampler tests. */
#ifndef SKIM_GGUF_TEST_H
#define SKIM_GGUF_TEST_H

#include "skim-gguf.h"
#include "skim-text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ctest's SKIP_RETURN_CODE for tests whose data is absent. */
#define TEST_SKIP 77

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);        \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

#define CHECK_STATUS(expr, want)                                                            \
    do {                                                                                    \
        skim_status got_ = (expr);                                                          \
        if (got_ != (want)) {                                                               \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s\n", __FILE__, __LINE__,     \
                    #expr, skim_status_str(got_), skim_status_str(want));                   \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

/* An allocator that counts and fails the allocation numbered fail_at (0-based; -1 never). */
typedef struct test_alloc {
    long n_alloc, n_ok, n_free, fail_at; /* attempts, successes, frees */
} test_alloc;

static inline void *test_alloc_fn(void *user, size_t size) {
    test_alloc *t = user;
    if (t->fail_at >= 0 && t->n_alloc == t->fail_at) {
        t->n_alloc++;
        return NULL;
    }
    void *p = malloc(size);
    t->n_alloc++;
    if (p) t->n_ok++;
    return p;
}

static inline void test_free_fn(void *user, void *p) {
    test_alloc *t = user;
    if (p) t->n_free++;
    free(p);
}

static inline skim_allocator test_allocator(test_alloc *t) {
    skim_allocator a;
    a.alloc = test_alloc_fn;
    a.free = test_free_fn;
    a.user = t;
    return a;
}

/* The number of live allocations. */
static inline long test_live(const test_alloc *t) { return t->n_ok - t->n_free; }

#endif /* SKIM_GGUF_TEST_H */
