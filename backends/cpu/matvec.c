/* matvec.c - products with F32, F16, Q8_0 and Q4_0 weights for a few x rows (decode, up to
 * SKIM_CPU_MV_MAX), and the vector decoding of such rows for the matmul core's panels.
 *
 * The matmul core converts a panel of 4 w rows to floats in scratch, then runs its tiles.
 * For a few x rows that write and re-read costs more than the arithmetic, so here the w
 * rows are decoded in registers, 32 values at a time, and multiplied at once: each weight
 * byte is read from memory once per run. With AVX2 a decoded block serves up to 4 x rows
 * (tiles of 8 w rows x 1, 4 x 2, 2 x 3, 2 x 4; more x rows run in groups of 4 over the
 * same 8 w rows, which stay in L1 or L2); on NEON a panel of 4 rows meets 1 or 2 x rows. The decoded values are exact (d * q with an 11-bit d and a small integer q;
 * fp16 to fp32) and every dot keeps the core's order (lane l accumulates k = l mod 8 with
 * fused multiply-adds, the same lane reduction, an empty tail), so the results are the
 * bits the core would give: they depend neither on the thread count nor on whether this
 * path or the core ran. With AVX-512 the tiles of matvec_512.c run instead (two w rows per
 * register, the same bits). */
#include "cpu-int.h"
#include "cpu-simd.h"

#include <string.h>

#ifdef SKIM_CPU_X86
#define AVX2_F16C __attribute__((target("avx2,fma,f16c")))

AVX2_F16C static inline __m256 cvt8(__m128i q, __m256 d) {
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d);
}

/* One block of 32 values as 4 vectors of 8 (k order). */
AVX2_F16C static inline void q8_avx(const uint8_t *blk, __m256 v[4]) {
    __m256 d = _mm256_set1_ps(_cvtsh_ss(skim_cpu_rd16(blk)));
    for (int i = 0; i < 4; i++) { /* 8-byte loads fold into the sign extension */
        v[i] = cvt8(_mm_loadl_epi64((const __m128i *)(const void *)(blk + 2 + 8 * i)), d);
    }
}

/* Values 0-15 are the low nibbles of bytes 0-15, values 16-31 the high ones. */
AVX2_F16C static inline void q4_avx(const uint8_t *blk, __m256 v[4]) {
    __m256 d = _mm256_set1_ps(_cvtsh_ss(skim_cpu_rd16(blk)));
    __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(blk + 2));
    __m128i m = _mm_set1_epi8(0x0f), e = _mm_set1_epi8(8);
    __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m), e);
    __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m), e);
    v[0] = cvt8(lo, d);
    v[1] = cvt8(_mm_srli_si128(lo, 8), d);
    v[2] = cvt8(hi, d);
    v[3] = cvt8(_mm_srli_si128(hi, 8), d);
}

AVX2_F16C static inline void f16_avx(const uint8_t *blk, __m256 v[4]) {
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(blk + 16 * i)));
    }
}

/* out[r] = dot(w row r, x) over nb blocks of 32 for 4 rows: x is loaded once per block
 * for the 4 rows. */
#define COL_AVX(name, decode, bb)                                                          \
    AVX2_F16C static void name(const uint8_t *const w[4], const float *x, int64_t nb,    \
                               float out[4]) {                                             \
        __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;                        \
        for (int64_t b = 0; b < nb; b++) {                                                 \
            const float *xb = x + 32 * b;                                                  \
            __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);                 \
            __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);           \
            __m256 v[4];                                                                   \
            decode(w[0] + (size_t)b * (bb), v);                                            \
            c0 = _mm256_fmadd_ps(v[0], x0, c0);                                            \
            c0 = _mm256_fmadd_ps(v[1], x1, c0);                                            \
            c0 = _mm256_fmadd_ps(v[2], x2, c0);                                            \
            c0 = _mm256_fmadd_ps(v[3], x3, c0);                                            \
            decode(w[1] + (size_t)b * (bb), v);                                            \
            c1 = _mm256_fmadd_ps(v[0], x0, c1);                                            \
            c1 = _mm256_fmadd_ps(v[1], x1, c1);                                            \
            c1 = _mm256_fmadd_ps(v[2], x2, c1);                                            \
            c1 = _mm256_fmadd_ps(v[3], x3, c1);                                            \
            decode(w[2] + (size_t)b * (bb), v);                                            \
            c2 = _mm256_fmadd_ps(v[0], x0, c2);                                            \
            c2 = _mm256_fmadd_ps(v[1], x1, c2);                                            \
            c2 = _mm256_fmadd_ps(v[2], x2, c2);                                            \
            c2 = _mm256_fmadd_ps(v[3], x3, c2);                                            \
            decode(w[3] + (size_t)b * (bb), v);                                            \
            c3 = _mm256_fmadd_ps(v[0], x0, c3);                                            \
            c3 = _mm256_fmadd_ps(v[1], x1, c3);                                            \
            c3 = _mm256_fmadd_ps(v[2], x2, c3);                                            \
            c3 = _mm256_fmadd_ps(v[3], x3, c3);                                            \
        }                                                                                  \
        /* + 0.0f: the core adds its (here empty) tail, which turns -0 into +0 */          \
        out[0] = skim_cpu_hsum_avx(c0) + 0.0f;                                             \
        out[1] = skim_cpu_hsum_avx(c1) + 0.0f;                                             \
        out[2] = skim_cpu_hsum_avx(c2) + 0.0f;                                             \
        out[3] = skim_cpu_hsum_avx(c3) + 0.0f;                                             \
    }

COL_AVX(col_q8_avx, q8_avx, 2 + SKIM_QK)
COL_AVX(col_q4_avx, q4_avx, 2 + SKIM_QK / 2)
COL_AVX(col_f16_avx, f16_avx, 2 * SKIM_QK)

AVX2_F16C static inline void f32_avx(const uint8_t *blk, __m256 v[4]) {
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_loadu_ps((const float *)(const void *)blk + 8 * i);
    }
}

/* out[r * NX + j] = dot(w row r, x row j) over nb blocks of 32, for R w rows and NX x
 * rows (R * NX <= 8 accumulators): each w block is decoded once in registers and used by
 * the NX x rows, whose loads the R rows share. The loops have constant bounds and unroll,
 * so the accumulators stay in registers. */
#define TILE_AVX(name, decode, bb, R, NX)                                                  \
    AVX2_F16C static void name(const uint8_t *const *w, const float *const *x, int64_t nb, \
                               float *out) {                                               \
        __m256 acc[R][NX];                                                                 \
        for (int r = 0; r < (R); r++) {                                                    \
            for (int j = 0; j < (NX); j++) {                                               \
                acc[r][j] = _mm256_setzero_ps();                                           \
            }                                                                              \
        }                                                                                  \
        for (int64_t b = 0; b < nb; b++) {                                                 \
            for (int r = 0; r < (R); r++) {                                                \
                __m256 v[4];                                                               \
                decode(w[r] + (size_t)b * (bb), v);                                        \
                for (int j = 0; j < (NX); j++) {                                           \
                    const float *xb = x[j] + 32 * b;                                       \
                    acc[r][j] = _mm256_fmadd_ps(v[0], _mm256_loadu_ps(xb), acc[r][j]);     \
                    acc[r][j] = _mm256_fmadd_ps(v[1], _mm256_loadu_ps(xb + 8), acc[r][j]); \
                    acc[r][j] = _mm256_fmadd_ps(v[2], _mm256_loadu_ps(xb + 16), acc[r][j]);\
                    acc[r][j] = _mm256_fmadd_ps(v[3], _mm256_loadu_ps(xb + 24), acc[r][j]);\
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        for (int r = 0; r < (R); r++) {                                                    \
            for (int j = 0; j < (NX); j++) {                                               \
                out[r * (NX) + j] = skim_cpu_hsum_avx(acc[r][j]) + 0.0f;                   \
            }                                                                              \
        }                                                                                  \
    }

/* The tiles of each type: 8 rows x 1, 4 x 2, 2 x 3 and 2 x 4 (index NX - 1). */
#define TILES_AVX(t, decode, bb)                                                           \
    TILE_AVX(t##_8x1, decode, bb, 8, 1)                                                    \
    TILE_AVX(t##_4x2, decode, bb, 4, 2)                                                    \
    TILE_AVX(t##_2x3, decode, bb, 2, 3)                                                    \
    TILE_AVX(t##_2x4, decode, bb, 2, 4)
TILES_AVX(nt_f32, f32_avx, 4 * SKIM_QK)
TILES_AVX(nt_f16, f16_avx, 2 * SKIM_QK)
TILES_AVX(nt_q8, q8_avx, 2 + SKIM_QK)
TILES_AVX(nt_q4, q4_avx, 2 + SKIM_QK / 2)

#define ROW_AVX(name, decode, bb)                                                          \
    AVX2_F16C static void name(const uint8_t *src, float *dst, int64_t nb) {              \
        for (int64_t b = 0; b < nb; b++) {                                                 \
            __m256 v[4];                                                                   \
            decode(src + (size_t)b * (bb), v);                                             \
            for (int i = 0; i < 4; i++) {                                                  \
                _mm256_storeu_ps(dst + 32 * b + 8 * i, v[i]);                              \
            }                                                                              \
        }                                                                                  \
    }

ROW_AVX(row_q8_avx, q8_avx, 2 + SKIM_QK)
ROW_AVX(row_q4_avx, q4_avx, 2 + SKIM_QK / 2)
#endif /* SKIM_CPU_X86 */

#ifdef SKIM_CPU_NEON
/* A block of 32 values as 8 vectors of 4: v[2i] the low and v[2i+1] the high half of
 * the core's 8-value chunk i. */
static inline void s8x8_neon(int8x8_t q, float32x4_t d, float32x4_t *lo, float32x4_t *hi) {
    int16x8_t h = vmovl_s8(q);
    *lo = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(h))), d);
    *hi = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(h))), d);
}

static inline float32x4_t d_neon(const uint8_t *blk) {
    return vdupq_n_f32(skim_fp16_to_fp32(skim_cpu_rd16(blk)));
}

static inline void q8_neon(const uint8_t *blk, float32x4_t v[8]) {
    float32x4_t d = d_neon(blk);
    int8x16_t q0 = vld1q_s8((const int8_t *)(blk + 2)), q1 = vld1q_s8((const int8_t *)(blk + 18));
    s8x8_neon(vget_low_s8(q0), d, &v[0], &v[1]);
    s8x8_neon(vget_high_s8(q0), d, &v[2], &v[3]);
    s8x8_neon(vget_low_s8(q1), d, &v[4], &v[5]);
    s8x8_neon(vget_high_s8(q1), d, &v[6], &v[7]);
}

static inline void q4_neon(const uint8_t *blk, float32x4_t v[8]) {
    float32x4_t d = d_neon(blk);
    uint8x16_t q = vld1q_u8(blk + 2);
    int8x16_t e = vdupq_n_s8(8);
    int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))), e);
    int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), e);
    s8x8_neon(vget_low_s8(lo), d, &v[0], &v[1]);
    s8x8_neon(vget_high_s8(lo), d, &v[2], &v[3]);
    s8x8_neon(vget_low_s8(hi), d, &v[4], &v[5]);
    s8x8_neon(vget_high_s8(hi), d, &v[6], &v[7]);
}

static inline void f16_neon(const uint8_t *blk, float32x4_t v[8]) {
    for (int i = 0; i < 8; i++) {
        v[i] = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)(const void *)(blk + 8 * i))));
    }
}

#define COL_NEON(name, decode, bb)                                                         \
    static void name(const uint8_t *const w[4], const float *x, int64_t nb, float out[4]) { \
        float32x4_t lo[4], hi[4];                                                          \
        for (int r = 0; r < 4; r++) {                                                      \
            lo[r] = hi[r] = vdupq_n_f32(0.0f);                                             \
        }                                                                                  \
        for (int64_t b = 0; b < nb; b++) {                                                 \
            float32x4_t xv[8];                                                             \
            for (int i = 0; i < 8; i++) {                                                  \
                xv[i] = vld1q_f32(x + 32 * b + 4 * i);                                     \
            }                                                                              \
            for (int r = 0; r < 4; r++) {                                                  \
                float32x4_t v[8];                                                          \
                decode(w[r] + (size_t)b * (bb), v);                                        \
                for (int i = 0; i < 8; i += 2) {                                           \
                    lo[r] = vfmaq_f32(lo[r], v[i], xv[i]);                                 \
                    hi[r] = vfmaq_f32(hi[r], v[i + 1], xv[i + 1]);                         \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        for (int r = 0; r < 4; r++) {                                                      \
            out[r] = skim_cpu_hsum_neon(lo[r], hi[r]) + 0.0f;                              \
        }                                                                                  \
    }

COL_NEON(col_q8_neon, q8_neon, 2 + SKIM_QK)
COL_NEON(col_q4_neon, q4_neon, 2 + SKIM_QK / 2)
COL_NEON(col_f16_neon, f16_neon, 2 * SKIM_QK)

#define ROW_NEON(name, decode, bb)                                                         \
    static void name(const uint8_t *src, float *dst, int64_t nb) {                         \
        for (int64_t b = 0; b < nb; b++) {                                                 \
            float32x4_t v[8];                                                              \
            decode(src + (size_t)b * (bb), v);                                             \
            for (int i = 0; i < 8; i++) {                                                  \
                vst1q_f32(dst + 32 * b + 4 * i, v[i]);                                     \
            }                                                                              \
        }                                                                                  \
    }

ROW_NEON(row_q8_neon, q8_neon, 2 + SKIM_QK)
ROW_NEON(row_q4_neon, q4_neon, 2 + SKIM_QK / 2)
#endif /* SKIM_CPU_NEON */

typedef void (*col_fn)(const uint8_t *const w[4], const float *x, int64_t nb, float out[4]);
typedef void (*row_fn)(const uint8_t *src, float *dst, int64_t nb);

static col_fn col_kernel(const skim_cpu_ctx *c, skim_type t) {
#if defined(SKIM_CPU_NEON)
    (void)c;
    return t == SKIM_TYPE_Q8_0 ? col_q8_neon
         : t == SKIM_TYPE_Q4_0 ? col_q4_neon
         : t == SKIM_TYPE_F16  ? col_f16_neon
                               : NULL;
#elif defined(SKIM_CPU_X86)
    if (!c->avx2) {
        return NULL;
    }
    return t == SKIM_TYPE_Q8_0 ? col_q8_avx
         : t == SKIM_TYPE_Q4_0 ? col_q4_avx
         : t == SKIM_TYPE_F16  ? col_f16_avx
                               : NULL;
#else
    (void)c;
    (void)t;
    return NULL;
#endif
}

bool skim_cpu_row_decode(const skim_cpu_ctx *c, skim_type t, const uint8_t *src, float *dst,
                         int64_t n) {
    if (t == SKIM_TYPE_Q4_K || t == SKIM_TYPE_Q6_K) {
        return skim_cpu_row_decode_k(c, t, src, dst, n);
    }
    row_fn f = NULL;
#if defined(SKIM_CPU_NEON)
    (void)c;
    f = t == SKIM_TYPE_Q8_0 ? row_q8_neon : t == SKIM_TYPE_Q4_0 ? row_q4_neon : NULL;
#elif defined(SKIM_CPU_X86)
    if (c->avx2) {
        f = t == SKIM_TYPE_Q8_0 ? row_q8_avx : t == SKIM_TYPE_Q4_0 ? row_q4_avx : NULL;
    }
#else
    (void)c;
    (void)t;
#endif
    if (!f || n % SKIM_QK != 0) {
        return false;
    }
    f(src, dst, n / SKIM_QK);
    return true;
}

void skim_cpu_tiles_run(const skim_cpu_tile_fn *f, const int *rows, int group, int64_t qk,
                        const skim_cpu_mm *mm, size_t off, int64_t m0, int64_t m1,
                        const float *const *xrows, const int64_t *ycol, int64_t n_x) {
    int64_t nb = (mm->k1 - mm->k0) / qk;
    for (int64_t m = m0; m < m1; m += 8) {
        int64_t me = m + 8 < m1 ? m + 8 : m1;
        for (int64_t j0 = 0; j0 < n_x; j0 += group) {
            int nx = n_x - j0 < group ? (int)(n_x - j0) : group, R = rows[nx - 1];
            const float *x[8];
            for (int j = 0; j < nx; j++) {
                x[j] = xrows[j0 + j] + mm->k0;
            }
            for (int64_t mr = m; mr < me; mr += R) {
                const uint8_t *w[8];
                for (int r = 0; r < R; r++) {
                    w[r] = mm->w + (size_t)(mr + r < me ? mr + r : mr) * mm->wrow + off;
                }
                float out[32];
                f[nx - 1](w, x, nb, out);
                int rr = me - mr < R ? (int)(me - mr) : R;
                for (int j = 0; j < nx; j++) {
                    float *y = mm->y + ycol[j0 + j] * mm->ldy + mr;
                    for (int r = 0; r < rr; r++) {
                        y[r] = mm->acc ? y[r] + out[r * nx + j] : out[r * nx + j];
                    }
                }
            }
        }
    }
}

#ifdef SKIM_CPU_X86
typedef skim_cpu_tile_fn tile_fn;
static const int tile_rows[4] = {8, 4, 2, 2}; /* w rows of the tile for 1-4 x rows */

static bool tiles_of(skim_type t, tile_fn f[4]) {
#define SET_TILES(p) (f[0] = p##_8x1, f[1] = p##_4x2, f[2] = p##_2x3, f[3] = p##_2x4, true)
    switch (t) {
    case SKIM_TYPE_F32: return SET_TILES(nt_f32);
    case SKIM_TYPE_F16: return SET_TILES(nt_f16);
    case SKIM_TYPE_Q8_0: return SET_TILES(nt_q8);
    case SKIM_TYPE_Q4_0: return SET_TILES(nt_q4);
    default: return false;
    }
#undef SET_TILES
}
#endif /* SKIM_CPU_X86 */

bool skim_cpu_mv_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0, int64_t m1,
                     const float *const *xrows, const int64_t *ycol, int64_t n_x) {
    int64_t L = mm->k1 - mm->k0;
    /* Whole blocks of 32 only (F32 and F16 too: their kernels read 32 values a step). */
    if (mm->k0 % SKIM_QK != 0 || L % SKIM_QK != 0) {
        return false;
    }
    size_t off = (size_t)(mm->k0 / skim_type_block_size(mm->wt)) * skim_type_block_bytes(mm->wt);
    if (c->avx512 && skim_cpu_mv512_run(c, mm, off, m0, m1, xrows, ycol, n_x)) {
        return true;
    }
#ifdef SKIM_CPU_X86
    tile_fn tf[4];
    /* One x row with Q8_0 or Q4_0: the 4-row column kernel below is a little faster than
     * the 8 x 1 tile (their decoding, not the accumulator chains, bounds them). */
    bool col1 = n_x == 1 && (mm->wt == SKIM_TYPE_Q8_0 || mm->wt == SKIM_TYPE_Q4_0);
    if (c->avx2 && !col1 && tiles_of(mm->wt, tf)) {
        skim_cpu_tiles_run(tf, tile_rows, 4, SKIM_QK, mm, off, m0, m1, xrows, ycol, n_x);
        return true;
    }
#endif
    col_fn f = col_kernel(c, mm->wt);
    if (!f || n_x > 2) { /* NEON: 1 or 2 x rows, as before; x86: Q8_0 and Q4_0 at 1 */
        return false;
    }
    for (int64_t m = m0; m < m1; m += 4) {
        int mr = m1 - m < 4 ? (int)(m1 - m) : 4;
        const uint8_t *w[4];
        for (int r = 0; r < 4; r++) {
            w[r] = mm->w + (size_t)(m + (r < mr ? r : 0)) * mm->wrow + off;
        }
        for (int64_t i = 0; i < n_x; i++) {
            float out[4];
            f(w, xrows[i] + mm->k0, L / SKIM_QK, out);
            float *y = mm->y + ycol[i] * mm->ldy + m;
            for (int r = 0; r < mr; r++) {
                y[r] = mm->acc ? y[r] + out[r] : out[r];
            }
        }
    }
    return true;
}
