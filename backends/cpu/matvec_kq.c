/* matvec_kq.c - products with Q4_K and Q6_K weights against activations rounded to 8 bits
 * (SKIM_PLAN_QUANTIZED_ACTIVATIONS, off by default), for contraction ranges of whole
 * super-blocks of 256 (other ranges stay exact).
 *
 * x is rounded as for Q8_0 and Q4_0 (matvec_q8.c, skim_cpu_q8_quant_row): each run of 32
 * values, x block b (counted from the start of the contraction range), gets a float scale
 * dx_b, int8 values and their integer sum xsum_b. A super-block of 256 weights meets the 8
 * x blocks it covers; its block jj (values 32 jj .. 32 jj + 31) meets x block b = 8 s + jj
 * in integers (exact), and per output:
 *   Q4_K (weights (d sc_jj) q - dmin m_jj, q = 0..15): A_jj = d * sc_jj and
 *     M_jj = dmin * m_jj are exact floats (an 11-bit f16 times a 6-bit integer);
 *     isum_b = sum of q * xq over the block (|isum| <= 32 * 15 * 127, exact in float);
 *     a += (A_jj * dx_b) * isum_b and m += (M_jj * dx_b) * xsum_b, each product
 *     A_jj * dx_b (M_jj * dx_b) rounded once, then one fused multiply-add, b increasing;
 *     y = a - m.
 *   Q6_K (weights (d sc_i) (q - 32), q = 0..63, an int8 scale per 16 values): the x block
 *     covers sub-blocks i = 2 jj and 2 jj + 1; S_b = sc_2jj * sum over the first 16 of
 *     (q - 32) xq + sc_2jj+1 * sum over the other 16, an integer with
 *     |S_b| <= 2 * 128 * 16 * 32 * 127 < 2^24, so exact in float too;
 *     a_(b mod 2) += (d * dx_b) * S_b (d * dx_b rounded once, one fused multiply-add),
 *     even blocks into a_0 and odd ones into a_1, b increasing; y = a_0 + a_1 (the Q8_0
 *     form with S_b as the block's sum).
 * A block of x holding an infinity or a NaN has dx = NaN, so its terms and the output are
 * NaN. Per output the order is fixed: it does not depend on the thread count, on how many
 * x rows a tile takes (8 w rows and 1 to 4 x rows; each w row decoded once for them), nor
 * on the instruction set: the AVX-512 tiles (Q4_K with VNNI's vpdpbusd, Q6_K with AVX512BW;
 * two x blocks per zmm register) compute the AVX2 tiles' integers and then their float
 * steps lane for lane. The portable path (and so NEON, which has no tile of its own here)
 * does not fuse the multiply-adds and differs from the AVX2 path by float rounding only. As for
 * Q8_0, the error against the exact product is at most sum over blocks of
 * (dx_b / 2) * sum |w| plus float rounding.
 *
 * Integer ranges (no 16-bit saturation): Q4_K pairs q * xq sum to at most 2 * 15 * 127;
 * Q6_K takes maddubs(q, xq) (pairs at most 2 * 63 * 127 = 16002) minus maddubs(32, xq)
 * (at most 2 * 32 * 127), whose difference is the pair sum of (q - 32) xq, in
 * [-8128, 7874]; madd with the scales then sums to at most 2 * 8128 * 128 per int32. */
#include "cpu-int.h"
#include "cpu-simd.h"

#include <string.h>

#define QB 32 /* values per x block */
#define QK 256 /* values per super-block */
#define Q4K_BYTES 144
#define Q6K_BYTES 210

/* One x row rounded: per block its scale, its 32 values and their sum. */
typedef struct xq_row {
    const float *d;
    const int8_t *q;
    const int32_t *s;
} xq_row;

/* out[j][r] = dot(w row r, x[j]) for 8 w rows (from their first super-block in range) and
 * the tile's x rows (how many: fixed per function), over nsb super-blocks. */
typedef void (*tilekq_fn)(const uint8_t *const w[8], const xq_row *x, int64_t nsb,
                          float (*out)[8]);

/* ---------------------------------------------------------------- portable */

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

static void q4k_c(const uint8_t *const w[8], const xq_row *x, int64_t nsb, float (*out)[8]) {
    for (int r = 0; r < 8; r++) {
        float a = 0.0f, m = 0.0f;
        for (int64_t s = 0; s < nsb; s++) {
            const uint8_t *blk = w[r] + (size_t)s * Q4K_BYTES;
            float d = skim_fp16_to_fp32(skim_cpu_rd16(blk)), dmin = skim_fp16_to_fp32(skim_cpu_rd16(blk + 2));
            for (int jj = 0; jj < 8; jj++) {
                int sc, mn;
                q4k_scale_min(blk + 4, jj, &sc, &mn);
                int64_t b = 8 * s + jj;
                const uint8_t *qs = blk + 16 + 32 * (jj >> 1);
                const int8_t *xq = x->q + QB * b;
                int32_t is = 0;
                for (int i = 0; i < QB; i++) {
                    is += ((qs[i] >> (4 * (jj & 1))) & 15) * (int32_t)xq[i];
                }
                a += (d * (float)sc * x->d[b]) * (float)is;
                m += (dmin * (float)mn * x->d[b]) * (float)x->s[b];
            }
        }
        out[0][r] = a - m;
    }
}

/* The integer S_b of Q6_K block jj of super-block blk against x values xq. */
static int32_t q6k_sum_c(const uint8_t *blk, int jj, const int8_t *xq) {
    const int8_t *sc = (const int8_t *)(const void *)(blk + 192);
    int h = jj >> 2, g = jj & 3;
    const uint8_t *ql = blk + 64 * h + 32 * (g & 1), *qh = blk + 128 + 32 * h;
    int32_t sum = 0;
    for (int half = 0; half < 2; half++) {
        int32_t is = 0;
        for (int l = 16 * half; l < 16 * half + 16; l++) {
            int q = ((ql[l] >> (g >= 2 ? 4 : 0)) & 15) | (((qh[l] >> (2 * g)) & 3) << 4);
            is += (q - 32) * (int32_t)xq[l];
        }
        sum += sc[2 * jj + half] * is;
    }
    return sum;
}

static void q6k_c(const uint8_t *const w[8], const xq_row *x, int64_t nsb, float (*out)[8]) {
    for (int r = 0; r < 8; r++) {
        float a[2] = {0.0f, 0.0f};
        for (int64_t s = 0; s < nsb; s++) {
            const uint8_t *blk = w[r] + (size_t)s * Q6K_BYTES;
            float d = skim_fp16_to_fp32(skim_cpu_rd16(blk + 208));
            for (int jj = 0; jj < 8; jj++) {
                int64_t b = 8 * s + jj;
                a[b & 1] += (d * x->d[b]) * (float)q6k_sum_c(blk, jj, x->q + QB * b);
            }
        }
        out[0][r] = a[0] + a[1];
    }
}

/* ---------------------------------------------------------------- AVX2, AVX-512 VNNI */

#ifdef SKIM_CPU_X86
#define AVX2_KQ __attribute__((target("avx2,fma,f16c")))
#define VNNI_KQ \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline))

AVX2_KQ INL __m256i ld256(const uint8_t *p) {
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

/* The 8 f16 values at offset o of the 8 w rows, as floats. */
AVX2_KQ INL __m256 f16x8(const uint8_t *const w[8], size_t o) {
    __m128i h = _mm_setr_epi16((short)skim_cpu_rd16(w[0] + o), (short)skim_cpu_rd16(w[1] + o), (short)skim_cpu_rd16(w[2] + o),
                               (short)skim_cpu_rd16(w[3] + o), (short)skim_cpu_rd16(w[4] + o), (short)skim_cpu_rd16(w[5] + o),
                               (short)skim_cpu_rd16(w[6] + o), (short)skim_cpu_rd16(w[7] + o));
    return _mm256_cvtph_ps(h);
}

/* v[j] lane r = v[r] lane j. */
AVX2_KQ INL void transpose8(__m256 v[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
        v[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
    }
}

/* A[jj] and M[jj] (lane r: w row r) of the super-blocks at offset o: d * sc_jj and
 * dmin * m_jj, exact. The scale bytes: for j < 4 the low 6 bits of bytes j (scales) and
 * j + 4 (mins); for j >= 4 the nibbles of byte j + 4 topped by the two high bits of bytes
 * j - 4 and j, which (w >> 2) & 0x30 moves to bits 4 and 5 of each byte. */
AVX2_KQ INL void q4k_sb_scales(const uint8_t *const w[8], size_t o, __m256 A[8], __m256 M[8]) {
    for (int r = 0; r < 8; r++) {
        const uint8_t *b = w[r] + o;
        uint32_t w0 = skim_cpu_rd32(b + 4), w1 = skim_cpu_rd32(b + 8), w2 = skim_cpu_rd32(b + 12);
        uint32_t sc_hi = (w2 & 0x0f0f0f0fu) | ((w0 >> 2) & 0x30303030u);
        uint32_t mn_hi = ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 2) & 0x30303030u);
        __m128i sc = _mm_setr_epi32((int)(w0 & 0x3f3f3f3fu), (int)sc_hi, 0, 0);
        __m128i mn = _mm_setr_epi32((int)(w1 & 0x3f3f3f3fu), (int)mn_hi, 0, 0);
        __m256 d = _mm256_set1_ps(_cvtsh_ss(skim_cpu_rd16(b))), dm = _mm256_set1_ps(_cvtsh_ss(skim_cpu_rd16(b + 2)));
        A[r] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sc)));
        M[r] = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(mn)));
    }
    transpose8(A);
    transpose8(M);
}

/* One block (32 values: nibbles v) of 4 w rows against one x block: the 128-bit halves
 * hold the 4 rows' sums over values 0-15 and 16-31 (pairs q * xq: at most 2 * 15 * 127,
 * no saturation). */
AVX2_KQ INL __m256i q4k_quad(const __m256i v[4], __m256i xq) {
    const __m256i one = _mm256_set1_epi16(1);
    __m256i p[4];
    for (int r = 0; r < 4; r++) {
        p[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(v[r], xq), one);
    }
    return _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
}

/* a[j] += (A_jj * dx_b) * isum and m[j] += (M_jj * dx_b) * xsum_b (lane r: w row r), the
 * one float step of the Q4_K rule, shared by the AVX2 and AVX-512 tiles. */
AVX2_KQ INL void q4k_acc(__m256 *a, __m256 *m, __m256 A, __m256 M, const xq_row *x, int64_t b,
                         __m256i is) {
    __m256 dx = _mm256_set1_ps(x->d[b]);
    *a = _mm256_fmadd_ps(_mm256_mul_ps(A, dx), _mm256_cvtepi32_ps(is), *a);
    *m = _mm256_fmadd_ps(_mm256_mul_ps(M, dx), _mm256_set1_ps((float)x->s[b]), *m);
}

/* 8 w rows against J x rows over nsb super-blocks, the Q4_K rule. Each w row's nibbles
 * are unpacked once for the J x rows. */
AVX2_KQ INL void q4k_core(int J, const uint8_t *const w[8], const xq_row *x, int64_t nsb,
                          float (*out)[8]) {
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    __m256 a[4], m[4];
    for (int j = 0; j < 4; j++) {
        a[j] = m[j] = _mm256_setzero_ps();
    }
    for (int64_t s = 0; s < nsb; s++) {
        size_t o = (size_t)s * Q4K_BYTES;
        __m256 A[8], M[8];
        q4k_sb_scales(w, o, A, M);
        for (int jj = 0; jj < 8; jj++) {
            int64_t b = 8 * s + jj;
            __m256i u0[4] = {0};
            for (int h = 0; h < 2; h++) {
                __m256i v[4];
                for (int r = 0; r < 4; r++) {
                    __m256i q = ld256(w[4 * h + r] + o + 16 + 32 * (jj >> 1));
                    v[r] = _mm256_and_si256(jj & 1 ? _mm256_srli_epi16(q, 4) : q, lo4);
                }
                for (int j = 0; j < J; j++) {
                    __m256i u = q4k_quad(v, ld256((const uint8_t *)(x[j].q + QB * b)));
                    if (h == 0) {
                        u0[j] = u;
                        continue;
                    }
                    __m256i is = _mm256_add_epi32(_mm256_permute2x128_si256(u0[j], u, 0x20),
                                                  _mm256_permute2x128_si256(u0[j], u, 0x31));
                    q4k_acc(&a[j], &m[j], A[jj], M[jj], &x[j], b, is);
                }
            }
        }
    }
    for (int j = 0; j < J; j++) {
        _mm256_storeu_ps(out[j], _mm256_sub_ps(a[j], m[j]));
    }
}

#define Q4K_TILE(J)                                                                         \
    AVX2_KQ static void q4k_x##J##_avx(const uint8_t *const w[8], const xq_row *x,         \
                                       int64_t nsb, float (*out)[8]) {                      \
        q4k_core(J, w, x, nsb, out);                                                        \
    }
Q4K_TILE(1)
Q4K_TILE(2)
Q4K_TILE(3)
Q4K_TILE(4)
#undef Q4K_TILE

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

/* 8 w rows against J x rows over nsb super-blocks, the Q6_K rule: per x block, the 16-bit
 * pair sums of (q - 32) xq times the 16-bit scales (sc_2jj for values 0-15, sc_2jj+1 for
 * 16-31), summed over the 8 rows' lanes by hadd; even blocks into a0, odd into a1. */
AVX2_KQ INL void q6k_core(int J, const uint8_t *const w[8], const xq_row *x, int64_t nsb,
                          float (*out)[8]) {
    const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3,
                                          2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    const __m256i c32 = _mm256_set1_epi8(32);
    __m256 a0[4], a1[4];
    for (int j = 0; j < 4; j++) {
        a0[j] = a1[j] = _mm256_setzero_ps();
    }
    for (int64_t s = 0; s < nsb; s++) {
        size_t o = (size_t)s * Q6K_BYTES;
        __m256 d = f16x8(w, o + 208);
        __m256i sc[8];
        for (int r = 0; r < 8; r++) {
            sc[r] = _mm256_cvtepi8_epi16(
                _mm_loadu_si128((const __m128i *)(const void *)(w[r] + o + 192)));
        }
        for (int jj = 0; jj < 8; jj++) {
            int64_t b = 8 * s + jj;
            __m256i xq[4], x32[4], u0[4] = {0};
            for (int j = 0; j < J; j++) {
                xq[j] = ld256((const uint8_t *)(x[j].q + QB * b));
                x32[j] = _mm256_maddubs_epi16(c32, xq[j]);
            }
            for (int h = 0; h < 2; h++) {
                __m256i v[4], sv[4];
                for (int r = 0; r < 4; r++) {
                    v[r] = q6k_bytes(w[4 * h + r] + o, jj);
                    sv[r] = _mm256_shuffle_epi8(
                        _mm256_permutevar8x32_epi32(sc[4 * h + r], _mm256_set1_epi32(jj)), pick);
                }
                for (int j = 0; j < J; j++) {
                    __m256i p[4];
                    for (int r = 0; r < 4; r++) {
                        p[r] = _mm256_madd_epi16(
                            _mm256_sub_epi16(_mm256_maddubs_epi16(v[r], xq[j]), x32[j]), sv[r]);
                    }
                    __m256i u = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]),
                                                  _mm256_hadd_epi32(p[2], p[3]));
                    if (h == 0) {
                        u0[j] = u;
                        continue;
                    }
                    __m256i S = _mm256_add_epi32(_mm256_permute2x128_si256(u0[j], u, 0x20),
                                                 _mm256_permute2x128_si256(u0[j], u, 0x31));
                    __m256 dd = _mm256_mul_ps(d, _mm256_set1_ps(x[j].d[b]));
                    if (jj & 1) {
                        a1[j] = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(S), a1[j]);
                    } else {
                        a0[j] = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(S), a0[j]);
                    }
                }
            }
        }
    }
    for (int j = 0; j < J; j++) {
        _mm256_storeu_ps(out[j], _mm256_add_ps(a0[j], a1[j]));
    }
}

#define Q6K_TILE(J)                                                                         \
    AVX2_KQ static void q6k_x##J##_avx(const uint8_t *const w[8], const xq_row *x,         \
                                       int64_t nsb, float (*out)[8]) {                      \
        q6k_core(J, w, x, nsb, out);                                                        \
    }
Q6K_TILE(1)
Q6K_TILE(2)
Q6K_TILE(3)
Q6K_TILE(4)
#undef Q6K_TILE

/* AVX-512: a zmm register holds one w row's two consecutive x blocks (b, b + 1: b even),
 * 8 int32 lanes each; tree8 sums 8 rows' registers to [block b, rows 0-7 | block b + 1,
 * rows 0-7]. Only integers move between the lanes, so the sums are the AVX2 tiles', and
 * the float steps are theirs lane for lane: the same bits. */
#define AVX512_KQ __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

AVX512_KQ INL __m512i tree8(const __m512i p[8]) {
    /* per 128-bit lane (4 lanes of 4 values: block b's values 0-15, 16-31, then block
     * b + 1's): t = rows (0, 1), (2, 3), ... interleaved, then u[h] = rows 4h .. 4h + 3 */
    __m512i t[4], u[2];
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(p[2 * i], p[2 * i + 1]),
                                _mm512_unpackhi_epi32(p[2 * i], p[2 * i + 1]));
    }
    for (int i = 0; i < 2; i++) {
        u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                                _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
    }
    /* 128-bit lanes [u0.0, u1.0, u0.2, u1.2] + [u0.1, u1.1, u0.3, u1.3] */
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    return _mm512_add_epi32(_mm512_permutex2var_epi64(u[0], lo, u[1]),
                            _mm512_permutex2var_epi64(u[0], hi, u[1]));
}

AVX512_KQ INL __m512i ld512(const void *p) {
    return _mm512_loadu_si512(p);
}

/* The 32 bytes at p in both 256-bit halves. */
AVX512_KQ INL __m512i bcast256(const uint8_t *p) {
    return _mm512_broadcast_i64x4(ld256(p));
}

/* Q4_K with VNNI: blocks 2c and 2c + 1 of a row are the low and high nibbles of the same
 * 32 bytes; vpdpbusd sums 4 products per lane as maddubs then madd do. */
VNNI_KQ INL void q4k_core_vnni(int J, const uint8_t *const w[8], const xq_row *x, int64_t nsb,
                               float (*out)[8]) {
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    const __m512i sh = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    __m256 a[4], m[4];
    for (int j = 0; j < 4; j++) {
        a[j] = m[j] = _mm256_setzero_ps();
    }
    for (int64_t s = 0; s < nsb; s++) {
        size_t o = (size_t)s * Q4K_BYTES;
        __m256 A[8], M[8];
        q4k_sb_scales(w, o, A, M);
        for (int c = 0; c < 4; c++) {
            int64_t b = 8 * s + 2 * c;
            __m512i v[8];
            for (int r = 0; r < 8; r++) {
                v[r] = _mm512_and_si512(_mm512_srlv_epi16(bcast256(w[r] + o + 16 + 32 * c), sh),
                                        lo4);
            }
            for (int j = 0; j < J; j++) {
                __m512i xz = ld512(x[j].q + QB * b), p[8];
                for (int r = 0; r < 8; r++) {
                    p[r] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v[r], xz);
                }
                __m512i is = tree8(p);
                q4k_acc(&a[j], &m[j], A[2 * c], M[2 * c], &x[j], b, _mm512_castsi512_si256(is));
                q4k_acc(&a[j], &m[j], A[2 * c + 1], M[2 * c + 1], &x[j], b + 1,
                        _mm512_extracti64x4_epi64(is, 1));
            }
        }
    }
    for (int j = 0; j < J; j++) {
        _mm256_storeu_ps(out[j], _mm256_sub_ps(a[j], m[j]));
    }
}

/* Q4_K with VNNI for one x row: ymm registers as the AVX2 tile, vpdpbusd for maddubs and
 * madd (1 thread, 4096 x 4096: 0.61-0.64 ms against 0.66-0.70 with two blocks per zmm,
 * which win from 2 x rows on). */
VNNI_KQ static void q4k_x1_vnni(const uint8_t *const w[8], const xq_row *x, int64_t nsb,
                                float (*out)[8]) {
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    __m256 a = _mm256_setzero_ps(), m = _mm256_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        size_t o = (size_t)s * Q4K_BYTES;
        __m256 A[8], M[8];
        q4k_sb_scales(w, o, A, M);
        for (int jj = 0; jj < 8; jj++) {
            int64_t b = 8 * s + jj;
            __m256i xq = ld256((const uint8_t *)(x->q + QB * b)), u[2];
            for (int h = 0; h < 2; h++) {
                __m256i p[4];
                for (int r = 0; r < 4; r++) {
                    __m256i q = ld256(w[4 * h + r] + o + 16 + 32 * (jj >> 1));
                    q = _mm256_and_si256(jj & 1 ? _mm256_srli_epi16(q, 4) : q, lo4);
                    p[r] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, xq);
                }
                u[h] = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]),
                                         _mm256_hadd_epi32(p[2], p[3]));
            }
            __m256i is = _mm256_add_epi32(_mm256_permute2x128_si256(u[0], u[1], 0x20),
                                          _mm256_permute2x128_si256(u[0], u[1], 0x31));
            q4k_acc(&a, &m, A[jj], M[jj], x, b, is);
        }
    }
    _mm256_storeu_ps(out[0], _mm256_sub_ps(a, m));
}

/* Q6_K: blocks 2p and 2p + 1 of a row (p = 0..3) take the 64 bytes of ql of their half
 * (low nibbles for p even, high for p odd) and its 32 bytes of qh in both halves, shifted
 * by 4 and 2 (p even) or 0 and -2 (p odd); the int16 scales [sc_4p x 8, sc_4p+1 x 8,
 * sc_4p+2 x 8, sc_4p+3 x 8] by one vpermw. Lanes: [a_0 | a_1], as b is even. */
AVX512_KQ INL void q6k_core_512(int J, const uint8_t *const w[8], const xq_row *x,
                                int64_t nsb, float (*out)[8]) {
    const __m512i lo4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    const __m512i c32 = _mm512_set1_epi8(32);
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    __m512 acc[4];
    for (int j = 0; j < 4; j++) {
        acc[j] = _mm512_setzero_ps();
    }
    for (int64_t s = 0; s < nsb; s++) {
        size_t o = (size_t)s * Q6K_BYTES;
        __m256 d8 = f16x8(w, o + 208);
        __m512 d = _mm512_insertf32x8(_mm512_castps256_ps512(d8), d8, 1);
        __m512i sc[8];
        for (int r = 0; r < 8; r++) {
            sc[r] = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(
                _mm_loadu_si128((const __m128i *)(const void *)(w[r] + o + 192))));
        }
        for (int p = 0; p < 4; p++) {
            int64_t b = 8 * s + 2 * p;
            int h = p >> 1;
            const __m512i idx = _mm512_add_epi16(
                _mm512_set1_epi16((short)(4 * p)),
                _mm512_srli_epi16(_mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21,
                                                   20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10,
                                                   9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                  3));
            __m512i v[8], sv[8];
            for (int r = 0; r < 8; r++) {
                const uint8_t *blk = w[r] + o;
                __m512i lo = ld512(blk + 64 * h), hi = bcast256(blk + 128 + 32 * h);
                lo = p & 1 ? _mm512_srli_epi16(lo, 4) : lo;
                hi = p & 1 ? _mm512_srlv_epi16(hi, shr) : _mm512_sllv_epi16(hi, shl);
                /* (lo & 0x0f) | (hi & 0x30) */
                v[r] = _mm512_ternarylogic_epi32(_mm512_and_si512(lo, lo4), hi, m30, 0xf8);
                sv[r] = _mm512_permutexvar_epi16(idx, sc[r]);
            }
            __m512 dx[4];
            for (int j = 0; j < J; j++) {
                dx[j] = _mm512_insertf32x8(_mm512_set1_ps(x[j].d[b]),
                                           _mm256_set1_ps(x[j].d[b + 1]), 1);
            }
            for (int j = 0; j < J; j++) {
                __m512i xz = ld512(x[j].q + QB * b), p16[8];
                __m512i x32 = _mm512_maddubs_epi16(c32, xz);
                for (int r = 0; r < 8; r++) {
                    p16[r] = _mm512_madd_epi16(
                        _mm512_sub_epi16(_mm512_maddubs_epi16(v[r], xz), x32), sv[r]);
                }
                __m512i S = tree8(p16);
                acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(d, dx[j]), _mm512_cvtepi32_ps(S), acc[j]);
            }
        }
    }
    for (int j = 0; j < J; j++) {
        _mm256_storeu_ps(out[j], _mm256_add_ps(_mm512_castps512_ps256(acc[j]),
                                               _mm512_extractf32x8_ps(acc[j], 1)));
    }
}

#define TILE512(NAME, CORE, TGT, J)                                                         \
    TGT static void NAME(const uint8_t *const w[8], const xq_row *x, int64_t nsb,          \
                         float (*out)[8]) {                                                  \
        CORE(J, w, x, nsb, out);                                                             \
    }
TILE512(q4k_x2_vnni, q4k_core_vnni, VNNI_KQ, 2)
TILE512(q4k_x3_vnni, q4k_core_vnni, VNNI_KQ, 3)
TILE512(q4k_x4_vnni, q4k_core_vnni, VNNI_KQ, 4)
TILE512(q6k_x1_512, q6k_core_512, AVX512_KQ, 1)
TILE512(q6k_x2_512, q6k_core_512, AVX512_KQ, 2)
TILE512(q6k_x3_512, q6k_core_512, AVX512_KQ, 3)
TILE512(q6k_x4_512, q6k_core_512, AVX512_KQ, 4)
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
    int64_t nsb = L / QK, nb = L / QB;
    size_t sbb = t == SKIM_TYPE_Q4_K ? Q4K_BYTES : Q6K_BYTES;
    /* x rows rounded into this thread's scratch, as many as fit at a time: the scales, the
     * sums, the values */
    size_t per_row = (size_t)nb * (sizeof(float) + QB + sizeof(int32_t)); /* bytes */
    size_t room = skim_cpu_mm_scratch(L, 0); /* floats; what follows is the caller's */
    room = room < c->scratch_floats ? room : c->scratch_floats;
    int64_t fit = (int64_t)(room * sizeof(float) / per_row);
    if (fit < 1) {
        return false;
    }
    /* tile[J - 1] takes J x rows at once (jmax of them at most) */
    tilekq_fn c1 = t == SKIM_TYPE_Q4_K ? q4k_c : q6k_c;
    tilekq_fn tile[4] = {c1, c1, c1, c1};
    int jmax = 1;
#ifdef SKIM_CPU_X86
    if (c->avx2) {
        static const tilekq_fn q4[4] = {q4k_x1_avx, q4k_x2_avx, q4k_x3_avx, q4k_x4_avx};
        static const tilekq_fn q4v[4] = {q4k_x1_vnni, q4k_x2_vnni, q4k_x3_vnni, q4k_x4_vnni};
        static const tilekq_fn q6[4] = {q6k_x1_avx, q6k_x2_avx, q6k_x3_avx, q6k_x4_avx};
        static const tilekq_fn q6z[4] = {q6k_x1_512, q6k_x2_512, q6k_x3_512, q6k_x4_512};
        memcpy(tile, t == SKIM_TYPE_Q6_K ? (c->avx512 ? q6z : q6) : c->vnni ? q4v : q4,
               sizeof tile);
        jmax = 4;
    }
#endif
    size_t off = (size_t)(mm->k0 / QK) * sbb, nf = (size_t)(fit < n_x ? fit : n_x) * (size_t)nb;
    float *ds = c->scratch;
    int32_t *ss = (int32_t *)(void *)(ds + nf);
    int8_t *qs = (int8_t *)(void *)(ss + nf);
    xq_row xr[4];
    float out[4][8];
    for (int64_t i0 = 0; i0 < n_x; i0 += fit) {
        int64_t ni = n_x - i0 < fit ? n_x - i0 : fit;
        for (int64_t i = 0; i < ni; i++) {
            size_t o = (size_t)i * (size_t)nb;
            skim_cpu_q8_quant_row(c, xrows[i0 + i] + mm->k0, nb, ds + o, qs + o * QB, ss + o);
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
