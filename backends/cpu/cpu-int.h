/* cpu-int.h - internal structures of the CPU backend: the thread pool, the plan, and
 * the kernel interface shared by the kernel files (one per op family).
 *
 * Determinism: every kernel splits its output so that each element is computed by one
 * thread with a summation order that does not depend on the split; results do not depend
 * on the thread count. */
#ifndef SKIM_CPU_INT_H
#define SKIM_CPU_INT_H

#include "skim-impl.h"
#include "skim-cpu.h"
#include "skim-platform.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- thread pool */

typedef void (*skim_cpu_job)(void *arg, int ith, int nth);

typedef struct skim_cpu_pool skim_cpu_pool;

SKIM_HIDDEN skim_status skim_cpu_pool_create(const skim_allocator *a, int n_threads,
                                             skim_cpu_pool **out);
SKIM_HIDDEN void skim_cpu_pool_destroy(skim_cpu_pool *pool);
/* Runs job(arg, ith, n) on every thread (the caller is thread 0) and returns when all
 * are done. Runs of different plans on the same pool are serialised. */
SKIM_HIDDEN void skim_cpu_pool_run(skim_cpu_pool *pool, skim_cpu_job job, void *arg);
/* All threads of the running job meet here. */
SKIM_HIDDEN void skim_cpu_pool_barrier(skim_cpu_pool *pool);
SKIM_HIDDEN int skim_cpu_pool_size(const skim_cpu_pool *pool);

/* ---------------------------------------------------------------- backend, plan */

typedef struct skim_cpu_backend {
    skim_cpu_pool *pool;
    int n_threads;
    bool avx2;   /* AVX2 + FMA + F16C at run time */
    bool avx512; /* and AVX-512 F/DQ/BW/VL (the same bits as the AVX2 kernels) */
    bool vnni;   /* and AVX512_VNNI */
} skim_cpu_backend;

/* A set_rows index out of range found by one thread. */
typedef struct skim_cpu_err {
    int node;      /* index in g->nodes, -1: none */
    int64_t row;
    int32_t value;
    int64_t n_slots;
} skim_cpu_err;

typedef struct skim_cpu_plan {
    skim_cpu_backend *cb;
    uint8_t *arena_raw, *arena;
    uint8_t **inputs_raw; /* per slot: raw allocation */
    uint8_t **states;     /* per slot: the data, in the plan's store */
    uint8_t **ptr;                      /* per tensor id: its data (views: with offset) */
    float *scratch_raw;
    float **scratch; /* per thread */
    size_t scratch_floats;
    skim_cpu_err *errs; /* per thread */
    skim_status run_status;
    double **theta;   /* per node index: a rope's frequencies (rope_theta), else NULL */
    double *theta_raw;
} skim_cpu_plan;

/* plan.c: the plan half of the skim_backend_i table */
SKIM_HIDDEN skim_status skim_cpu_plan_create(skim_backend *be, skim_plan *p);
SKIM_HIDDEN void skim_cpu_plan_destroy(skim_plan *p);
SKIM_HIDDEN skim_status skim_cpu_set_input(skim_plan *p, int slot, const void *data, size_t size);
SKIM_HIDDEN skim_status skim_cpu_reset_states(skim_plan *p);
SKIM_HIDDEN skim_status skim_cpu_store_create(skim_backend *be, skim_store *s);
SKIM_HIDDEN void skim_cpu_store_destroy(skim_store *s);
SKIM_HIDDEN skim_status skim_cpu_store_fill(skim_store *s, int i);
SKIM_HIDDEN skim_status skim_cpu_run_async(skim_plan *p);
SKIM_HIDDEN skim_status skim_cpu_wait(skim_plan *p);
SKIM_HIDDEN skim_status skim_cpu_read(skim_plan *p, const skim_tensor *t, void *dst, size_t size);

/* ---------------------------------------------------------------- kernels */

/* One node as a kernel sees it: data pointers and run extents (SKIP mode: a bounded
 * tensor's outermost dimension holds its selection's count). */
typedef struct skim_cpu_node {
    const skim_tensor *t;
    int index; /* in g->nodes */
    uint8_t *dst;
    int64_t ne[4];
    const uint8_t *src[SKIM_MAX_SRC];
    int64_t sne[SKIM_MAX_SRC][4];
    const double *theta; /* a rope's frequencies, computed when planning (or NULL) */
} skim_cpu_node;

/* Rope frequency i of rp: freq_base^(-2i/n_dims), in double. */
static inline double skim_cpu_rope_theta(const skim_rope_params *rp, int64_t i) {
    return pow((double)rp->freq_base, -2.0 * (double)i / (double)rp->n_dims);
}

typedef struct skim_cpu_ctx {
    const skim_plan *p;
    skim_cpu_plan *cp;
    bool masked; /* MASKED_DENSE */
    bool avx2;
    bool avx512; /* implies avx2 */
    bool vnni;   /* implies avx512 */
    int ith, nth;
    float *scratch; /* this thread's */
    size_t scratch_floats;
    skim_cpu_err *err; /* this thread's */
    bool qact;         /* SKIM_PLAN_QUANTIZED_ACTIVATIONS */
} skim_cpu_ctx;

typedef void (*skim_cpu_kernel)(const skim_cpu_ctx *c, const skim_cpu_node *n);

#define SKIM_OP(E, n, s, sh, fl, t) \
    SKIM_HIDDEN void skim_cpu_op_##n(const skim_cpu_ctx *c, const skim_cpu_node *nd);
#include "ops.def"
#undef SKIM_OP

/* Little-endian 16- and 32-bit words of a weight block (any alignment). */
static inline uint16_t skim_cpu_rd16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t skim_cpu_rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* fma(a, b, c) rounded once to float, without libm: the C library's fmaf is not
 * correctly rounded everywhere (mingw-w64's differs from the fused instruction), and the
 * portable paths that state fused steps must give the SIMD paths' bits. a * b is exact in
 * double (24 + 24 bits); their sum with c rounded to double, then made odd where it was
 * inexact (round to odd: of the two doubles around the exact sum, the one with an odd last
 * bit), and then rounded to float is the correctly rounded sum, because a double has more
 * than 2 * 24 + 1 bits (Boldo and Melquiond's round-to-odd argument). Infinities and NaNs
 * pass through the double sum as they would through the fused instruction. */
static inline float skim_cpu_fmaf(float a, float b, float c) {
    double p = (double)a * (double)b, z = (double)c;
    double s = p + z;
    double bv = s - p;
    double err = (p - (s - bv)) + (z - bv); /* the exact sum is s + err (two-sum) */
    uint64_t u;
    memcpy(&u, &s, sizeof u);
    if (err != 0.0 && (u & 1u) == 0 && ((u >> 52) & 0x7ff) != 0x7ff) {
        /* step one ulp towards the exact sum: up in magnitude where err has s's sign */
        u = ((err > 0.0) == (s > 0.0)) ? u + 1 : u - 1;
        memcpy(&s, &u, sizeof s);
    }
    return (float)s;
}

/* The rounding scale from a largest magnitude amax (bad: a value was not finite). */
static inline void skim_cpu_qa_scale_of(float amax, bool bad, float *d, float *id) {
    if (bad) {
        *d = NAN;
        *id = 0.0f;
        return;
    }
    *d = amax / 127.0f;
    *id = *d > 0.0f ? 1.0f / *d : 0.0f;
}

/* The 8-bit rounding scale of n activations (SKIM_PLAN_QUANTIZED_ACTIVATIONS): d = max|x| /
 * 127 and id = 1 / d (0 when d is 0); NaN and id 0 where a value is not finite. */
static inline void skim_cpu_qa_scale(const float *x, int n, float *d, float *id) {
    float amax = 0.0f;
    bool bad = false;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        bad |= !(a <= FLT_MAX);
        amax = a > amax ? a : amax;
    }
    skim_cpu_qa_scale_of(amax, bad, d, id);
}

/* [b, e) of n items for thread ith of nth (contiguous chunks). */
static inline void skim_cpu_split(int64_t n, int ith, int nth, int64_t *b, int64_t *e) {
    int64_t per = (n + nth - 1) / nth;
    int64_t lo = per * ith, hi = lo + per;
    *b = lo < n ? lo : n;
    *e = hi < n ? hi : n;
}

/* The words of a selection (counts[groups], idx[groups][cap], nan). */
static inline int32_t *skim_cpu_words(const skim_cpu_ctx *c, const skim_tensor *sel) {
    return (int32_t *)(void *)c->cp->ptr[sel->id];
}

/* Count of group g of a selection, clamped to [0, cap]. */
static inline int64_t skim_cpu_count(const int32_t *w, int64_t g, int64_t cap) {
    int32_t n = w[g];
    return n < 0 ? 0 : (n > cap ? cap : n);
}

/* Row r of a tensor bounded by sel, in the arena's row space: SKIP keeps compact rows;
 * MASKED_DENSE keeps every token's row, so compact row r is token sel[r]. */
static inline int64_t skim_cpu_row_of(const skim_cpu_ctx *c, const skim_tensor *bound,
                                      int64_t r) {
    if (!bound || !c->masked) {
        return r;
    }
    const int32_t *w = skim_cpu_words(c, bound);
    return w[1 + r];
}

/* The value of a run parameter. */
SKIM_HIDDEN int32_t skim_cpu_param(const skim_cpu_ctx *c, const skim_tensor *param);
/* Run extent of t (see skim_cpu_node). */
SKIM_HIDDEN void skim_cpu_extent(const skim_cpu_ctx *c, const skim_tensor *t, int64_t ne[4]);

/* Matmul core (matmul.c). y[m, n] (at y + n * ldy + m) = sum_k w[k, m] x[k, n] for m in
 * [m0, m1) and the x rows listed in xrows (n_x of them; y column = ycol[i]), with w rows
 * of type wt at w + m * wrow and x rows at xrows[i]; the contraction runs over k in
 * [k0, k1). acc: add to y instead of storing. Per element the summation order is fixed. */
typedef struct skim_cpu_mm {
    skim_type wt;
    const uint8_t *w;
    size_t wrow;
    int64_t k0, k1;
    float *y;
    int64_t ldy;
    bool acc;
    bool qa; /* activations rounded to 8 bits (the plan flag; see SKIM_CPU_QA_MAX_N) */
} skim_cpu_mm;
SKIM_HIDDEN void skim_cpu_mm_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0,
                                 int64_t m1, const float *const *xrows, const int64_t *ycol,
                                 int64_t n_x);
/* Floats of scratch the matmul core needs for contraction length k and products of up to
 * n x rows (n bounds only the k-blocked tiles' copy of x; 0: none). */
SKIM_HIDDEN size_t skim_cpu_mm_scratch(int64_t k, int64_t n);
/* dot(a, b) with the matmul core's summation order; y += a * x. */
SKIM_HIDDEN float skim_cpu_dot(const skim_cpu_ctx *c, const float *a, const float *b, int64_t n);
SKIM_HIDDEN void skim_cpu_axpy(const skim_cpu_ctx *c, float *y, float a, const float *x,
                               int64_t n);
/* matvec.c: up to SKIM_CPU_MV_MAX x rows with F32, F16, Q8_0 or Q4_0 w rows decoded in
 * registers, the same bits as the core; false when no such kernel applies (no SIMD, F32
 * or more than 2 x rows on NEON, a contraction range that is not whole blocks of 32). */
#define SKIM_CPU_MV_MAX 8
SKIM_HIDDEN bool skim_cpu_mv_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0,
                                 int64_t m1, const float *const *xrows, const int64_t *ycol,
                                 int64_t n_x);
/* matvec_512.c: the same products (and bits) with AVX-512 tiles, for w rows from
 * byte offset off of each row; false when it does not apply (no AVX-512, another type). */
SKIM_HIDDEN bool skim_cpu_mv512_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, size_t off,
                                    int64_t m0, int64_t m1, const float *const *xrows,
                                    const int64_t *ycol, int64_t n_x);
/* The plan flag SKIM_PLAN_QUANTIZED_ACTIVATIONS applies to products whose x has at most
 * this many rows per matrix (a static shape, so the same in every mode and thread count).
 * At 4096 x 4096 on one AVX-512 core the rounded products still took 0.6-0.75 of the
 * exact ones' time at 32 and 64 x rows, for every quantised type. */
#define SKIM_CPU_QA_MAX_N 64
static inline bool skim_cpu_qa(const skim_cpu_ctx *c, const skim_tensor *x) {
    return c->qact && x->ne[1] <= SKIM_CPU_QA_MAX_N;
}
/* An x row rounded to 8 bits (matvec_q8.c): per block of 32 its scale, its values and
 * their sum. */
typedef struct skim_cpu_xq {
    const float *d;
    const int8_t *q;
    const int32_t *s;
} skim_cpu_xq;
/* out[j][r] = dot(w row r, x[j]) for 8 w rows (nb blocks of bb bytes, type t) and the
 * tile's x rows (how many: fixed per function, J for tile[J - 1]). */
typedef void (*skim_cpu_colq_fn)(skim_type t, size_t bb, const uint8_t *const w[8],
                                 const skim_cpu_xq *x, int64_t nb, float (*out)[8]);
/* matvec_q8v.c: sets tile[0-7] to the AVX512_VNNI tiles of Q8_0 or Q4_0 for 1-8 x rows (the
 * same bits as the AVX2 tiles); false, tile untouched, where there are none (another
 * type, no x86). */
SKIM_HIDDEN bool skim_cpu_mvq_vnni(skim_type t, skim_cpu_colq_fn tile[8]);
/* A small-N tile: out[r * nx + j] = dot(w row r, x row j) over nb blocks for its w rows
 * and nx x rows (at most 32 outputs). */
typedef void (*skim_cpu_tile_fn)(const uint8_t *const *w, const float *const *x, int64_t nb,
                                 float *out);
/* Runs tiles over w rows [m0, m1), 8 at a time so that successive groups of x rows re-read
 * them from L1 or L2, and the x rows in groups of `group` (at most 8): f[nx - 1] takes
 * rows[nx - 1] w rows (a short tile repeats its first row) and nx x rows; blocks of qk
 * values, the w rows' bytes from off. */
SKIM_HIDDEN void skim_cpu_tiles_run(const skim_cpu_tile_fn *f, const int *rows, int group,
                                    int64_t qk, const skim_cpu_mm *mm, size_t off, int64_t m0,
                                    int64_t m1, const float *const *xrows, const int64_t *ycol,
                                    int64_t n_x);
/* matvec_q8.c: any number of x rows against Q8_0 or Q4_0 w rows with the x rows rounded
 * to 8-bit blocks (SKIM_PLAN_QUANTIZED_ACTIVATIONS); false when it does not apply (another
 * type, a contraction range that is not whole blocks of 32, no scratch). */
SKIM_HIDDEN bool skim_cpu_mvq_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0,
                                  int64_t m1, const float *const *xrows, const int64_t *ycol,
                                  int64_t n_x);
/* matvec_q8.c: x (nb blocks of 32) rounded as that flag states: per block its scale d[b],
 * its 32 values q[32 b ..] and their sum s[b] (the same on every path). */
SKIM_HIDDEN void skim_cpu_q8_quant_row(const skim_cpu_ctx *c, const float *x, int64_t nb,
                                       float *d, int8_t *q, int32_t *s);
/* An x row rounded per super-block of 256 for Q4_K or Q6_K w rows (matvec_kq.c states the
 * rule and the layout): per super-block its scale d[s], 16 int16 sums s[16 s ..] and its
 * 256 values q[256 s ..]. */
typedef struct skim_cpu_xk {
    const float *d;
    const int16_t *s;
    const int8_t *q;
} skim_cpu_xk;
/* out[j][r] = dot(w row r, x[j]) for 8 w rows (from their first super-block in range) and
 * the tile's x rows (how many: fixed per function), over nsb super-blocks. */
typedef void (*skim_cpu_kq_fn)(const uint8_t *const w[8], const skim_cpu_xk *x, int64_t nsb,
                               float (*out)[8]);
/* matvec_kq.c: the same flag for Q4_K and Q6_K w rows (any number of x rows); false when it
 * does not apply (another type, a contraction range that is not whole super-blocks of 256,
 * no scratch). */
SKIM_HIDDEN bool skim_cpu_mvkq_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0,
                                   int64_t m1, const float *const *xrows, const int64_t *ycol,
                                   int64_t n_x);
/* matmul_k.c: F32, F16, Q8_0 or Q4_0 w rows with AVX2, blocked along k, the same bits as
 * the core; false when it does not apply (no AVX2, another type, a contraction not a
 * multiple of 8, or for Q8_0 and Q4_0 not whole blocks; Q4_K and Q6_K: without AVX-512,
 * or a contraction range that is not whole super-blocks of 256). */
SKIM_HIDDEN bool skim_cpu_mmk_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0,
                                  int64_t m1, const float *const *xrows, const int64_t *ycol,
                                  int64_t n_x);
/* matmul_k512.c: the same with AVX-512 (the same bits), and Q4_K and Q6_K w rows over
 * whole super-blocks, called by skim_cpu_mmk_run once it has checked that the product
 * applies and the scratch suffices. */
SKIM_HIDDEN bool skim_cpu_mmk512_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0,
                                     int64_t m1, const float *const *xrows, const int64_t *ycol,
                                     int64_t n_x);
/* The floats of scratch it needs for products of n x rows with contraction length k (a
 * chunked copy of up to 48 x rows and their accumulators; 0 where it never runs). */
SKIM_HIDDEN size_t skim_cpu_mmk_scratch(int64_t k, int64_t n);
/* n (a multiple of 32) Q8_0 or Q4_0 values, or n (a multiple of 256) Q4_K or Q6_K values
 * (skim_cpu_row_decode_k), to floats with SIMD; false when none applies. */
SKIM_HIDDEN bool skim_cpu_row_decode(const skim_cpu_ctx *c, skim_type t, const uint8_t *src,
                                     float *dst, int64_t n);
/* matvec_k.c: up to SKIM_CPU_MV_MAX x rows with Q4_K or Q6_K w rows decoded in registers,
 * the same bits as the core; false when it does not apply (no AVX2, another type, a
 * contraction range that is not whole super-blocks of 256). */
SKIM_HIDDEN bool skim_cpu_mvk_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0,
                                  int64_t m1, const float *const *xrows, const int64_t *ycol,
                                  int64_t n_x);
/* n (a multiple of 256) Q4_K or Q6_K values to skim_row_to_f32's floats with SIMD; false
 * when none applies. */
SKIM_HIDDEN bool skim_cpu_row_decode_k(const skim_cpu_ctx *c, skim_type t, const uint8_t *src,
                                       float *dst, int64_t n);
/* f16 -> f32 (exact). */
SKIM_HIDDEN void skim_cpu_f16_to_f32(const uint16_t *src, float *dst, int64_t n, bool avx2);

#endif /* SKIM_CPU_INT_H */
