/* matvec_q8.c - products with Q8_0 and Q4_0 weights against activations rounded to 8 bits
 * (SKIM_PLAN_QUANTIZED_ACTIVATIONS, off by default).
 *
 * Each run of 32 values of an x row becomes a block: a float scale d = max|x| / 127 and
 * int8 q = rint(x / d) (computed as x * (1 / d), rounding to nearest even). A weight block
 * (scale dw, int q values) then meets an x block in integers: the block's sum of 32
 * products, exact, turned to float; the output accumulates (dw * d) * sum over the even
 * blocks in order into one float and over the odd blocks into another, and adds the two.
 * A block with an infinity or a NaN gets d = NaN and q = 0, so its products give NaN.
 *
 * Per output element the order is fixed, so results do not depend on the thread count
 * (nor on how many rows a step takes: 8 with AVX2, 4 otherwise, nor on how many x rows:
 * with AVX2 or NEON a tile decodes each weight block once for up to 4 x rows, 8 with
 * AVX512_VNNI, each x row
 * rounded once per thread and matrix; nor on whether AVX512_VNNI forms the integer sums,
 * matvec_q8v.c). The AVX2 and NEON paths
 * use fused multiply-adds; the portable path does not fuse, and differs from them by float
 * rounding only (the integer sums are the same). x is quantised with AVX2 on x86, in plain
 * C elsewhere. */
#include "cpu-int.h"
#include "cpu-simd.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define QB 32 /* values per block */

typedef skim_cpu_xq xq_row;

static void quant_row_c(const float *x, int64_t nb, float *d, int8_t *q, int32_t *qs) {
    for (int64_t b = 0; b < nb; b++) {
        const float *xb = x + QB * b;
        float id; /* 0: the values are all zero, or one is not finite */
        skim_cpu_qa_scale(xb, QB, &d[b], &id);
        int32_t sum = 0;
        for (int i = 0; i < QB; i++) {
            q[QB * b + i] = id == 0.0f ? 0 : (int8_t)lrintf(xb[i] * id);
            sum += q[QB * b + i];
        }
        qs[b] = sum;
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
    return skim_fp16_to_fp32(skim_cpu_rd16(blk));
}

typedef skim_cpu_colq_fn colq_fn;

static void col_c(skim_type t, size_t bb, const uint8_t *const w[8], const xq_row *x, int64_t nb,
                  float (*out)[8]) {
    for (int r = 0; r < 8; r++) {
        float acc[2] = {0.0f, 0.0f};
        for (int64_t b = 0; b < nb; b++) {
            int8_t v[QB];
            float dd = w_block_c(t, w[r] + (size_t)b * bb, v) * x->d[b];
            const int8_t *xq = x->q + QB * b;
            int32_t s = 0;
            for (int i = 0; i < QB; i++) {
                s += (int32_t)v[i] * (int32_t)xq[i];
            }
            acc[b & 1] += dd * (float)s;
        }
        out[0][r] = acc[0] + acc[1];
    }
}

#ifdef SKIM_CPU_X86
#define AVX2_F16C __attribute__((target("avx2,fma,f16c")))

AVX2_F16C static void quant_row_avx(const float *x, int64_t nb, float *d, int8_t *q,
                                    int32_t *qs) {
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
        skim_cpu_qa_scale_of(_mm_cvtss_f32(h), bad != 0, &d[b], &id);
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
        __m256i s8 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p),
                                       _mm256_set1_epi16(1));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        qs[b] = _mm_cvtsi128_si32(s4);
    }
}

/* The 8 rows' weight scales of block offset o. */
AVX2_F16C static inline __m256 dw8_avx(const uint8_t *const w[8], size_t o) {
    __m128i h = _mm_setr_epi16((short)skim_cpu_rd16(w[0] + o), (short)skim_cpu_rd16(w[1] + o), (short)skim_cpu_rd16(w[2] + o),
                               (short)skim_cpu_rd16(w[3] + o), (short)skim_cpu_rd16(w[4] + o), (short)skim_cpu_rd16(w[5] + o),
                               (short)skim_cpu_rd16(w[6] + o), (short)skim_cpu_rd16(w[7] + o));
    return _mm256_cvtph_ps(h);
}

/* Q4_0 nibbles of a block's 16 bytes p: values 0-15 (low nibbles) in the low half, 16-31
 * (high nibbles) in the high half, unsigned. */
AVX2_F16C static inline __m256i nib_avx(const uint8_t *p) {
    const __m256i m = _mm256_set1_epi8(0x0f), sh = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    __m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_and_si256(_mm256_srlv_epi32(q, sh), m);
}

/* Products of one block of 4 w rows (v: Q8_0 |w| or Q4_0 nibbles; raw: the Q8_0 rows'
 * values, for their signs) with one x block, summed so far that the 128-bit halves hold
 * the 4 rows' sums over values 0-15 and 16-31: Q8_0 values are signed, so maddubs takes
 * |w| and x with w's sign; Q4_0 nibbles n are unsigned and multiply x directly (the
 * caller subtracts 8 sum x, as sum (n - 8) x = sum n x - 8 sum x). */
AVX2_F16C static inline __m256i quad_avx(bool q8, const uint8_t *const raw[4], size_t o,
                                         const __m256i v[4], __m256i xq) {
    const __m256i one16 = _mm256_set1_epi16(1);
    __m256i p[4];
    for (int r = 0; r < 4; r++) {
        __m256i x = q8 ? _mm256_sign_epi8(
                             xq, _mm256_loadu_si256((const __m256i *)(const void *)(raw[r] + o + 2)))
                       : xq;
        p[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(v[r], x), one16);
    }
    return _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
}

/* Block b (offset o) of 8 w rows against J x rows: acc[j] (lane r: w row r) +=
 * (dw_r * d_j) * (the block's exact integer sum), one fused multiply-add. Each w row is
 * decoded once for the J x rows. */
AVX2_F16C static inline __attribute__((always_inline)) void blk_avx(bool q8, int J,
                                                                   const uint8_t *const w[8],
                                                                   size_t o, const xq_row *x,
                                                                   int64_t b, __m256 acc[4]) {
    __m256 dw = dw8_avx(w, o);
    __m256i u0[4], v[4];
    for (int h = 0; h < 2; h++) {
        for (int r = 0; r < 4; r++) {
            const uint8_t *p = w[4 * h + r] + o + 2;
            v[r] = q8 ? _mm256_abs_epi8(_mm256_loadu_si256((const __m256i *)(const void *)p))
                      : nib_avx(p);
        }
        for (int j = 0; j < J; j++) {
            __m256i xq = _mm256_loadu_si256((const __m256i *)(const void *)(x[j].q + QB * b));
            __m256i u = quad_avx(q8, w + 4 * h, o, v, xq);
            if (h == 0) {
                u0[j] = u;
                continue;
            }
            __m256i s = _mm256_add_epi32(_mm256_permute2x128_si256(u0[j], u, 0x20),
                                         _mm256_permute2x128_si256(u0[j], u, 0x31));
            if (!q8) {
                s = _mm256_sub_epi32(s, _mm256_set1_epi32(8 * x[j].s[b]));
            }
            acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(x[j].d[b])),
                                     _mm256_cvtepi32_ps(s), acc[j]);
        }
    }
}

/* Even blocks into a0, odd blocks into a1, each in order; out = a0 + a1. */
AVX2_F16C static inline __attribute__((always_inline)) void tile_avx(bool q8, int J, size_t bb,
                                                                    const uint8_t *const w[8],
                                                                    const xq_row *x, int64_t nb,
                                                                    float (*out)[8]) {
    __m256 a0[4], a1[4];
    for (int j = 0; j < 4; j++) {
        a0[j] = a1[j] = _mm256_setzero_ps();
    }
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        blk_avx(q8, J, w, (size_t)b * bb, x, b, a0);
        blk_avx(q8, J, w, (size_t)(b + 1) * bb, x, b + 1, a1);
    }
    if (b < nb) {
        blk_avx(q8, J, w, (size_t)b * bb, x, b, a0);
    }
    for (int j = 0; j < J; j++) {
        _mm256_storeu_ps(out[j], _mm256_add_ps(a0[j], a1[j]));
    }
}

#define TILEQ_AVX(NAME, Q8, J)                                                                 \
    AVX2_F16C static void NAME(skim_type t, size_t bb, const uint8_t *const w[8],              \
                               const xq_row *x, int64_t nb, float (*out)[8]) {                 \
        (void)t;                                                                               \
        tile_avx(Q8, J, bb, w, x, nb, out);                                                    \
    }
TILEQ_AVX(q8x1_avx, true, 1)
TILEQ_AVX(q8x2_avx, true, 2)
TILEQ_AVX(q8x3_avx, true, 3)
TILEQ_AVX(q8x4_avx, true, 4)
TILEQ_AVX(q4x1_avx, false, 1)
TILEQ_AVX(q4x2_avx, false, 2)
TILEQ_AVX(q4x3_avx, false, 3)
TILEQ_AVX(q4x4_avx, false, 4)
#undef TILEQ_AVX
#endif /* SKIM_CPU_X86 */

#ifdef SKIM_CPU_NEON
/* The block's sum of 32 products of w values (w0: 0-15, w1: 16-31) and x. */
static inline int32_t idot_neon(int8x16_t w0, int8x16_t w1, const int8_t *xq) {
    int8x16_t x0 = vld1q_s8(xq), x1 = vld1q_s8(xq + 16);
    int16x8_t a = vmull_s8(vget_low_s8(w0), vget_low_s8(x0));
    a = vmlal_s8(a, vget_high_s8(w0), vget_high_s8(x0));
    int16x8_t b = vmull_s8(vget_low_s8(w1), vget_low_s8(x1));
    b = vmlal_s8(b, vget_high_s8(w1), vget_high_s8(x1));
    return vaddvq_s32(vaddq_s32(vpaddlq_s16(a), vpaddlq_s16(b)));
}

static inline void w_neon(skim_type t, const uint8_t *blk, int8x16_t *w0, int8x16_t *w1) {
    if (t == SKIM_TYPE_Q8_0) {
        *w0 = vld1q_s8((const int8_t *)(blk + 2));
        *w1 = vld1q_s8((const int8_t *)(blk + 18));
    } else {
        uint8x16_t q = vld1q_u8(blk + 2), e = vdupq_n_u8(8);
        *w0 = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(q, vdupq_n_u8(0x0f)), e));
        *w1 = vreinterpretq_s8_u8(vsubq_u8(vshrq_n_u8(q, 4), e));
    }
}

/* 4 rows at a time in the lanes of a float vector (8 rows: two steps), for J x rows:
 * each weight block is loaded and widened once for all of them. Each output's sums are
 * those of its x row alone, whatever J. */
static inline void colq_neon_j(skim_type t, size_t bb, const uint8_t *const w[8],
                               const xq_row *xp, int64_t nb, float (*out)[8], int J) {
    for (int h = 0; h < 8; h += 4) {
        float32x4_t a[4][2];
        for (int j = 0; j < J; j++) {
            a[j][0] = a[j][1] = vdupq_n_f32(0.0f);
        }
        for (int64_t b = 0; b < nb; b++) {
            int8x16_t w0[4], w1[4];
            float dw[4];
            for (int r = 0; r < 4; r++) {
                const uint8_t *blk = w[h + r] + (size_t)b * bb;
                w_neon(t, blk, &w0[r], &w1[r]);
                dw[r] = skim_fp16_to_fp32(skim_cpu_rd16(blk));
            }
            float32x4_t dwv = vld1q_f32(dw);
            for (int j = 0; j < J; j++) {
                int32_t is[4];
                for (int r = 0; r < 4; r++) {
                    is[r] = idot_neon(w0[r], w1[r], xp[j].q + QB * b);
                }
                float32x4_t dd = vmulq_n_f32(dwv, xp[j].d[b]);
                a[j][b & 1] = vfmaq_f32(a[j][b & 1], dd, vcvtq_f32_s32(vld1q_s32(is)));
            }
        }
        for (int j = 0; j < J; j++) {
            vst1q_f32(out[j] + h, vaddq_f32(a[j][0], a[j][1]));
        }
    }
}

#define TILEQ_NEON(name, J)                                                                 \
    static void name(skim_type t, size_t bb, const uint8_t *const w[8], const xq_row *x,     \
                     int64_t nb, float (*out)[8]) {                                          \
        colq_neon_j(t, bb, w, x, nb, out, J);                                                \
    }
TILEQ_NEON(colq_neon1, 1)
TILEQ_NEON(colq_neon2, 2)
TILEQ_NEON(colq_neon3, 3)
TILEQ_NEON(colq_neon4, 4)
#undef TILEQ_NEON
#endif /* SKIM_CPU_NEON */

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
    /* x rows quantised into this thread's scratch, as many as fit at a time: the scales,
     * the values, the sums */
    size_t per_row = (size_t)nb * (sizeof(float) + QB + sizeof(int32_t)); /* bytes */
    size_t room = skim_cpu_mm_scratch(L, 0); /* floats; what follows is the caller's */
    room = room < c->scratch_floats ? room : c->scratch_floats;
    int64_t fit = (int64_t)(room * sizeof(float) / per_row);
    if (fit < 1) {
        return false;
    }
    void (*quant)(const float *, int64_t, float *, int8_t *, int32_t *) = quant_row_c;
    /* tile[J - 1] takes J x rows at once (jmax of them at most) */
    colq_fn tile[8] = {col_c, col_c, col_c, col_c, col_c, col_c, col_c, col_c};
    int jmax = 1;
#if defined(SKIM_CPU_NEON)
    static const colq_fn nq[4] = {colq_neon1, colq_neon2, colq_neon3, colq_neon4};
    memcpy(tile, nq, sizeof nq);
    jmax = 4;
#elif defined(SKIM_CPU_X86)
    if (c->avx2) {
        static const colq_fn q8[4] = {q8x1_avx, q8x2_avx, q8x3_avx, q8x4_avx};
        static const colq_fn q4[4] = {q4x1_avx, q4x2_avx, q4x3_avx, q4x4_avx};
        quant = quant_row_avx;
        memcpy(tile, t == SKIM_TYPE_Q8_0 ? q8 : q4, sizeof q8);
        jmax = 4;
    }
    if (c->vnni && skim_cpu_mvq_vnni(t, tile)) {
        jmax = 8;
    }
#endif
    size_t off = (size_t)(mm->k0 / QB) * bb, nf = (size_t)(fit < n_x ? fit : n_x) * (size_t)nb;
    float *ds = c->scratch;
    int32_t *ss = (int32_t *)(void *)(ds + nf);
    int8_t *qs = (int8_t *)(void *)(ss + nf);
    xq_row xr[8];
    float out[8][8];
    for (int64_t i0 = 0; i0 < n_x; i0 += fit) {
        int64_t ni = n_x - i0 < fit ? n_x - i0 : fit;
        for (int64_t i = 0; i < ni; i++) {
            size_t o = (size_t)i * (size_t)nb;
            quant(xrows[i0 + i] + mm->k0, nb, ds + o, qs + o * QB, ss + o);
        }
        for (int64_t m = m0; m < m1; m += 8) {
            int mr = m1 - m < 8 ? (int)(m1 - m) : 8;
            const uint8_t *w[8];
            for (int r = 0; r < 8; r++) {
                w[r] = mm->w + (size_t)(m + (r < mr ? r : 0)) * mm->wrow + off;
            }
            for (int64_t i = 0; i < ni;) {
                int J = ni - i < jmax ? (int)(ni - i) : jmax;
                for (int j = 0; j < J; j++) {
                    size_t o = (size_t)(i + j) * (size_t)nb;
                    xr[j] = (xq_row){ds + o, qs + o * QB, ss + o};
                }
                tile[J - 1](t, bb, w, xr, nb, out);
                for (int j = 0; j < J; j++, i++) {
                    float *y = mm->y + ycol[i0 + i] * mm->ldy + m;
                    for (int r = 0; r < mr; r++) {
                        y[r] = mm->acc ? y[r] + out[j][r] : out[j][r];
                    }
                }
            }
        }
    }
    return true;
}

void skim_cpu_q8_quant_row(const skim_cpu_ctx *c, const float *x, int64_t nb, float *d, int8_t *q,
                           int32_t *s) {
#ifdef SKIM_CPU_X86
    if (c->avx2) {
        quant_row_avx(x, nb, d, q, s);
        return;
    }
#endif
    (void)c;
    quant_row_c(x, nb, d, q, s);
}
