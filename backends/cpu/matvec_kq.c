/* matvec_kq.c - products with Q4_K and Q6_K weights against activations rounded to 8 bits
 * (SKIM_PLAN_QUANTIZED_ACTIVATIONS, off by default), for contraction ranges of whole
 * super-blocks of 256 (other ranges stay exact).
 *
 * x is rounded per super-block: the 256 values of x meeting super-block s (counted from
 * the start of the contraction range) get one float scale dx_s = max|x| / 127 (a float
 * division) and int8 values xq = rint(x * (1 / dx_s)) (1 / dx_s a float, the product
 * rounded to float, then to the nearest integer, ties to even; |xq| <= 127), as Q8_0's
 * blocks are rounded but over 256 values. dx_s = 0 gives xq = 0. 256 values holding an
 * infinity or a NaN give dx_s = NaN and xq = 0, so the output is NaN. Per w row and
 * super-block s, in integers (exact, int32):
 *   Q4_K (weights (d sc_jj) q - dmin m_jj, q = 0..15, sc and m = 0..63 per block jj of 32):
 *     isum_s = sum over jj of sc_jj * (sum of q * xq over block jj);
 *       |isum_s| <= 8 * 63 * 32 * 15 * 127 = 30723840 < 2^31 (past 2^24: see below);
 *     msum_s = sum over jj of m_jj * (sum of xq over block jj);
 *       |msum_s| <= 8 * 63 * 32 * 127 = 2048256 < 2^24;
 *     a = fma(d * dx_s, (float)isum_s, a), m = fma(dmin * dx_s, (float)msum_s, m),
 *     s increasing from a = m = 0, then y = a - m.
 *   Q6_K (weights (d sc_i) (q - 32), q = 0..63, an int8 sc_i per sub-block i of 16):
 *     S_s = sum over i of sc_i * (sum of (q - 32) * xq over sub-block i);
 *       |S_s| <= 16 * 128 * 16 * 32 * 127 = 133169152 < 2^31 (past 2^24);
 *     a = fma(d * dx_s, (float)S_s, a), s increasing from a = 0; y = a.
 * d * dx_s (and dmin * dx_s) is one float product, rounded once (d, dmin: f16 values,
 * exact as floats); (float) of an int32 rounds to nearest even (exact below 2^24; isum_s
 * and S_s may round there, msum_s never does); fma is one fused multiply-add. So per
 * output the order is fixed and does not depend on the thread count, on how many x rows a
 * tile takes (8 w rows and 1 to 4 x rows), nor on the instruction set: the portable C
 * below is the rule's reference (skim_cpu_fmaf, cpu-int.h: no libm fmaf); the AVX2 tiles
 * and the AVX-512 tiles (VNNI's vpdpwssd, else AVX512BW's vpmaddwd) form the same
 * integers in another order (integer sums are exact) and then the same float steps: the
 * same bits.
 * Against the exact product the error is at most sum over super-blocks of
 * (dx_s / 2) * sum |w| over its 256 weights, plus float rounding.
 *
 * Scratch layout of a rounded x row (skim_cpu_xk): per super-block its scale d[s], 16
 * int16 sums s[16 s ..] and its 256 values q[256 s ..]. For Q4_K the sums are 8 zeros
 * then the 8 blocks' sums of xq (the vector the mins meet by vpmaddwd) and the blocks lie
 * in the order 0 2 1 3 4 6 5 7 (a 64-byte load of weight nibbles holds blocks 4c and
 * 4c + 2 in its low nibbles, 4c + 1 and 4c + 3 in its high ones: x in that order is two
 * plain loads); for Q6_K the sums are minus the 16 sub-blocks' sums of xq (q - 32 becomes
 * q with a correction 32 sc_i * (-sum), as 32 sc_i and the sum both fit 16 bits), in
 * natural order.
 *
 * Integer ranges (no 16-bit saturation): vpmaddubsw pairs q * xq are at most 2 * 15 * 127
 * (Q4_K) or 2 * 63 * 127 = 16002 (Q6_K, q unsigned 0..63); vpmaddwd with the scales
 * (at most 63, or int8) and the correction (32 sc in [-4096, 4064] times a sum of 16 xq
 * of at most 2032) stays far inside int32, and every partial sum of the int32 lanes is
 * bounded by the sum of the magnitudes above. */
#include "cpu-int.h"
#include "cpu-simd.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define QB 32 /* values per block */
#define QK 256 /* values per super-block */
#define Q4K_BYTES 144
#define Q6K_BYTES 210

typedef skim_cpu_xk xk_row;
typedef skim_cpu_kq_fn tilekq_fn;

/* Position of block jj's 32 x values inside a Q4_K super-block (an involution). */
static const int q4k_pos[8] = {0, 2, 1, 3, 4, 6, 5, 7};

/* ---------------------------------------------------------------- rounding x */

/* The sums of super-block q (natural order, 256 values) into s[16] for type t. */
static void kq_sums(skim_type t, const int8_t *q, int16_t *s) {
    int32_t s16[16];
    for (int i = 0; i < 16; i++) {
        int32_t v = 0;
        for (int l = 0; l < 16; l++) {
            v += q[16 * i + l];
        }
        s16[i] = v;
    }
    for (int i = 0; i < 16; i++) {
        s[i] = t == SKIM_TYPE_Q4_K ? (int16_t)(i < 8 ? 0 : s16[2 * (i - 8)] + s16[2 * (i - 8) + 1])
                                   : (int16_t)-s16[i];
    }
}

/* Puts super-block q (natural order) at dst in type t's order. */
static void kq_place(skim_type t, const int8_t *q, int8_t *dst) {
    for (int jj = 0; jj < 8; jj++) {
        memcpy(dst + QB * (t == SKIM_TYPE_Q4_K ? q4k_pos[jj] : jj), q + QB * jj, QB);
    }
}

static void quant_row_c(skim_type t, const float *x, int64_t nsb, float *d, int16_t *s, int8_t *q) {
    for (int64_t b = 0; b < nsb; b++) {
        const float *xb = x + QK * b;
        float id; /* 0: the values are all zero, or one is not finite */
        skim_cpu_qa_scale(xb, QK, &d[b], &id);
        int8_t v[QK];
        for (int i = 0; i < QK; i++) {
            v[i] = id == 0.0f ? 0 : (int8_t)lrintf(xb[i] * id);
        }
        kq_sums(t, v, s + 16 * b);
        kq_place(t, v, q + QK * b);
    }
}

#ifdef SKIM_CPU_X86
#define AVX2_KQ __attribute__((target("avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline))

AVX2_KQ static void quant_row_avx(skim_type t, const float *x, int64_t nsb, float *d, int16_t *s,
                                  int8_t *q) {
    const __m256 sign = _mm256_set1_ps(-0.0f), big = _mm256_set1_ps(FLT_MAX);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < nsb; b++) {
        const float *xb = x + QK * b;
        __m256 m = _mm256_setzero_ps();
        int bad = 0;
        for (int i = 0; i < QK / 8; i++) {
            __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + 8 * i));
            bad |= _mm256_movemask_ps(_mm256_cmp_ps(a, big, _CMP_NLE_UQ));
            m = _mm256_max_ps(m, a);
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        float id;
        skim_cpu_qa_scale_of(_mm_cvtss_f32(h), bad != 0, &d[b], &id);
        __m256 sv = _mm256_set1_ps(id);
        int8_t v[QK];
        for (int jj = 0; jj < 8; jj++) {
            const float *xj = xb + QB * jj;
            __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xj), sv));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xj + 8), sv));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xj + 16), sv));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xj + 24), sv));
            /* packs work per 128-bit lane: the permutation puts the 4-value groups back in
             * order */
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
            p = _mm256_permutevar8x32_epi32(p, perm);
            _mm256_storeu_si256((__m256i *)(void *)(v + QB * jj), p);
        }
        kq_sums(t, v, s + 16 * b);
        kq_place(t, v, q + QK * b);
    }
}
#endif

/* ---------------------------------------------------------------- portable: the rule */

/* Scale and min of Q4_K block j (graph/quant_k.c's layout; s: the 12 scale bytes). */
static void q4k_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static void q4k_c(const uint8_t *const w[8], const xk_row *x, int64_t nsb, float (*out)[8]) {
    for (int r = 0; r < 8; r++) {
        float a = 0.0f, m = 0.0f;
        for (int64_t s = 0; s < nsb; s++) {
            const uint8_t *blk = w[r] + (size_t)s * Q4K_BYTES;
            float d = skim_fp16_to_fp32(skim_cpu_rd16(blk));
            float dmin = skim_fp16_to_fp32(skim_cpu_rd16(blk + 2));
            int32_t isum = 0, msum = 0;
            for (int jj = 0; jj < 8; jj++) {
                int sc, mn;
                q4k_scale_min(blk + 4, jj, &sc, &mn);
                const uint8_t *qs = blk + 16 + 32 * (jj >> 1);
                const int8_t *xq = x->q + QK * s + QB * q4k_pos[jj];
                int32_t is = 0;
                for (int i = 0; i < QB; i++) {
                    is += ((qs[i] >> (4 * (jj & 1))) & 15) * (int32_t)xq[i];
                }
                isum += sc * is;
                msum += mn * (int32_t)x->s[16 * s + 8 + jj];
            }
            a = skim_cpu_fmaf(d * x->d[s], (float)isum, a);
            m = skim_cpu_fmaf(dmin * x->d[s], (float)msum, m);
        }
        out[0][r] = a - m;
    }
}

static void q6k_c(const uint8_t *const w[8], const xk_row *x, int64_t nsb, float (*out)[8]) {
    for (int r = 0; r < 8; r++) {
        float a = 0.0f;
        for (int64_t s = 0; s < nsb; s++) {
            const uint8_t *blk = w[r] + (size_t)s * Q6K_BYTES;
            const int8_t *sc = (const int8_t *)(const void *)(blk + 192);
            float d = skim_fp16_to_fp32(skim_cpu_rd16(blk + 208));
            int32_t S = 0;
            for (int i = 0; i < 16; i++) {
                int jj = i >> 1, h = jj >> 2, g = jj & 3;
                const uint8_t *ql = blk + 64 * h + 32 * (g & 1), *qh = blk + 128 + 32 * h;
                const int8_t *xq = x->q + QK * s + QB * jj;
                int32_t is = 0;
                for (int l = 16 * (i & 1); l < 16 * (i & 1) + 16; l++) {
                    int q = ((ql[l] >> (g >= 2 ? 4 : 0)) & 15) | (((qh[l] >> (2 * g)) & 3) << 4);
                    is += (q - 32) * (int32_t)xq[l];
                }
                S += sc[i] * is;
            }
            a = skim_cpu_fmaf(d * x->d[s], (float)S, a);
        }
        out[0][r] = a;
    }
}

/* ---------------------------------------------------------------- AVX2 */

#ifdef SKIM_CPU_X86
/* Each row's next super-block is fetched while this one is summed: the 8 rows are 8
 * short streams (a 4096-wide row is 16 super-blocks) that the hardware prefetcher picks
 * up late (AVX-512 tiles, 4096 x 4096, 1 thread: Q4_K ~68 -> ~74 GFLOP/s, Q6_K ~55 ->
 * ~64; 2 or more super-blocks ahead gained less). */
#define KQ_PREFETCH(p, n)                                                                    \
    do {                                                                                     \
        for (int l_ = 0; l_ < (n); l_++) {                                                   \
            _mm_prefetch((const char *)(p) + 64 * l_, _MM_HINT_T0);                          \
        }                                                                                    \
    } while (0)

AVX2_KQ INL __m256i ld256(const void *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}

/* The 8 f16 values at offset o of the 8 w rows, as floats. */
AVX2_KQ INL __m256 f16x8(const uint8_t *const w[8], size_t o) {
    __m128i h = _mm_setr_epi16((short)skim_cpu_rd16(w[0] + o), (short)skim_cpu_rd16(w[1] + o),
                               (short)skim_cpu_rd16(w[2] + o), (short)skim_cpu_rd16(w[3] + o),
                               (short)skim_cpu_rd16(w[4] + o), (short)skim_cpu_rd16(w[5] + o),
                               (short)skim_cpu_rd16(w[6] + o), (short)skim_cpu_rd16(w[7] + o));
    return _mm256_cvtph_ps(h);
}

/* The scales and mins of the Q4_K super-block at b as int16: [sc_0..7 | m_0..7]. For
 * j < 4 the low 6 bits of bytes j (scales) and j + 4 (mins); for j >= 4 the nibbles of
 * byte j + 4 topped by the two high bits of bytes j - 4 and j, which (w >> 2) & 0x30
 * moves to bits 4 and 5 of each byte. */
AVX2_KQ INL __m256i q4k_w16(const uint8_t *b) {
    uint32_t w0 = skim_cpu_rd32(b + 4), w1 = skim_cpu_rd32(b + 8), w2 = skim_cpu_rd32(b + 12);
    uint32_t sc_hi = (w2 & 0x0f0f0f0fu) | ((w0 >> 2) & 0x30303030u);
    uint32_t mn_hi = ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 2) & 0x30303030u);
    return _mm256_cvtepu8_epi16(_mm_setr_epi32((int)(w0 & 0x3f3f3f3fu), (int)sc_hi,
                                               (int)(w1 & 0x3f3f3f3fu), (int)mn_hi));
}

/* Lane r: the sum of the 8 lanes of z[r]. */
AVX2_KQ INL __m256i hsum8x8(const __m256i z[8]) {
    __m256i u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(z[0], z[1]), _mm256_hadd_epi32(z[2], z[3]));
    __m256i u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(z[4], z[5]), _mm256_hadd_epi32(z[6], z[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                            _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* 8 w rows against J x rows over nsb super-blocks, the Q4_K rule. Per row: the 16-bit
 * pair sums of q * xq times sc_jj (vpmaddwd) summed into isum's lanes; the mins times
 * the blocks' sums of xq (vpmaddwd of [sc | m] with [0 | sums]) in the upper half of Z,
 * isum folded to 4 lanes in the lower half; hadd then gives [isum | msum] per row. */
AVX2_KQ INL void q4k_core(int J, const uint8_t *const w[8], const xk_row *x, int64_t nsb,
                          float (*out)[8]) {
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    __m256 a[4], m[4];
    for (int j = 0; j < 4; j++) {
        a[j] = m[j] = _mm256_setzero_ps();
    }
    for (int64_t s = 0; s < nsb; s++) {
        size_t o = (size_t)s * Q4K_BYTES;
        __m256 d = f16x8(w, o), dm = f16x8(w, o + 2);
        __m256i w16[8], scd[8];
        for (int r = 0; r < 8; r++) {
            w16[r] = q4k_w16(w[r] + o);
            scd[r] = _mm256_permute2x128_si256(w16[r], w16[r], 0x00);
        }
        for (int j = 0; j < J; j++) {
            const int8_t *xq = x[j].q + QK * s;
            __m256i xs = ld256(x[j].s + 16 * s), z[8];
            for (int r = 0; r < 8; r++) {
                KQ_PREFETCH(w[r] + o + Q4K_BYTES, 3);
                __m256i acc = _mm256_setzero_si256();
                for (int c = 0; c < 4; c++) {
                    __m256i q = ld256(w[r] + o + 16 + 32 * c);
                    for (int n = 0; n < 2; n++) {
                        int jj = 2 * c + n;
                        __m256i v = _mm256_and_si256(n ? _mm256_srli_epi16(q, 4) : q, lo4);
                        __m256i sv = _mm256_shuffle_epi8(
                            scd[r], _mm256_set1_epi16((short)(0x0100 * (2 * jj + 1) + 2 * jj)));
                        __m256i p = _mm256_maddubs_epi16(v, ld256(xq + QB * q4k_pos[jj]));
                        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, sv));
                    }
                }
                __m128i i4 = _mm_add_epi32(_mm256_castsi256_si128(acc),
                                           _mm256_extracti128_si256(acc, 1));
                z[r] = _mm256_blend_epi32(_mm256_madd_epi16(w16[r], xs), _mm256_castsi128_si256(i4),
                                          0x0f);
            }
            __m256i u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(z[0], z[1]),
                                           _mm256_hadd_epi32(z[2], z[3]));
            __m256i u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(z[4], z[5]),
                                           _mm256_hadd_epi32(z[6], z[7]));
            __m256 dx = _mm256_set1_ps(x[j].d[s]);
            __m256i isum = _mm256_permute2x128_si256(u0, u1, 0x20);
            __m256i msum = _mm256_permute2x128_si256(u0, u1, 0x31);
            a[j] = _mm256_fmadd_ps(_mm256_mul_ps(d, dx), _mm256_cvtepi32_ps(isum), a[j]);
            m[j] = _mm256_fmadd_ps(_mm256_mul_ps(dm, dx), _mm256_cvtepi32_ps(msum), m[j]);
        }
    }
    for (int j = 0; j < J; j++) {
        _mm256_storeu_ps(out[j], _mm256_sub_ps(a[j], m[j]));
    }
}

/* Block jj of a Q6_K super-block b as unsigned q (0..63) in bytes: the low (g < 2) or high
 * nibble of ql[32 (g & 1) + l] of its half, bits 2g and 2g + 1 of qh[l] as bits 4 and 5
 * (16-bit shifts: the bits that cross a byte border are masked off). */
AVX2_KQ INL __m256i q6k_bytes(const uint8_t *b, int jj) {
    int h = jj >> 2, g = jj & 3;
    __m256i lo = ld256(b + 64 * h + 32 * (g & 1)), hi = ld256(b + 128 + 32 * h);
    if (g >= 2) {
        lo = _mm256_srli_epi16(lo, 4);
    }
    lo = _mm256_and_si256(lo, _mm256_set1_epi8(0x0f));
    hi = g == 0 ? _mm256_slli_epi16(hi, 4)
       : g == 1 ? _mm256_slli_epi16(hi, 2)
       : g == 2 ? hi
                : _mm256_srli_epi16(hi, 2);
    return _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi8(0x30)));
}

/* 8 w rows against J x rows over nsb super-blocks, the Q6_K rule: per row the 16-bit pair
 * sums of q * xq (q unsigned) times the 16-bit scales (sc_2jj for values 0-15 of block
 * jj, sc_2jj+1 for 16-31), plus 32 sc_i times minus the sub-blocks' sums of xq. */
AVX2_KQ INL void q6k_core(int J, const uint8_t *const w[8], const xk_row *x, int64_t nsb,
                          float (*out)[8]) {
    const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3,
                                          2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    __m256 a[4];
    for (int j = 0; j < 4; j++) {
        a[j] = _mm256_setzero_ps();
    }
    for (int64_t s = 0; s < nsb; s++) {
        size_t o = (size_t)s * Q6K_BYTES;
        __m256 d = f16x8(w, o + 208);
        __m256i sc[8];
        for (int r = 0; r < 8; r++) {
            sc[r] = _mm256_cvtepi8_epi16(
                _mm_loadu_si128((const __m128i *)(const void *)(w[r] + o + 192)));
        }
        for (int j = 0; j < J; j++) {
            const int8_t *xq = x[j].q + QK * s;
            __m256i xn = ld256(x[j].s + 16 * s), z[8];
            for (int r = 0; r < 8; r++) {
                KQ_PREFETCH(w[r] + o + Q6K_BYTES, 4);
                __m256i acc = _mm256_madd_epi16(_mm256_slli_epi16(sc[r], 5), xn);
                for (int jj = 0; jj < 8; jj++) {
                    __m256i sv = _mm256_shuffle_epi8(
                        _mm256_permutevar8x32_epi32(sc[r], _mm256_set1_epi32(jj)), pick);
                    __m256i p = _mm256_maddubs_epi16(q6k_bytes(w[r] + o, jj), ld256(xq + QB * jj));
                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, sv));
                }
                z[r] = acc;
            }
            __m256 dx = _mm256_set1_ps(x[j].d[s]);
            a[j] = _mm256_fmadd_ps(_mm256_mul_ps(d, dx), _mm256_cvtepi32_ps(hsum8x8(z)), a[j]);
        }
    }
    for (int j = 0; j < J; j++) {
        _mm256_storeu_ps(out[j], a[j]);
    }
}

#define TILE(NAME, CORE, TGT, J)                                                            \
    TGT static void NAME(const uint8_t *const w[8], const xk_row *x, int64_t nsb,          \
                         float (*out)[8]) {                                                  \
        CORE(J, w, x, nsb, out);                                                             \
    }
TILE(q4k_x1_avx, q4k_core, AVX2_KQ, 1)
TILE(q4k_x2_avx, q4k_core, AVX2_KQ, 2)
TILE(q4k_x3_avx, q4k_core, AVX2_KQ, 3)
TILE(q4k_x4_avx, q4k_core, AVX2_KQ, 4)
TILE(q6k_x1_avx, q6k_core, AVX2_KQ, 1)
TILE(q6k_x2_avx, q6k_core, AVX2_KQ, 2)
TILE(q6k_x3_avx, q6k_core, AVX2_KQ, 3)
TILE(q6k_x4_avx, q6k_core, AVX2_KQ, 4)
#endif /* SKIM_CPU_X86 */

/* ---------------------------------------------------------------- AVX-512 */

#ifdef SKIM_CPU_X86
/* A zmm register holds one w row's two blocks of 32 (Q4_K: blocks 4c and 4c + 2, or
 * 4c + 1 and 4c + 3, the low or high nibbles of 64 bytes; Q6_K: blocks 2p and 2p + 1)
 * against the two x blocks that one 64-byte load of the rounded x gives; the scales come
 * as int16 by one vpermw each and meet the vpmaddubsw pair sums in vpdpwssd (VNNI) or
 * vpmaddwd and an add (AVX512BW): the AVX2 tiles' integers, another order. */
#define AVX512_KQ __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define VNNI_KQ \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))

AVX512_KQ INL __m512i ld512(const void *p) {
    return _mm512_loadu_si512(p);
}

AVX512_KQ INL __m512i dot_bw(__m512i acc, __m512i a, __m512i b) {
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
}

VNNI_KQ INL __m512i dot_vnni(__m512i acc, __m512i a, __m512i b) {
    return _mm512_dpwssd_epi32(acc, a, b);
}

/* The row sums in steps: pair32 of rows 2i and 2i + 1 (per 128-bit lane: [2i, 2i + 1, 2i,
 * 2i + 1] partial), pair64 of two such (rows 4h .. 4h + 3, each 128-bit lane's sum), then
 * last8 of the two halves. */
AVX512_KQ INL __m512i pair32(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
}

AVX512_KQ INL __m512i pair64(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
}

AVX512_KQ INL __m512i last8(__m512i u0, __m512i u1) {
    /* 128-bit lanes [u0.0, u1.0, u0.2, u1.2] + [u0.1, u1.1, u0.3, u1.3] */
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    return _mm512_add_epi32(_mm512_permutex2var_epi64(u0, lo, u1),
                            _mm512_permutex2var_epi64(u0, hi, u1));
}

/* Lane r of the lower half: the sum of 128-bit lanes 0 and 1 of p[r]; of the upper half:
 * of lanes 2 and 3. */
AVX512_KQ INL __m512i tree8(const __m512i p[8]) {
    return last8(pair64(pair32(p[0], p[1]), pair32(p[2], p[3])),
                 pair64(pair32(p[4], p[5]), pair32(p[6], p[7])));
}

/* int16 lanes 0-15: a, 16-31: b. */
AVX512_KQ INL __m512i idx2(int a, int b) {
    return _mm512_mask_blend_epi16(0xffff0000u, _mm512_set1_epi16((short)a),
                                   _mm512_set1_epi16((short)b));
}

/* The decoded super-block of one w row: v[i] (two blocks of 32 unsigned q per zmm) meets
 * the rounded x's 64 bytes i, vpermw's int16 scales sv[i] its vpmaddubsw pair sums; w16
 * (Q4_K: [sc | m]) or sc (Q6_K: the 16 int8 scales) as int16. */
typedef struct kq_dec {
    __m512i v[4], sv[4];
    __m256i w16;
} kq_dec;

/* Q4_K: the 64 bytes of blocks 4c .. 4c + 3 (c = 0, 1): low nibbles blocks 4c and
 * 4c + 2, high nibbles 4c + 1 and 4c + 3, as the rounded x lies. */
AVX512_KQ INL void q4k_dec512(const uint8_t *blk, kq_dec *k) {
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    k->w16 = q4k_w16(blk);
    __m512i sz = _mm512_castsi256_si512(k->w16);
    for (int c = 0; c < 2; c++) {
        __m512i q = ld512(blk + 16 + 64 * c);
        k->v[2 * c] = _mm512_and_si512(q, lo4);
        k->v[2 * c + 1] = _mm512_and_si512(_mm512_srli_epi16(q, 4), lo4);
        k->sv[2 * c] = _mm512_permutexvar_epi16(idx2(4 * c, 4 * c + 2), sz);
        k->sv[2 * c + 1] = _mm512_permutexvar_epi16(idx2(4 * c + 1, 4 * c + 3), sz);
    }
}

/* Q6_K: blocks 2p and 2p + 1 (p = 2h or 2h + 1) take the 64 bytes of ql of half h (low
 * nibbles for p even, high for p odd) and its 32 bytes of qh in both halves, shifted by 4
 * and 2 (p even) or 0 and -2 (p odd); the int16 scales [sc_4p x 8, sc_4p+1 x 8,
 * sc_4p+2 x 8, sc_4p+3 x 8] by one vpermw. */
AVX512_KQ INL void q6k_dec512(const uint8_t *blk, kq_dec *k) {
    const __m512i lo4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    k->w16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(blk + 192)));
    __m512i sz = _mm512_castsi256_si512(k->w16);
    for (int h = 0; h < 2; h++) {
        __m512i l = ld512(blk + 64 * h);
        __m512i qh = _mm512_broadcast_i64x4(ld256(blk + 128 + 32 * h));
        /* (nibbles & 0x0f) | (qh shifted & 0x30) */
        k->v[2 * h] = _mm512_ternarylogic_epi32(_mm512_and_si512(l, lo4),
                                                _mm512_sllv_epi16(qh, shl), m30, 0xf8);
        k->v[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l, 4), lo4),
                                                    _mm512_srlv_epi16(qh, shr), m30, 0xf8);
    }
    for (int p = 0; p < 4; p++) {
        __m512i a = idx2(4 * p, 4 * p + 2), b = idx2(4 * p + 1, 4 * p + 3);
        k->sv[p] = _mm512_permutexvar_epi16(_mm512_mask_blend_epi16(0xff00ff00u, a, b), sz);
    }
}

/* Decodes a super-block (Q4_K where q4, else Q6_K), the next one's lines asked for first. */
AVX512_KQ INL void kq_dec512(bool q4, const uint8_t *blk, kq_dec *k) {
    if (q4) {
        KQ_PREFETCH(blk + Q4K_BYTES, 3);
        q4k_dec512(blk, k);
    } else {
        KQ_PREFETCH(blk + Q6K_BYTES, 4);
        q6k_dec512(blk, k);
    }
}

/* One x row: every row's z kept until tree8 takes all 8 (faster here than the pairwise
 * tree of the J-row core). */
#define KQ_X1_512(NAME, TGT, DOT)                                                           \
    TGT INL void NAME(bool q4, const uint8_t *const w[8], const xk_row *x, int64_t nsb,    \
                      float (*out)[8]) {                                                     \
        __m256 a = _mm256_setzero_ps(), m = _mm256_setzero_ps();                             \
        size_t sbb = q4 ? Q4K_BYTES : Q6K_BYTES;                                             \
        for (int64_t s = 0; s < nsb; s++) {                                                  \
            size_t o = (size_t)s * sbb;                                                      \
            const int8_t *xq = x->q + QK * s;                                                \
            __m256i xs = ld256(x->s + 16 * s);                                               \
            __m512i xv[4], z[8];                                                             \
            for (int i = 0; i < 4; i++) {                                                    \
                xv[i] = ld512(xq + 64 * i);                                                  \
            }                                                                                \
            for (int r = 0; r < 8; r++) {                                                    \
                const uint8_t *blk = w[r] + o;                                               \
                kq_dec k;                                                                    \
                kq_dec512(q4, blk, &k);                                                      \
                __m512i acc = q4 ? _mm512_setzero_si512()                                    \
                                 : _mm512_zextsi256_si512(                                   \
                                       _mm256_madd_epi16(_mm256_slli_epi16(k.w16, 5), xs));  \
                for (int i = 0; i < 4; i++) {                                                \
                    acc = DOT(acc, _mm512_maddubs_epi16(k.v[i], xv[i]), k.sv[i]);            \
                }                                                                            \
                z[r] = acc;                                                                  \
                if (q4) {                                                                    \
                    __m256i i8 = _mm256_add_epi32(_mm512_castsi512_si256(acc),               \
                                                  _mm512_extracti64x4_epi64(acc, 1));        \
                    z[r] = _mm512_inserti64x4(_mm512_castsi256_si512(i8),                    \
                                              _mm256_madd_epi16(k.w16, xs), 1);              \
                }                                                                            \
            }                                                                                \
            __m512i tt = tree8(z);                                                           \
            __m256i lo = _mm512_castsi512_si256(tt), hi = _mm512_extracti64x4_epi64(tt, 1);  \
            __m256 d = f16x8(w, o + (q4 ? 0 : 208)), dx = _mm256_set1_ps(x->d[s]);           \
            if (q4) {                                                                        \
                a = _mm256_fmadd_ps(_mm256_mul_ps(d, dx), _mm256_cvtepi32_ps(lo), a);        \
                __m256 dm = f16x8(w, o + 2);                                                 \
                m = _mm256_fmadd_ps(_mm256_mul_ps(dm, dx), _mm256_cvtepi32_ps(hi), m);       \
            } else {                                                                         \
                a = _mm256_fmadd_ps(_mm256_mul_ps(d, dx),                                    \
                                    _mm256_cvtepi32_ps(_mm256_add_epi32(lo, hi)), a);        \
            }                                                                                \
        }                                                                                    \
        _mm256_storeu_ps(out[0], q4 ? _mm256_sub_ps(a, m) : a);                              \
    }

KQ_X1_512(kq_x1_bw, AVX512_KQ, dot_bw)
KQ_X1_512(kq_x1_vnni, VNNI_KQ, dot_vnni)

/* 8 w rows against J x rows over nsb super-blocks: each row decoded once per super-block
 * for the J x rows. Per row and x row, z: Q4_K: the lower half isum's lanes folded, the
 * upper the mins' products (vpmaddwd of [sc | m] with [0 | sums]); Q6_K: the 16 lanes
 * of S_s (the correction 32 sc_i * (-sums) in the lower 8). The tree gives per row the
 * sums of the lower and the upper halves' lanes: Q4_K [isum | msum], Q6_K two parts of
 * S_s, added. */
#define KQ_CORE512(NAME, TGT, DOT)                                                          \
    TGT INL void NAME(bool q4, int J, const uint8_t *const w[8], const xk_row *x,          \
                      int64_t nsb, float (*out)[8]) {                                        \
        __m256 a[4], m[4];                                                                   \
        for (int j = 0; j < 4; j++) {                                                        \
            a[j] = m[j] = _mm256_setzero_ps();                                               \
        }                                                                                    \
        size_t sbb = q4 ? Q4K_BYTES : Q6K_BYTES;                                             \
        for (int64_t s = 0; s < nsb; s++) {                                                  \
            size_t o = (size_t)s * sbb;                                                      \
            __m512i t[4][4], u[4][2];                                                        \
            for (int r = 0; r < 8; r++) {                                                    \
                const uint8_t *blk = w[r] + o;                                               \
                kq_dec k;                                                                    \
                kq_dec512(q4, blk, &k);                                                      \
                for (int j = 0; j < J; j++) {                                                \
                    const int8_t *xq = x[j].q + QK * s;                                      \
                    __m256i xs = ld256(x[j].s + 16 * s);                                     \
                    __m512i acc = q4 ? _mm512_setzero_si512()                                \
                                     : _mm512_zextsi256_si512(_mm256_madd_epi16(             \
                                           _mm256_slli_epi16(k.w16, 5), xs));                \
                    for (int i = 0; i < 4; i++) {                                            \
                        acc = DOT(acc, _mm512_maddubs_epi16(k.v[i], ld512(xq + 64 * i)),     \
                                  k.sv[i]);                                                  \
                    }                                                                        \
                    __m512i z = acc;                                                         \
                    if (q4) {                                                                \
                        __m256i i8 = _mm256_add_epi32(_mm512_castsi512_si256(acc),           \
                                                      _mm512_extracti64x4_epi64(acc, 1));    \
                        z = _mm512_inserti64x4(_mm512_castsi256_si512(i8),                   \
                                               _mm256_madd_epi16(k.w16, xs), 1);             \
                    }                                                                        \
                    if (r & 1) {                                                             \
                        t[j][r >> 1] = pair32(t[j][r >> 1], z);                              \
                    } else {                                                                 \
                        t[j][r >> 1] = z;                                                    \
                    }                                                                        \
                    if (r == 3 || r == 7) {                                                  \
                        u[j][r >> 2] = pair64(t[j][(r >> 1) - 1], t[j][r >> 1]);             \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
            __m256 d = f16x8(w, o + (q4 ? 0 : 208)), dm = f16x8(w, o + 2);                   \
            for (int j = 0; j < J; j++) {                                                    \
                __m512i tt = last8(u[j][0], u[j][1]);                                        \
                __m256i lo = _mm512_castsi512_si256(tt), hi = _mm512_extracti64x4_epi64(tt, 1); \
                __m256 dx = _mm256_set1_ps(x[j].d[s]);                                       \
                if (q4) {                                                                    \
                    a[j] = _mm256_fmadd_ps(_mm256_mul_ps(d, dx), _mm256_cvtepi32_ps(lo), a[j]); \
                    m[j] = _mm256_fmadd_ps(_mm256_mul_ps(dm, dx), _mm256_cvtepi32_ps(hi), m[j]); \
                } else {                                                                     \
                    a[j] = _mm256_fmadd_ps(_mm256_mul_ps(d, dx),                             \
                                           _mm256_cvtepi32_ps(_mm256_add_epi32(lo, hi)), a[j]); \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
        for (int j = 0; j < J; j++) {                                                        \
            _mm256_storeu_ps(out[j], q4 ? _mm256_sub_ps(a[j], m[j]) : a[j]);                 \
        }                                                                                    \
    }

KQ_CORE512(kq_core_bw, AVX512_KQ, dot_bw)
KQ_CORE512(kq_core_vnni, VNNI_KQ, dot_vnni)

/* x1: one x row (KQ_X1_512); x2-x4: the J-row core. */
#define TILE512(NAME, TGT, CALL)                                                            \
    TGT static void NAME(const uint8_t *const w[8], const xk_row *x, int64_t nsb,          \
                         float (*out)[8]) {                                                  \
        CALL;                                                                                \
    }
TILE512(q4k_x1_bw, AVX512_KQ, kq_x1_bw(true, w, x, nsb, out))
TILE512(q4k_x2_bw, AVX512_KQ, kq_core_bw(true, 2, w, x, nsb, out))
TILE512(q4k_x3_bw, AVX512_KQ, kq_core_bw(true, 3, w, x, nsb, out))
TILE512(q4k_x4_bw, AVX512_KQ, kq_core_bw(true, 4, w, x, nsb, out))
TILE512(q4k_x1_vnni, VNNI_KQ, kq_x1_vnni(true, w, x, nsb, out))
TILE512(q4k_x2_vnni, VNNI_KQ, kq_core_vnni(true, 2, w, x, nsb, out))
TILE512(q4k_x3_vnni, VNNI_KQ, kq_core_vnni(true, 3, w, x, nsb, out))
TILE512(q4k_x4_vnni, VNNI_KQ, kq_core_vnni(true, 4, w, x, nsb, out))
TILE512(q6k_x1_bw, AVX512_KQ, kq_x1_bw(false, w, x, nsb, out))
TILE512(q6k_x2_bw, AVX512_KQ, kq_core_bw(false, 2, w, x, nsb, out))
TILE512(q6k_x3_bw, AVX512_KQ, kq_core_bw(false, 3, w, x, nsb, out))
TILE512(q6k_x4_bw, AVX512_KQ, kq_core_bw(false, 4, w, x, nsb, out))
TILE512(q6k_x1_vnni, VNNI_KQ, kq_x1_vnni(false, w, x, nsb, out))
TILE512(q6k_x2_vnni, VNNI_KQ, kq_core_vnni(false, 2, w, x, nsb, out))
TILE512(q6k_x3_vnni, VNNI_KQ, kq_core_vnni(false, 3, w, x, nsb, out))
TILE512(q6k_x4_vnni, VNNI_KQ, kq_core_vnni(false, 4, w, x, nsb, out))
#undef TILE512
#endif /* SKIM_CPU_X86 */

/* ---------------------------------------------------------------- driver */

bool skim_cpu_mvkq_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0, int64_t m1,
                       const float *const *xrows, const int64_t *ycol, int64_t n_x) {
    skim_type t = mm->wt;
    int64_t L = mm->k1 - mm->k0;
    if ((t != SKIM_TYPE_Q4_K && t != SKIM_TYPE_Q6_K) || mm->k0 % QK != 0 || L % QK != 0 ||
        L <= 0) {
        return false;
    }
    int64_t nsb = L / QK;
    size_t sbb = t == SKIM_TYPE_Q4_K ? Q4K_BYTES : Q6K_BYTES;
    /* x rows rounded into this thread's scratch, as many as fit at a time: per super-block
     * the scale, the 16 sums, the 256 values */
    size_t per_row = (size_t)nsb * (sizeof(float) + 16 * sizeof(int16_t) + QK); /* bytes */
    size_t room = skim_cpu_mm_scratch(L, 0); /* floats; what follows is the caller's */
    room = room < c->scratch_floats ? room : c->scratch_floats;
    int64_t fit = (int64_t)(room * sizeof(float) / per_row);
    if (fit < 1) {
        return false;
    }
    void (*quant)(skim_type, const float *, int64_t, float *, int16_t *, int8_t *) = quant_row_c;
    /* tile[J - 1] takes J x rows at once (jmax of them at most) */
    tilekq_fn c1 = t == SKIM_TYPE_Q4_K ? q4k_c : q6k_c;
    tilekq_fn tile[4] = {c1, c1, c1, c1};
    int jmax = 1;
#ifdef SKIM_CPU_X86
    if (c->avx2) {
        static const tilekq_fn q4[3][4] = {
            {q4k_x1_avx, q4k_x2_avx, q4k_x3_avx, q4k_x4_avx},
            {q4k_x1_bw, q4k_x2_bw, q4k_x3_bw, q4k_x4_bw},
            {q4k_x1_vnni, q4k_x2_vnni, q4k_x3_vnni, q4k_x4_vnni}};
        static const tilekq_fn q6[3][4] = {
            {q6k_x1_avx, q6k_x2_avx, q6k_x3_avx, q6k_x4_avx},
            {q6k_x1_bw, q6k_x2_bw, q6k_x3_bw, q6k_x4_bw},
            {q6k_x1_vnni, q6k_x2_vnni, q6k_x3_vnni, q6k_x4_vnni}};
        int isa = c->vnni ? 2 : c->avx512 ? 1 : 0;
        memcpy(tile, t == SKIM_TYPE_Q4_K ? q4[isa] : q6[isa], sizeof tile);
        quant = quant_row_avx;
        jmax = 4;
    }
#endif
    size_t off = (size_t)(mm->k0 / QK) * sbb, nf = (size_t)(fit < n_x ? fit : n_x) * (size_t)nsb;
    float *ds = c->scratch;
    int16_t *ss = (int16_t *)(void *)(ds + nf);
    int8_t *qs = (int8_t *)(void *)(ss + 16 * nf);
    xk_row xr[4];
    float out[4][8];
    for (int64_t i0 = 0; i0 < n_x; i0 += fit) {
        int64_t ni = n_x - i0 < fit ? n_x - i0 : fit;
        for (int64_t i = 0; i < ni; i++) {
            size_t o = (size_t)i * (size_t)nsb;
            quant(t, xrows[i0 + i] + mm->k0, nsb, ds + o, ss + 16 * o, qs + o * QK);
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
                    size_t o = (size_t)(i + j) * (size_t)nsb;
                    xr[j] = (xk_row){ds + o, ss + 16 * o, qs + o * QK};
                }
                tile[J - 1](w, xr, nsb, out);
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
