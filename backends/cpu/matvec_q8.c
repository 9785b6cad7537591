/* matvec_q8.c - products with Q8_0 and Q4_0 weights against activations rounded to 8 bits
 * (SKIM_PLAN_QUANTIZED_ACTIVATIONS, off by default).
 *
 * Each run of 32 values of an x row becomes a block: a float scale d = max|x| / 127 and
 * int8 q = rint(x / d) (computed as x * (1 / d), rounding to nearest even). A weight block
 * (scale dw, int q values) then meets an x block in integers: 8 lane sums of 4 products
 * each, exact, turned to float and accumulated as acc[l] += (dw * d) * isum[l]; the 8
 * lanes reduce in the matmul core's order. A block with an infinity or a NaN gets d = NaN
 * and q = 0, so its products give NaN.
 *
 * Per output element the order is fixed, so results do not depend on the thread count.
 * The AVX2 path uses fused multiply-adds for the accumulation and the portable path does
 * not: the two differ by float rounding only (the integer sums are the same). */
#include "cpu-int.h"
#include "cpu-simd.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define QB 32 /* values per block */

/* One x row quantised: scales then values. */
typedef struct xq_row {
    const float *d;
    const int8_t *q;
} xq_row;

static inline uint16_t rd16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

/* The scale of a block from its largest magnitude (NaN: not finite). */
static inline void scale_of(float amax, bool bad, float *d, float *id) {
    if (bad) {
        *d = NAN;
        *id = 0.0f;
        return;
    }
    *d = amax / 127.0f;
    *id = *d > 0.0f ? 1.0f / *d : 0.0f;
}

static void quant_row_c(const float *x, int64_t nb, float *d, int8_t *q) {
    for (int64_t b = 0; b < nb; b++) {
        const float *xb = x + QB * b;
        float amax = 0.0f;
        bool bad = false;
        for (int i = 0; i < QB; i++) {
            float a = fabsf(xb[i]);
            bad |= !(a <= FLT_MAX);
            amax = a > amax ? a : amax;
        }
        float id;
        scale_of(amax, bad, &d[b], &id);
        for (int i = 0; i < QB; i++) {
            q[QB * b + i] = bad ? 0 : (int8_t)lrintf(xb[i] * id);
        }
    }
}

/* Integer values of weight block blk (type t) into v[32]. */
static inline float w_block_c(skim_type t, const uint8_t *blk, int8_t v[QB]) {
    if (t == SKIM_TYPE_Q8_0) {
        memcpy(v, blk + 2, QB);
    } else {
        for (int i = 0; i < QB / 2; i++) {
            v[i] = (int8_t)((blk[2 + i] & 0x0f) - 8);
            v[i + QB / 2] = (int8_t)((blk[2 + i] >> 4) - 8);
        }
    }
    return skim_fp16_to_fp32(rd16(blk));
}

static inline float lanes_sum_c(const float l[8]) {
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

/* out[r] = dot(w row r, x) for 4 w rows (nb blocks of bb bytes). */
static void col_c(skim_type t, size_t bb, const uint8_t *const w[4], xq_row x, int64_t nb,
                  float out[4]) {
    for (int r = 0; r < 4; r++) {
        float acc[8] = {0};
        for (int64_t b = 0; b < nb; b++) {
            int8_t v[QB];
            float dd = w_block_c(t, w[r] + (size_t)b * bb, v) * x.d[b];
            const int8_t *xq = x.q + QB * b;
            for (int l = 0; l < 8; l++) {
                int32_t s = 0;
                for (int j = 0; j < 4; j++) {
                    s += (int32_t)v[4 * l + j] * (int32_t)xq[4 * l + j];
                }
                acc[l] += dd * (float)s;
            }
        }
        out[r] = lanes_sum_c(acc);
    }
}

#ifdef SKIM_CPU_X86
#define AVX2_F16C __attribute__((target("avx2,fma,f16c")))

AVX2_F16C static void quant_row_avx(const float *x, int64_t nb, float *d, int8_t *q) {
    const __m256 sign = _mm256_set1_ps(-0.0f), big = _mm256_set1_ps(FLT_MAX);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < nb; b++) {
        const float *xb = x + QB * b;
        __m256 v[4], m = _mm256_setzero_ps();
        int bad = 0;
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(xb + 8 * i);
            __m256 a = _mm256_andnot_ps(sign, v[i]);
            bad |= _mm256_movemask_ps(_mm256_cmp_ps(a, big, _CMP_NLE_UQ));
            m = _mm256_max_ps(m, a);
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        float id;
        scale_of(_mm_cvtss_f32(h), bad != 0, &d[b], &id);
        __m256 s = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v[0], s));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v[1], s));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v[2], s));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v[3], s));
        /* packs work per 128-bit lane: the permutation puts the 4-value groups back in
         * order */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, perm);
        _mm256_storeu_si256((__m256i *)(void *)(q + QB * b), p);
    }
}

/* 8 lanes of sums of 4 products w * x (exact: |w| <= 128, |x| <= 127). */
AVX2_F16C static inline __m256 idot_q8_avx(const uint8_t *blk, __m256i x) {
    __m256i w = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 2));
    __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

/* Q4_0: the nibbles n (values 0-15 low, 16-31 high) are unsigned, so they multiply x
 * directly; the lanes of sum (n - 8) x are then sum n x - 8 sum x, with the lane sums of
 * x (x8 = 8 sum x) made once per x block. */
AVX2_F16C static inline __m256 idot_q4_avx(const uint8_t *blk, __m256i x, __m256i x8) {
    __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(blk + 2));
    __m128i m = _mm_set1_epi8(0x0f);
    __m256i n = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(n, x), _mm256_set1_epi16(1));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(p, x8));
}

AVX2_F16C static inline __m256 dd_avx(const uint8_t *blk, float dx) {
    return _mm256_set1_ps(_cvtsh_ss(rd16(blk)) * dx);
}

AVX2_F16C static void colq_q8_avx(const uint8_t *const w[4], xq_row x, int64_t nb,
                                  float out[4]) {
    const size_t bb = 2 + SKIM_QK;
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    for (int64_t b = 0; b < nb; b++) {
        __m256i xq = _mm256_loadu_si256((const __m256i *)(const void *)(x.q + QB * b));
        float dx = x.d[b];
        const uint8_t *b0 = w[0] + (size_t)b * bb, *b1 = w[1] + (size_t)b * bb;
        const uint8_t *b2 = w[2] + (size_t)b * bb, *b3 = w[3] + (size_t)b * bb;
        c0 = _mm256_fmadd_ps(dd_avx(b0, dx), idot_q8_avx(b0, xq), c0);
        c1 = _mm256_fmadd_ps(dd_avx(b1, dx), idot_q8_avx(b1, xq), c1);
        c2 = _mm256_fmadd_ps(dd_avx(b2, dx), idot_q8_avx(b2, xq), c2);
        c3 = _mm256_fmadd_ps(dd_avx(b3, dx), idot_q8_avx(b3, xq), c3);
    }
    out[0] = skim_cpu_hsum_avx(c0);
    out[1] = skim_cpu_hsum_avx(c1);
    out[2] = skim_cpu_hsum_avx(c2);
    out[3] = skim_cpu_hsum_avx(c3);
}

AVX2_F16C static void colq_q4_avx(const uint8_t *const w[4], xq_row x, int64_t nb,
                                  float out[4]) {
    const size_t bb = 2 + SKIM_QK / 2;
    const __m256i one8 = _mm256_set1_epi8(1), one16 = _mm256_set1_epi16(1);
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    for (int64_t b = 0; b < nb; b++) {
        __m256i xq = _mm256_loadu_si256((const __m256i *)(const void *)(x.q + QB * b));
        __m256i x8 = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(one8, xq), one16), 3);
        float dx = x.d[b];
        const uint8_t *b0 = w[0] + (size_t)b * bb, *b1 = w[1] + (size_t)b * bb;
        const uint8_t *b2 = w[2] + (size_t)b * bb, *b3 = w[3] + (size_t)b * bb;
        c0 = _mm256_fmadd_ps(dd_avx(b0, dx), idot_q4_avx(b0, xq, x8), c0);
        c1 = _mm256_fmadd_ps(dd_avx(b1, dx), idot_q4_avx(b1, xq, x8), c1);
        c2 = _mm256_fmadd_ps(dd_avx(b2, dx), idot_q4_avx(b2, xq, x8), c2);
        c3 = _mm256_fmadd_ps(dd_avx(b3, dx), idot_q4_avx(b3, xq, x8), c3);
    }
    out[0] = skim_cpu_hsum_avx(c0);
    out[1] = skim_cpu_hsum_avx(c1);
    out[2] = skim_cpu_hsum_avx(c2);
    out[3] = skim_cpu_hsum_avx(c3);
}
#endif /* SKIM_CPU_X86 */

bool skim_cpu_mvq_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0, int64_t m1,
                      const float *const *xrows, const int64_t *ycol, int64_t n_x) {
    skim_type t = mm->wt;
    int64_t L = mm->k1 - mm->k0;
    if ((t != SKIM_TYPE_Q8_0 && t != SKIM_TYPE_Q4_0) || mm->k0 % QB != 0 || L % QB != 0 ||
        L <= 0) {
        return false;
    }
    int64_t nb = L / QB;
    size_t bb = skim_type_block_bytes(t);
    /* x rows quantised into this thread's scratch, as many as fit at a time */
    size_t per_row = (size_t)nb * (sizeof(float) + QB); /* bytes */
    int64_t fit = (int64_t)(c->scratch_floats * sizeof(float) / per_row);
    if (fit < 1) {
        return false;
    }
    void (*quant)(const float *, int64_t, float *, int8_t *) = quant_row_c;
    void (*col)(const uint8_t *const *, xq_row, int64_t, float *) = NULL;
#ifdef SKIM_CPU_X86
    if (c->avx2) {
        quant = quant_row_avx;
        col = t == SKIM_TYPE_Q8_0 ? colq_q8_avx : colq_q4_avx;
    }
#endif
    size_t off = (size_t)(mm->k0 / QB) * bb;
    float *ds = c->scratch;
    int8_t *qs = (int8_t *)(void *)(ds + (size_t)(fit < n_x ? fit : n_x) * (size_t)nb);
    for (int64_t i0 = 0; i0 < n_x; i0 += fit) {
        int64_t ni = n_x - i0 < fit ? n_x - i0 : fit;
        for (int64_t i = 0; i < ni; i++) {
            quant(xrows[i0 + i] + mm->k0, nb, ds + (size_t)i * (size_t)nb,
                  qs + (size_t)i * (size_t)nb * QB);
        }
        for (int64_t m = m0; m < m1; m += 4) {
            int mr = m1 - m < 4 ? (int)(m1 - m) : 4;
            const uint8_t *w[4];
            for (int r = 0; r < 4; r++) {
                w[r] = mm->w + (size_t)(m + (r < mr ? r : 0)) * mm->wrow + off;
            }
            for (int64_t i = 0; i < ni; i++) {
                xq_row xr = {ds + (size_t)i * (size_t)nb, qs + (size_t)i * (size_t)nb * QB};
                float out[4];
                if (col) {
                    col(w, xr, nb, out);
                } else {
                    col_c(t, bb, w, xr, nb, out);
                }
                float *y = mm->y + ycol[i0 + i] * mm->ldy + m;
                for (int r = 0; r < mr; r++) {
                    y[r] = mm->acc ? y[r] + out[r] : out[r];
                }
            }
        }
    }
    return true;
}
