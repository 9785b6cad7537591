/* golden.h - what the golden test's files share: the backends, the RNG, the op table's
 * tolerances and small helpers. One golden_<name> per row of graph/ops.def. */
#ifndef SKIM_TEST_GOLDEN_H
#define SKIM_TEST_GOLDEN_H

#include "golden_case.h"

#include "skim-impl.h" /* skim_op enum for the tolerance table */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#  define SKIM_GOLDEN_UNUSED __attribute__((unused))
#else
#  define SKIM_GOLDEN_UNUSED
#endif

#define SKIM_OP(E, n, s, sh, fl, t) int golden_##n(void);
#include "ops.def"
#undef SKIM_OP

extern skim_backend *G_be[4];
extern int G_nbe;
extern trng G_rng;
extern const double op_tol[SKIM_OP_COUNT];

#define RUN(c) tc_run((c), G_be, G_nbe)
#define NE(...) ((const int64_t[]){__VA_ARGS__})
#define TOL(E) op_tol[SKIM_OP_##E]

static const skim_type all_w_types[] SKIM_GOLDEN_UNUSED = {SKIM_TYPE_F32, SKIM_TYPE_F16, SKIM_TYPE_Q8_0, SKIM_TYPE_Q4_0};

static inline double *dalloc(int64_t n) { return calloc((size_t)(n ? n : 1), sizeof(double)); }
static inline float *falloc(int64_t n) { return calloc((size_t)(n ? n : 1), sizeof(float)); }
static inline int64_t prod4(const int64_t ne[4]) { return ne[0] * ne[1] * ne[2] * ne[3]; }
static inline void ne4(int n_dims, const int64_t *ne, int64_t out[4]) {
    for (int i = 0; i < 4; i++) out[i] = i < n_dims ? ne[i] : 1;
}

/* Elements of a row-strided 2-D window: rows of `ne0` at `stride` elements from `offs`. */
static inline void window(const float *base, int64_t offs, int64_t stride, int64_t ne0, int64_t ne1,
                   float *dst) {
    for (int64_t r = 0; r < ne1; r++)
        for (int64_t i = 0; i < ne0; i++) dst[r * ne0 + i] = base[offs + r * stride + i];
}
/* A 2-D row-strided view of a (F32): ne0 x ne1, rows `stride` elements apart, from `offs`. */
static inline skim_tensor *view2(skim_context *ctx, skim_tensor *a, int64_t ne0, int64_t ne1,
                          int64_t stride, int64_t offs) {
    size_t nb[4] = {4, (size_t)stride * 4, 0, 0};
    return skim_view(ctx, a, 2, NE(ne0, ne1), nb, (size_t)offs * 4);
}

#endif /* SKIM_TEST_GOLDEN_H */
