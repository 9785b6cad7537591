/* matmul.c - the matmul core and mul_mat.
 *
 * y[m, n] = dot(w row m, x row n): both are contiguous along k. A tile of 4 w rows times
 * 3 x rows is computed at once (12 accumulators of 8 lanes); F16 and quantised w rows
 * are converted per panel of 4 rows into the thread's scratch. Every dot product, in any
 * tile shape, has the same order: lane l accumulates k = l mod 8 over the first
 * floor(L/8)*8 elements, the lanes reduce as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), then
 * the tail is added in order. So results do not depend on how rows fall into tiles, that
 * is on the thread count. The AVX2 path (fused multiply-add) is chosen once per backend;
 * it differs from the portable path in rounding only. The AVX-512 kernels (matvec_512.c,
 * matmul_k512.c, matvec_k.c) give the AVX2 path's bits: a 512-bit register holds two
 * independent 8-lane accumulators, never one dot over 16 consecutive k. On aarch64 the
 * NEON path (two 4-lane halves per dot, fused multiply-add, the same lane order and
 * reduction) is always taken: Advanced SIMD is part of the architecture. */
#include "cpu-int.h"
#include "cpu-simd.h"

#include <string.h>

#define MR 4
#define NR 3
#define MC 32 /* w rows per task */
#define NB 48 /* x rows per task (their panel stays in L2) */

/* Not inlined so that every kernel adds the tail with the same code. */
#if defined(_MSC_VER)
#  define NOINLINE __declspec(noinline)
#else
#  define NOINLINE __attribute__((noinline))
#endif
NOINLINE static float tail_dot(const float *a, const float *b, int64_t k0,
                                                int64_t k1) {
    float s = 0.0f;
    for (int64_t k = k0; k < k1; k++) {
        s += a[k] * b[k];
    }
    return s;
}

#ifndef SKIM_CPU_NEON /* the portable path, which aarch64 never takes */
static float hsum8(const float a[8]) {
    float s0 = (a[0] + a[4]) + (a[2] + a[6]);
    float s1 = (a[1] + a[5]) + (a[3] + a[7]);
    return s0 + s1;
}

static float dot_generic(const float *a, const float *b, int64_t L) {
    float acc[8] = {0};
    int64_t L8 = L & ~(int64_t)7;
    for (int64_t k = 0; k < L8; k += 8) {
        for (int l = 0; l < 8; l++) {
            acc[l] += a[k + l] * b[k + l];
        }
    }
    return hsum8(acc) + tail_dot(a, b, L8, L);
}
#endif

#ifdef SKIM_CPU_X86
__attribute__((target("avx2,fma"))) static float dot_avx(const float *a, const float *b,
                                                          int64_t L) {
    __m256 acc = _mm256_setzero_ps();
    int64_t L8 = L & ~(int64_t)7;
    for (int64_t k = 0; k < L8; k += 8) {
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc);
    }
    float h = skim_cpu_hsum_avx(acc);
    _mm256_zeroupper(); /* see tile_avx */
    return h + tail_dot(a, b, L8, L);
}

/* out[r][j] = dot(w[r], x[j]) for 4 w rows and 3 x rows. */
__attribute__((target("avx2,fma"))) static void tile_avx(const float *const w[MR],
                                                          const float *const x[NR], int64_t L,
                                                          float out[MR][NR]) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    const float *x0 = x[0], *x1 = x[1], *x2 = x[2];
    int64_t L8 = L & ~(int64_t)7;
    for (int64_t k = 0; k < L8; k += 8) {
        __m256 b0 = _mm256_loadu_ps(x0 + k), b1 = _mm256_loadu_ps(x1 + k);
        __m256 b2 = _mm256_loadu_ps(x2 + k);
        __m256 a = _mm256_loadu_ps(w0 + k);
        c00 = _mm256_fmadd_ps(a, b0, c00);
        c01 = _mm256_fmadd_ps(a, b1, c01);
        c02 = _mm256_fmadd_ps(a, b2, c02);
        a = _mm256_loadu_ps(w1 + k);
        c10 = _mm256_fmadd_ps(a, b0, c10);
        c11 = _mm256_fmadd_ps(a, b1, c11);
        c12 = _mm256_fmadd_ps(a, b2, c12);
        a = _mm256_loadu_ps(w2 + k);
        c20 = _mm256_fmadd_ps(a, b0, c20);
        c21 = _mm256_fmadd_ps(a, b1, c21);
        c22 = _mm256_fmadd_ps(a, b2, c22);
        a = _mm256_loadu_ps(w3 + k);
        c30 = _mm256_fmadd_ps(a, b0, c30);
        c31 = _mm256_fmadd_ps(a, b1, c31);
        c32 = _mm256_fmadd_ps(a, b2, c32);
    }
    __m256 c[MR][NR] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32}};
    for (int r = 0; r < MR; r++) {
        for (int j = 0; j < NR; j++) {
            out[r][j] = skim_cpu_hsum_avx(c[r][j]);
        }
    }
    /* Before calling the SSE code of tail_dot: gcc 12 leaves the upper halves dirty here
     * (it emits no vzeroupper when 256-bit values live across a call), and SSE code after
     * that ran about 7x slower on an AMD EPYC (stories260K decode: 0.47 s -> 0.07 s). */
    _mm256_zeroupper();
    for (int r = 0; r < MR; r++) {
        for (int j = 0; j < NR; j++) {
            out[r][j] += tail_dot(w[r], x[j], L8, L);
        }
    }
}

/* out[r] = dot(w[r], x) for 4 w rows (the decode shape). */
__attribute__((target("avx2,fma"))) static void col_avx(const float *const w[MR],
                                                         const float *x, int64_t L,
                                                         float out[MR]) {
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    int64_t L8 = L & ~(int64_t)7;
    for (int64_t k = 0; k < L8; k += 8) {
        __m256 b = _mm256_loadu_ps(x + k);
        c0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k), b, c0);
        c1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + k), b, c1);
        c2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + k), b, c2);
        c3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + k), b, c3);
    }
    __m256 c[MR] = {c0, c1, c2, c3};
    for (int r = 0; r < MR; r++) {
        out[r] = skim_cpu_hsum_avx(c[r]);
    }
    _mm256_zeroupper(); /* see tile_avx */
    for (int r = 0; r < MR; r++) {
        out[r] += tail_dot(w[r], x, L8, L);
    }
}

__attribute__((target("avx2,fma,f16c"))) static void f16_avx(const uint16_t *src, float *dst,
                                                              int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++) {
        dst[i] = skim_fp16_to_fp32(src[i]);
    }
}
#endif

#ifdef SKIM_CPU_NEON
static float dot_neon(const float *a, const float *b, int64_t L) {
    float32x4_t lo = vdupq_n_f32(0.0f), hi = lo;
    int64_t L8 = L & ~(int64_t)7;
    for (int64_t k = 0; k < L8; k += 8) {
        lo = vfmaq_f32(lo, vld1q_f32(a + k), vld1q_f32(b + k));
        hi = vfmaq_f32(hi, vld1q_f32(a + k + 4), vld1q_f32(b + k + 4));
    }
    return skim_cpu_hsum_neon(lo, hi) + tail_dot(a, b, L8, L);
}

/* out[r][j] = dot(w[r], x[j]) for 4 w rows and 3 x rows: 24 accumulators (lo and hi
 * halves), each lane's sum in dot_neon's order. */
static void tile_neon(const float *const w[MR], const float *const x[NR], int64_t L,
                      float out[MR][NR]) {
    float32x4_t lo[MR][NR], hi[MR][NR];
    for (int r = 0; r < MR; r++) {
        for (int j = 0; j < NR; j++) {
            lo[r][j] = hi[r][j] = vdupq_n_f32(0.0f);
        }
    }
    int64_t L8 = L & ~(int64_t)7;
    for (int64_t k = 0; k < L8; k += 8) {
        float32x4_t b0 = vld1q_f32(x[0] + k), b1 = vld1q_f32(x[1] + k), b2 = vld1q_f32(x[2] + k);
        for (int r = 0; r < MR; r++) {
            float32x4_t a = vld1q_f32(w[r] + k);
            lo[r][0] = vfmaq_f32(lo[r][0], a, b0);
            lo[r][1] = vfmaq_f32(lo[r][1], a, b1);
            lo[r][2] = vfmaq_f32(lo[r][2], a, b2);
        }
        b0 = vld1q_f32(x[0] + k + 4), b1 = vld1q_f32(x[1] + k + 4), b2 = vld1q_f32(x[2] + k + 4);
        for (int r = 0; r < MR; r++) {
            float32x4_t a = vld1q_f32(w[r] + k + 4);
            hi[r][0] = vfmaq_f32(hi[r][0], a, b0);
            hi[r][1] = vfmaq_f32(hi[r][1], a, b1);
            hi[r][2] = vfmaq_f32(hi[r][2], a, b2);
        }
    }
    for (int r = 0; r < MR; r++) {
        for (int j = 0; j < NR; j++) {
            out[r][j] = skim_cpu_hsum_neon(lo[r][j], hi[r][j]) + tail_dot(w[r], x[j], L8, L);
        }
    }
}

/* out[r] = dot(w[r], x) for 4 w rows (the decode shape). */
static void col_neon(const float *const w[MR], const float *x, int64_t L, float out[MR]) {
    float32x4_t lo[MR], hi[MR];
    for (int r = 0; r < MR; r++) {
        lo[r] = hi[r] = vdupq_n_f32(0.0f);
    }
    int64_t L8 = L & ~(int64_t)7;
    for (int64_t k = 0; k < L8; k += 8) {
        float32x4_t bl = vld1q_f32(x + k), bh = vld1q_f32(x + k + 4);
        for (int r = 0; r < MR; r++) {
            lo[r] = vfmaq_f32(lo[r], vld1q_f32(w[r] + k), bl);
            hi[r] = vfmaq_f32(hi[r], vld1q_f32(w[r] + k + 4), bh);
        }
    }
    for (int r = 0; r < MR; r++) {
        out[r] = skim_cpu_hsum_neon(lo[r], hi[r]) + tail_dot(w[r], x, L8, L);
    }
}
#endif

/* The register-tiled kernels of this machine, and when they apply. */
#if defined(SKIM_CPU_NEON)
#define SKIM_CPU_TILES(c) true
#define tile_simd tile_neon
#define col_simd col_neon
#elif defined(SKIM_CPU_X86)
#define SKIM_CPU_TILES(c) ((c)->avx2)
#define tile_simd tile_avx
#define col_simd col_avx
#endif

/* Exact and branch-free (the loop vectorises): a normal half moves its exponent bias by
 * 112; inf and NaN by 224; zero and subnormals are m * 2^-24, exact in float. */
static float h2f(uint16_t h) {
    int32_t em = h & 0x7fff;
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t norm = ((uint32_t)em << 13) + 0x38000000u;
    uint32_t big = norm + 0x38000000u;
    float sub = (float)em * 5.9604644775390625e-8f;
    uint32_t subb;
    memcpy(&subb, &sub, 4);
    uint32_t m_sub = (uint32_t)-(int32_t)(em < 0x400), m_big = (uint32_t)-(int32_t)(em >= 0x7c00);
    uint32_t bits = (subb & m_sub) | (big & m_big) | (norm & ~(m_sub | m_big));
    bits |= sign;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void skim_cpu_f16_to_f32(const uint16_t *src, float *dst, int64_t n, bool avx2) {
#ifdef SKIM_CPU_X86
    if (avx2) {
        f16_avx(src, dst, n);
        return;
    }
#endif
    (void)avx2;
    for (int64_t i = 0; i < n; i++) {
        dst[i] = h2f(src[i]);
    }
}

static float dot(const skim_cpu_ctx *c, const float *a, const float *b, int64_t L) {
#if defined(SKIM_CPU_NEON)
    (void)c;
    return dot_neon(a, b, L);
#else
#ifdef SKIM_CPU_X86
    if (c->avx2) {
        return dot_avx(a, b, L);
    }
#endif
    return dot_generic(a, b, L);
#endif
}

float skim_cpu_dot(const skim_cpu_ctx *c, const float *a, const float *b, int64_t n) {
    return dot(c, a, b, n);
}

#ifdef SKIM_CPU_X86
__attribute__((target("avx2,fma"))) static void axpy_avx(float *y, float a, const float *x,
                                                          int64_t n) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i),
                                                _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++) {
        y[i] += a * x[i];
    }
}
#endif

void skim_cpu_axpy(const skim_cpu_ctx *c, float *y, float a, const float *x, int64_t n) {
#ifdef SKIM_CPU_X86
    if (c->avx2) {
        axpy_avx(y, a, x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) {
        y[i] += a * x[i];
    }
}

size_t skim_cpu_mm_scratch(int64_t k, int64_t n) {
    /* 4 decoded w rows, SKIM_CPU_QA_MAX_N x rows rounded to 8 bits (per block of 32: a
     * scale, a sum and 32 bytes, 10 floats), or the k-blocked tiles' copy of x rows */
    size_t rows = (size_t)MR * (size_t)(k + 2 * SKIM_QK_K) + 64;
    size_t qa = (size_t)SKIM_CPU_QA_MAX_N * 10 * (size_t)(k / 32 + 1), xp = skim_cpu_mmk_scratch(k, n);
    rows = rows > xp ? rows : xp;
    rows = rows > qa ? rows : qa;
    return (rows + 15) & ~(size_t)15; /* what callers put after it stays aligned */
}

/* w row m over [k0, k1) as floats: in place for F32, else converted into buf. */
static const float *w_row(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m, float *buf) {
    const uint8_t *row = mm->w + (size_t)m * mm->wrow;
    if (mm->wt == SKIM_TYPE_F32) {
        return (const float *)(const void *)row + mm->k0;
    }
    if (mm->wt == SKIM_TYPE_F16) {
        skim_cpu_f16_to_f32((const uint16_t *)(const void *)row + mm->k0, buf, mm->k1 - mm->k0,
                            c->avx2);
        return buf;
    }
    int64_t qk = skim_type_block_size(mm->wt), b0 = mm->k0 / qk, b1 = (mm->k1 + qk - 1) / qk;
    size_t bb = skim_type_block_bytes(mm->wt);
    if (!skim_cpu_row_decode(c, mm->wt, row + (size_t)b0 * bb, buf, (b1 - b0) * qk)) {
        skim_row_to_f32(mm->wt, row + (size_t)b0 * bb, buf, (b1 - b0) * qk);
    }
    return buf + (mm->k0 - b0 * qk);
}

static void put(const skim_cpu_mm *mm, int64_t m, int64_t col, float v) {
    float *y = mm->y + col * mm->ldy + m;
    *y = mm->acc ? *y + v : v;
}

/* One panel of mr (<= 4) w rows against every listed x row. */
static void panel(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m, int mr,
                  const float *const w[MR], const float *const *xr, const int64_t *ycol,
                  int64_t n_x) {
    int64_t L = mm->k1 - mm->k0, i = 0;
#ifdef SKIM_CPU_TILES
    if (SKIM_CPU_TILES(c) && mr == MR) {
        float out[MR][NR];
        for (; i + NR <= n_x; i += NR) {
            const float *x[NR] = {xr[i] + mm->k0, xr[i + 1] + mm->k0, xr[i + 2] + mm->k0};
            tile_simd(w, x, L, out);
            for (int r = 0; r < MR; r++) {
                for (int j = 0; j < NR; j++) {
                    put(mm, m + r, ycol[i + j], out[r][j]);
                }
            }
        }
        for (; i < n_x; i++) {
            float o[MR];
            col_simd(w, xr[i] + mm->k0, L, o);
            for (int r = 0; r < MR; r++) {
                put(mm, m + r, ycol[i], o[r]);
            }
        }
        return;
    }
#endif
    for (; i < n_x; i++) {
        for (int r = 0; r < mr; r++) {
            put(mm, m + r, ycol[i], dot(c, w[r], xr[i] + mm->k0, L));
        }
    }
}

/* The most x rows the small-N tiles (matvec.c, matvec_k.c) take: F32 rows need no
 * decoding, and from 6 x rows on the k-blocked tiles were faster (4096 x 4096, 1 thread:
 * x6 8.9 -> 7.9 ms, x8 10.0 -> 8.0; x5 the same); the AVX-512 tiles (matvec_512.c, up to
 * 8 x rows at once) beat them again (x6 3.3 -> 3.0 ms, x8 4.1 -> 3.7), and the AVX-512
 * k-blocked tiles (matmul_k512.c) beat those from 6 x rows for F32 and at 8 for Q8_0 and
 * Q4_0 (1 thread, GFLOP/s of thread CPU time, small-N against k-blocked: F32 4096 x 4096
 * x6 72-76 -> 81-84, x8 74-78 -> 84-87; Q8_0 1024 x 1024 x8 80-86 -> 98-101, Q4_0 75-84
 * -> 89-95; at x6 and x7 they were as fast; F16 stays faster with the small-N tiles up
 * to x8). Q4_K and Q6_K take the AVX-512 k-blocked tiles from 5 x rows (4096 x 4096, 1
 * thread, median of 3 interleaved runs, small-N against k-blocked: Q4_K x4 1.87 -> 2.37
 * ms, x5 2.86 -> 2.70, x6 3.02 -> 2.59, x8 3.68 -> 3.08; Q6_K x4 2.08 -> 2.65, x5 3.35
 * -> 3.06, x7 3.61 -> 3.65, x8 4.04 -> 3.68); with AVX2 only they have none (matmul_k.c)
 * and keep the small-N tiles up to 8 x rows, the core's panels above. */
static int64_t mv_max(const skim_cpu_ctx *c, skim_type t) {
    if (t == SKIM_TYPE_F32) {
        return 5;
    }
    if (c->avx512 && (t == SKIM_TYPE_Q4_K || t == SKIM_TYPE_Q6_K)) {
        return 4;
    }
    return c->avx512 && (t == SKIM_TYPE_Q8_0 || t == SKIM_TYPE_Q4_0) ? 7 : SKIM_CPU_MV_MAX;
}

void skim_cpu_mm_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0, int64_t m1,
                     const float *const *xrows, const int64_t *ycol, int64_t n_x) {
    int64_t L = mm->k1 - mm->k0;
    size_t stride = (size_t)L + 2 * SKIM_QK_K;
    if (n_x <= 0 || (mm->qa && (skim_cpu_mvq_run(c, mm, m0, m1, xrows, ycol, n_x) ||
                                   skim_cpu_mvkq_run(c, mm, m0, m1, xrows, ycol, n_x))) ||
        (n_x <= mv_max(c, mm->wt) && (skim_cpu_mvk_run(c, mm, m0, m1, xrows, ycol, n_x) ||
                                       skim_cpu_mv_run(c, mm, m0, m1, xrows, ycol, n_x))) ||
        skim_cpu_mmk_run(c, mm, m0, m1, xrows, ycol, n_x)) {
        return;
    }
    for (int64_t m = m0; m < m1; m += MR) {
        int mr = m1 - m < MR ? (int)(m1 - m) : MR;
        const float *w[MR];
        for (int r = 0; r < MR; r++) {
            w[r] = w_row(c, mm, m + (r < mr ? r : 0), c->scratch + (size_t)r * stride);
        }
        panel(c, mm, m, mr, w, xrows, ycol, n_x);
    }
}

/* ---------------------------------------------------------------- mul_mat */

void skim_cpu_op_mul_mat(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t, *w = t->src[0], *x = t->src[1];
    const int64_t *xe = nd->sne[1];
    int64_t M = w->ne[1], N = xe[1], B2 = xe[2], B3 = xe[3];
    if (M == 0 || N == 0 || B2 == 0 || B3 == 0) {
        return;
    }
    int64_t r2 = x->ne[2] / w->ne[2], r3 = x->ne[3] / w->ne[3];
    skim_cpu_mm mm = {w->type, NULL, w->nb[1], 0, w->ne[0], NULL, M, false, skim_cpu_qa(c, x)};
    /* a task rounds its x rows to 8 bits first (with rounded activations), or the k-blocked
     * tiles copy them (more than mv_max x rows): then each thread takes one run of
     * w rows per matrix (a multiple of 8, or of 16, the tiles' group), so each x row is
     * rounded or copied once per thread (the split does not change any output's order) */
    int64_t mcr = MC;
    if (mm.qa || N > mv_max(c, w->type)) {
        int64_t q = mm.qa ? 8 : 16;
        mcr = ((M + c->nth - 1) / c->nth + q - 1) / q * q;
    }
    int64_t n_mc = (M + mcr - 1) / mcr, n_nc = (N + NB - 1) / NB;
    int64_t tb, te;
    skim_cpu_split(B3 * B2 * n_nc * n_mc, c->ith, c->nth, &tb, &te);
    const float *xr[NB];
    int64_t yc[NB];
    for (int64_t task = tb; task < te; task++) {
        int64_t mc = task % n_mc, rest = task / n_mc;
        int64_t nc = rest % n_nc, b = rest / n_nc;
        int64_t i2 = b % B2, i3 = b / B2;
        mm.w = nd->src[0] + (size_t)(i2 / r2) * w->nb[2] + (size_t)(i3 / r3) * w->nb[3];
        mm.y = (float *)(void *)(nd->dst + (size_t)i2 * t->nb[2] + (size_t)i3 * t->nb[3]);
        const uint8_t *xb = nd->src[1] + (size_t)i2 * x->nb[2] + (size_t)i3 * x->nb[3];
        int64_t n0 = nc * NB, n1 = n0 + NB < N ? n0 + NB : N;
        for (int64_t n = n0; n < n1; n++) {
            xr[n - n0] = (const float *)(const void *)(xb + (size_t)n * x->nb[1]);
            yc[n - n0] = n;
        }
        int64_t m0 = mc * mcr, m1 = m0 + mcr < M ? m0 + mcr : M;
        skim_cpu_mm_run(c, &mm, m0, m1, xr, yc, n1 - n0);
    }
}
