/* matvec_k.c - products with Q4_K and Q6_K weights for a few x rows (decode, up to
 * SKIM_CPU_MV_MAX), and the vector decoding of such rows for the matmul core's panels.
 *
 * The layouts are graph/quant_k.c's. As in matvec.c, the w rows of a product with few x
 * rows are decoded in registers and multiplied at once, so each weight byte is read once
 * per run: tiles of 8 w rows x 1 x row, 4 x 2, 2 x 3 and 2 x 4, a super-block of 256
 * values of one row at a time, its scales decoded first.
 *
 * The decoded floats are skim_row_to_f32's bits, and every dot keeps the matmul core's
 * order (lane l accumulates k = l mod 8 with fused multiply-adds, k increasing; the lanes
 * reduce as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)); the empty tail adds + 0.0f), so the
 * results are the bits the core gives on any thread count. The scalar decoders round as:
 *   Q4_K: (d * sc) * q - dmin * m. d * sc (an 11-bit d times a 6-bit integer) and its
 *         product with q (4 bits) are exact in float, as is dmin * m, so the one rounding
 *         is the subtraction; a fused (d * sc) * q - dmin * m rounds that same way.
 *   Q6_K: (d * sc) * (q - 32). d * sc (11 bits times |sc| <= 128) and its product with
 *         q - 32 (|q - 32| <= 32) are exact (2047 * 128 * 32 < 2^24): no rounding at all.
 * With AVX-512 one zmm register holds two 8-lane accumulators, of two w rows (its two
 * 256-bit halves), never one dot over 16 consecutive values. */
#include "cpu-int.h"
#include "cpu-simd.h"

#include <string.h>

#define Q4K_BYTES 144
#define Q6K_BYTES 210

#ifdef SKIM_CPU_X86
#define AVX2_K __attribute__((target("avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline))

AVX2_K INL __m128i ld64(const uint8_t *p) {
    return _mm_loadl_epi64((const __m128i *)(const void *)p);
}

AVX2_K INL __m128i ld128(const uint8_t *p) {
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

AVX2_K INL __m256i ld256(const uint8_t *p) {
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

/* The 8 scales and 8 mins of a Q4_K super-block as bytes (little-endian words): for
 * j < 4 the low 6 bits of bytes j (scales, word 0) and j + 4 (mins, word 1); for j >= 4
 * the nibbles of byte j + 4 (word 2) topped by the two high bits of bytes j - 4 and j,
 * which (w >> 2) & 0x30 moves to bits 4 and 5 of each byte. */
static inline void q4k_scale_bytes(const uint8_t *b, uint64_t *sc, uint64_t *mn) {
    uint32_t w0 = skim_cpu_rd32(b + 4), w1 = skim_cpu_rd32(b + 8), w2 = skim_cpu_rd32(b + 12);
    uint32_t sc_lo = w0 & 0x3f3f3f3fu, mn_lo = w1 & 0x3f3f3f3fu;
    uint32_t sc_hi = (w2 & 0x0f0f0f0fu) | ((w0 >> 2) & 0x30303030u);
    uint32_t mn_hi = ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 2) & 0x30303030u);
    *sc = sc_lo | (uint64_t)sc_hi << 32;
    *mn = mn_lo | (uint64_t)mn_hi << 32;
}

/* a[j] = d * sc_j and m[j] = dmin * m_j of a Q4_K super-block (each one exact product). */
AVX2_K INL void q4k_scales(const uint8_t *b, float a[8], float m[8]) {
    uint64_t sc, mn;
    q4k_scale_bytes(b, &sc, &mn);
    __m256 d = _mm256_set1_ps(_cvtsh_ss(skim_cpu_rd16(b))), dm = _mm256_set1_ps(_cvtsh_ss(skim_cpu_rd16(b + 2)));
    __m256 fs = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi64x(0, (long long)sc)));
    __m256 fm = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi64x(0, (long long)mn)));
    _mm256_storeu_ps(a, _mm256_mul_ps(d, fs));
    _mm256_storeu_ps(m, _mm256_mul_ps(dm, fm));
}

/* Elements 64c .. 64c + 63 of a Q4_K super-block (qs: its qs + 32c) as 8 vectors in k
 * order: low nibbles with (a0, m0), high nibbles with (a1, m1). */
AVX2_K INL void q4k_chunk(const uint8_t *qs, __m256 a0, __m256 m0, __m256 a1, __m256 m1,
                          __m256 v[8]) {
    __m256i f = _mm256_set1_epi32(15);
    for (int i = 0; i < 4; i++) {
        __m256i q = _mm256_cvtepu8_epi32(ld64(qs + 8 * i));
        v[i] = _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_and_si256(q, f)), a0, m0);
        v[4 + i] = _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(q, 4)), a1, m1);
    }
}

/* s[i] = d * sc_i for the 16 int8 scales of a Q6_K super-block. */
AVX2_K INL void q6k_scales(const uint8_t *b, float s[16]) {
    __m256 d = _mm256_set1_ps(_cvtsh_ss(skim_cpu_rd16(b + 208)));
    __m128i q = ld128(b + 192);
    _mm256_storeu_ps(s, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
    q = _mm_srli_si128(q, 8);
    _mm256_storeu_ps(s + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
}

/* Group g (elements 32g .. 32g + 31) of a half of a Q6_K super-block (ql, qh: that
 * half's) as q - 32 in bytes: the low (g < 2) or high nibble of ql[32 (g & 1) + l], bits
 * 2g and 2g + 1 of qh[l] as bits 4 and 5 (16-bit shifts: the bits that cross a byte
 * border are masked off). */
AVX2_K INL __m256i q6k_group_bytes(const uint8_t *ql, const uint8_t *qh, int g) {
    __m256i lo = ld256(ql + 32 * (g & 1)), hi = ld256(qh);
    if (g >= 2) {
        lo = _mm256_srli_epi16(lo, 4);
    }
    lo = _mm256_and_si256(lo, _mm256_set1_epi8(0x0f));
    hi = g == 0 ? _mm256_slli_epi16(hi, 4)
       : g == 1 ? _mm256_slli_epi16(hi, 2)
       : g == 2 ? hi
                : _mm256_srli_epi16(hi, 2);
    hi = _mm256_and_si256(hi, _mm256_set1_epi8(0x30));
    return _mm256_sub_epi8(_mm256_or_si256(lo, hi), _mm256_set1_epi8(32));
}

AVX2_K INL __m256 s8_to_f(__m128i q, __m256 s) {
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), s);
}

/* That group as 4 vectors in k order: s0 scales its first 16 values, s1 the rest. */
AVX2_K INL void q6k_group(const uint8_t *ql, const uint8_t *qh, int g, __m256 s0, __m256 s1,
                          __m256 v[4]) {
    __m256i q = q6k_group_bytes(ql, qh, g);
    __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1);
    v[0] = s8_to_f(q0, s0);
    v[1] = s8_to_f(_mm_srli_si128(q0, 8), s0);
    v[2] = s8_to_f(q1, s1);
    v[3] = s8_to_f(_mm_srli_si128(q1, 8), s1);
}

/* acc[j] += v[i] * x[j][i * 8 ..] for i < n, in order. */
AVX2_K INL void fma_x(__m256 *acc, const __m256 *v, int n, const float *const *x, int nx,
                      int64_t off) {
    for (int j = 0; j < nx; j++) {
        for (int i = 0; i < n; i++) {
            acc[j] = _mm256_fmadd_ps(v[i], _mm256_loadu_ps(x[j] + off + 8 * i), acc[j]);
        }
    }
}

/* Q4_K: the scales of one super-block of a row; then its chunk c (64 values) against nx
 * x rows from element off. */
typedef struct q4k_sc {
    float a[8], m[8];
} q4k_sc;

AVX2_K INL void q4k_prep(const uint8_t *blk, q4k_sc *s) {
    q4k_scales(blk, s->a, s->m);
}

AVX2_K INL void q4k_part(const uint8_t *blk, const q4k_sc *s, int c, const float *const *x,
                         int nx, int64_t off, __m256 *acc) {
    __m256 v[8];
    q4k_chunk(blk + 16 + 32 * c, _mm256_set1_ps(s->a[2 * c]), _mm256_set1_ps(s->m[2 * c]),
              _mm256_set1_ps(s->a[2 * c + 1]), _mm256_set1_ps(s->m[2 * c + 1]), v);
    fma_x(acc, v, 8, x, nx, off + 64 * c);
}

/* Q6_K likewise: part p is group p % 4 of half p / 4 (32 values). */
typedef struct q6k_sc {
    float s[16];
} q6k_sc;

AVX2_K INL void q6k_prep(const uint8_t *blk, q6k_sc *s) {
    q6k_scales(blk, s->s);
}

AVX2_K INL void q6k_part(const uint8_t *blk, const q6k_sc *s, int p, const float *const *x,
                         int nx, int64_t off, __m256 *acc) {
    int h = p / 4, g = p % 4;
    __m256 v[4];
    const float *sg = s->s + 8 * h + 2 * g;
    q6k_group(blk + 64 * h, blk + 128 + 32 * h, g, _mm256_set1_ps(sg[0]), _mm256_set1_ps(sg[1]),
              v);
    fma_x(acc, v, 4, x, nx, off + 32 * p);
}

/* Whole unrolling keeps the accumulators in registers (gcc 12 kept the rows' loop and
 * the accumulators in memory otherwise). */
#define UNROLL _Pragma("GCC unroll 16")

/* out[r * NX + j] = dot(w row r, x row j) over nb super-blocks, R w rows, NX x rows. The
 * rows take turns part by part, so that R chains of fused multiply-adds overlap. */
#define TILE_K(name, q, bytes, parts, R, NX)                                               \
    AVX2_K static void name(const uint8_t *const *w, const float *const *x, int64_t nb,   \
                            float *out) {                                                  \
        __m256 acc[R][NX];                                                                 \
        for (int r = 0; r < (R); r++) {                                                    \
            for (int j = 0; j < (NX); j++) {                                               \
                acc[r][j] = _mm256_setzero_ps();                                           \
            }                                                                              \
        }                                                                                  \
        for (int64_t b = 0; b < nb; b++) {                                                 \
            q##_sc sc[R];                                                                  \
            for (int r = 0; r < (R); r++) {                                                \
                q##_prep(w[r] + (size_t)b * (bytes), &sc[r]);                              \
            }                                                                              \
            UNROLL for (int p = 0; p < (parts); p++) {                                     \
                UNROLL for (int r = 0; r < (R); r++) {                                     \
                    q##_part(w[r] + (size_t)b * (bytes), &sc[r], p, x, NX, SKIM_QK_K * b,  \
                             acc[r]);                                                      \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        for (int r = 0; r < (R); r++) {                                                    \
            for (int j = 0; j < (NX); j++) {                                               \
                out[r * (NX) + j] = skim_cpu_hsum_avx(acc[r][j]) + 0.0f;                   \
            }                                                                              \
        }                                                                                  \
    }

#define TILES_K(t, q, bytes, parts)                                                        \
    TILE_K(t##_8x1, q, bytes, parts, 8, 1)                                                 \
    TILE_K(t##_4x2, q, bytes, parts, 4, 2)                                                 \
    TILE_K(t##_2x3, q, bytes, parts, 2, 3)                                                 \
    TILE_K(t##_2x4, q, bytes, parts, 2, 4)
TILES_K(kt_q4k, q4k, Q4K_BYTES, 4)
TILES_K(kt_q6k, q6k, Q6K_BYTES, 8)

AVX2_K static void row_q4k_avx(const uint8_t *src, float *dst, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = src + (size_t)b * Q4K_BYTES;
        float a[8], m[8];
        q4k_scales(blk, a, m);
        for (int c = 0; c < 4; c++) {
            __m256 v[8];
            q4k_chunk(blk + 16 + 32 * c, _mm256_set1_ps(a[2 * c]), _mm256_set1_ps(m[2 * c]),
                      _mm256_set1_ps(a[2 * c + 1]), _mm256_set1_ps(m[2 * c + 1]), v);
            for (int i = 0; i < 8; i++) {
                _mm256_storeu_ps(dst + SKIM_QK_K * b + 64 * c + 8 * i, v[i]);
            }
        }
    }
}

AVX2_K static void row_q6k_avx(const uint8_t *src, float *dst, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = src + (size_t)b * Q6K_BYTES;
        float s[16];
        q6k_scales(blk, s);
        for (int h = 0; h < 2; h++) {
            for (int g = 0; g < 4; g++) {
                __m256 v[4];
                const float *sg = s + 8 * h + 2 * g;
                q6k_group(blk + 64 * h, blk + 128 + 32 * h, g, _mm256_set1_ps(sg[0]),
                          _mm256_set1_ps(sg[1]), v);
                for (int i = 0; i < 4; i++) {
                    _mm256_storeu_ps(dst + SKIM_QK_K * b + 128 * h + 32 * g + 8 * i, v[i]);
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- AVX-512
 * A zmm register holds one pair of w rows (A in lanes 0-7, B in 8-15): the 8-value
 * vectors of the AVX2 code for the same k, side by side. */
#define AVX512_K __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

/* Lanes 0-7 = i, lanes 8-15 = j (permutation indices). */
AVX512_K INL __m512i idx2(int i, int j) {
    __m512i lo = _mm512_castsi256_si512(_mm256_set1_epi32(i));
    return _mm512_inserti64x4(lo, _mm256_set1_epi32(j), 1);
}

/* Lanes 0-7 = lo's lane i, lanes 8-15 = hi's lane i. */
AVX512_K INL __m512 pair_pick(__m512 lo, __m512 hi, int i) {
    return _mm512_permutex2var_ps(lo, idx2(i, 16 + i), hi);
}

/* acc[j] += v[i] * [x_j | x_j] at off + 8 i, in order. */
AVX512_K INL void fma_x2(__m512 *acc, const __m512 *v, int n, const float *const *x, int nx,
                         int64_t off) {
    for (int j = 0; j < nx; j++) {
        for (int i = 0; i < n; i++) {
            __m512 xv = _mm512_broadcast_f32x8(_mm256_loadu_ps(x[j] + off + 8 * i));
            acc[j] = _mm512_fmadd_ps(v[i], xv, acc[j]);
        }
    }
}

/* Q4_K by table lookup: each sub-block of a row has 16 possible decoded floats
 * T[n] = (d * sc) * n - dmin * m, n = 0..15, formed by one fused multiply-subtract each
 * (the scalar rounding: one rounding, of the subtraction), so a lookup gives the bits
 * the AVX2 decoder computes per value, infinite and NaN scales included. A vpermt2ps
 * reads a 32-entry table from two registers by bits 0-4 of each 32-bit index (the other
 * bits are ignored): row A's table in the first, B's in the second, bit 4 (lanes 8-15)
 * picks B's. The indices are the bytes spread to 32-bit lanes by in-lane byte shuffles,
 * B's with a byte 1 above them (q4k_group, q4k_spread): the low nibble is masked and
 * given bit 4 by one ternary logic op; the high nibble is one shift down, which brings
 * that 1 to bit 4. Per 16 bytes of each row (4 registers of decoded pairs) that is 2
 * masked loads, 2 shuffles, 2 ternary ops, 2 shifts and 4 lookups (12 vector uops, 6 of
 * them on port 5), where converting took 2 blends, 2 zero-extensions, 2 ands, 2 shifts,
 * 4 conversions and 4 fused multiply-subtracts (16); the 4 tables of a chunk's
 * sub-blocks cost 4 fused ops with their scales broadcast from memory (loads), as the 4
 * scale picks they replace did shuffles. Measured (4096 x 4096, 1 thread): 1 x row
 * ~20% faster, 2 x rows ~10%, 4 the same. */
typedef struct q4k_sc2 {
    float a[16], m[16]; /* d * sc and dmin * m: A's sub-blocks 0-7, then B's */
} q4k_sc2;

AVX512_K INL __m512 u8x8_f(uint64_t v) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_set_epi64x(0, (long long)v)));
}

AVX512_K INL void q4k_prep2(const uint8_t *ba, const uint8_t *bb, q4k_sc2 *s) {
    uint64_t sca, mna, scb, mnb;
    q4k_scale_bytes(ba, &sca, &mna);
    q4k_scale_bytes(bb, &scb, &mnb);
    __m512 fs = _mm512_shuffle_f32x4(u8x8_f(sca), u8x8_f(scb), 0x44); /* A 0-7, B 0-7 */
    __m512 fm = _mm512_shuffle_f32x4(u8x8_f(mna), u8x8_f(mnb), 0x44);
    __m512 d = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(_cvtsh_ss(skim_cpu_rd16(ba))),
                                    _mm512_set1_ps(_cvtsh_ss(skim_cpu_rd16(bb))));
    __m512 dm = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(_cvtsh_ss(skim_cpu_rd16(ba + 2))),
                                     _mm512_set1_ps(_cvtsh_ss(skim_cpu_rd16(bb + 2))));
    _mm512_storeu_ps(s->a, _mm512_mul_ps(d, fs));
    _mm512_storeu_ps(s->m, _mm512_mul_ps(dm, fm));
    /* The tables broadcast a and m from memory (a load, where a broadcast of a register
     * lane is a shuffle on the port the lookups need): the empty asm hides the stored
     * values from the compiler, which would otherwise keep them in registers. */
    __asm__ __volatile__("" : "+m"(*s));
}

/* The table of sub-block j of row r (0: A, 1: B): (d * sc) * n - dmin * m, n = 0..15. */
AVX512_K INL __m512 q4k_table(const q4k_sc2 *s, int r, int j) {
    const __m512 n = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm512_fmsub_ps(n, _mm512_set1_ps(s->a[8 * r + j]), _mm512_set1_ps(s->m[8 * r + j]));
}

/* The bytes of a 16-byte group of A and B as the lookups' indices take them: 128-bit
 * lanes 0-1 hold A's, 2-3 B's; lane g loads only the dwords its shuffles read (bytes
 * 4 (g & 1) .. + 3 and 8 more), and B's lanes hold a byte 1 in a dword they do not load
 * (in-lane byte 4 (1 - (g & 1))). */
AVX512_K INL __m512i q4k_group(const uint8_t *qa, const uint8_t *qb) {
    __m512i z = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0);
    z = _mm512_mask_broadcast_i32x4(z, 0x00a5, ld128(qa));
    return _mm512_mask_broadcast_i32x4(z, 0xa500, ld128(qb));
}

/* The in-lane byte shuffle of q4k_group's bytes 8h .. 8h + 7 of each row (lanes 0-7: A's,
 * 8-15: B's) to 32-bit lanes: the byte at bits 0-7 and, in B's lanes, the byte 1 at bits
 * 8-15 (bit 4 once shifted down by a nibble), the rest zero. */
AVX512_K INL __m512i q4k_spread(int h) {
    const int za = (int)0x80808000u, zb = (int)0x80800400u, zc = (int)0x80800000u;
    int b = 8 * h;
    return _mm512_setr_epi32(za | b, za | (b + 1), za | (b + 2), za | (b + 3), za | (b + 4),
                             za | (b + 5), za | (b + 6), za | (b + 7), zb | b, zb | (b + 1),
                             zb | (b + 2), zb | (b + 3), zc | (b + 4), zc | (b + 5),
                             zc | (b + 6), zc | (b + 7));
}

AVX512_K INL void q4k_part2(const uint8_t *ba, const uint8_t *bb, const q4k_sc2 *s, int c,
                            const float *const *x, int nx, int64_t off, __m512 *acc) {
    __m512 ta0 = q4k_table(s, 0, 2 * c), tb0 = q4k_table(s, 1, 2 * c);
    __m512 ta1 = q4k_table(s, 0, 2 * c + 1), tb1 = q4k_table(s, 1, 2 * c + 1);
    const __m512i f = _mm512_set1_epi32(15);
    const __m512i sel = _mm512_mask_blend_epi32(0xff00, _mm512_setzero_si512(),
                                                _mm512_set1_epi32(16));
    __m512i q[4];
    for (int g = 0; g < 2; g++) {
        __m512i z = q4k_group(ba + 16 + 32 * c + 16 * g, bb + 16 + 32 * c + 16 * g);
        q[2 * g] = _mm512_shuffle_epi8(z, q4k_spread(0));
        q[2 * g + 1] = _mm512_shuffle_epi8(z, q4k_spread(1));
    }
    /* Every accumulator takes the 8 vectors in k order. With 2 x rows (the tile of 2
     * pairs of w rows) each vector meets the x rows as it is looked up, which keeps fewer
     * registers live: measured 5-6% faster there, and 1-3% slower (within the noise) with
     * 1 and 4 x rows, which look all 8 up first. */
    __m512 v[8];
    for (int i = 0; i < 8; i++) {
        __m512i ix = i < 4 ? _mm512_ternarylogic_epi32(q[i], f, sel, 0xea) /* (q & f) | sel */
                           : _mm512_srli_epi32(q[i - 4], 4);
        v[i] = i < 4 ? _mm512_permutex2var_ps(ta0, ix, tb0) : _mm512_permutex2var_ps(ta1, ix, tb1);
        if (nx == 2) {
            fma_x2(acc, &v[i], 1, x, nx, off + 64 * c + 8 * i);
        }
    }
    if (nx != 2) {
        fma_x2(acc, v, 8, x, nx, off + 64 * c);
    }
}

/* Q6_K: the pair's 16 scales each (A's in lo, B's in hi). */
typedef struct q6k_sc2 {
    __m512 lo, hi;
} q6k_sc2;

AVX512_K INL __m512 q6k_scales16(const uint8_t *b) {
    __m128i q = ld128(b + 192);
    return _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(skim_cpu_rd16(b + 208))),
                         _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)));
}

AVX512_K INL void q6k_prep2(const uint8_t *ba, const uint8_t *bb, q6k_sc2 *s) {
    s->lo = q6k_scales16(ba);
    s->hi = q6k_scales16(bb);
}

AVX512_K INL __m512i join_bytes(__m256i a, __m256i b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

/* q6k_group_bytes of rows A and B at once (A's 32 bytes, then B's). */
AVX512_K INL __m512i q6k_group_bytes2(const uint8_t *qla, const uint8_t *qha, const uint8_t *qlb,
                                      const uint8_t *qhb, int g) {
    __m512i lo = join_bytes(ld256(qla + 32 * (g & 1)), ld256(qlb + 32 * (g & 1)));
    __m512i hi = join_bytes(ld256(qha), ld256(qhb));
    if (g >= 2) {
        lo = _mm512_srli_epi16(lo, 4);
    }
    lo = _mm512_and_si512(lo, _mm512_set1_epi8(0x0f));
    hi = g == 0 ? _mm512_slli_epi16(hi, 4)
       : g == 1 ? _mm512_slli_epi16(hi, 2)
       : g == 2 ? hi
                : _mm512_srli_epi16(hi, 2);
    hi = _mm512_and_si512(hi, _mm512_set1_epi8(0x30));
    return _mm512_sub_epi8(_mm512_or_si512(lo, hi), _mm512_set1_epi8(32));
}

/* Group p % 4 of half p / 4 of both rows: q - 32 as bytes (A's 32, then B's), then
 * quarter i of each side by side (qwords i and 4 + i) for the sign extension. */
AVX512_K INL void q6k_part2(const uint8_t *ba, const uint8_t *bb, const q6k_sc2 *s, int p,
                            const float *const *x, int nx, int64_t off, __m512 *acc) {
    int h = p / 4, g = p % 4;
    __m512i q = q6k_group_bytes2(ba + 64 * h, ba + 128 + 32 * h, bb + 64 * h, bb + 128 + 32 * h,
                                 g);
    __m512 s0 = pair_pick(s->lo, s->hi, 8 * h + 2 * g);
    __m512 s1 = pair_pick(s->lo, s->hi, 8 * h + 2 * g + 1);
    __m512 v[4];
    for (int i = 0; i < 4; i++) {
        __m512i sel = _mm512_permutexvar_epi64(_mm512_set_epi64(7, 7, 7, 7, 7, 7, 4 + i, i), q);
        __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_castsi512_si128(sel)));
        v[i] = _mm512_mul_ps(f, i < 2 ? s0 : s1);
    }
    fma_x2(acc, v, 4, x, nx, off + 32 * p);
}

/* out[r * NX + j] = dot(w row r, x row j) for P pairs of w rows (R = 2 P) and NX x rows. */
#define TILE_K512(name, q, bytes, parts, P, NX)                                            \
    AVX512_K static void name(const uint8_t *const *w, const float *const *x, int64_t nb, \
                              float *out) {                                                \
        __m512 acc[P][NX];                                                                 \
        for (int r = 0; r < (P); r++) {                                                    \
            for (int j = 0; j < (NX); j++) {                                               \
                acc[r][j] = _mm512_setzero_ps();                                           \
            }                                                                              \
        }                                                                                  \
        for (int64_t b = 0; b < nb; b++) {                                                 \
            q##_sc2 sc[P];                                                                 \
            UNROLL for (int r = 0; r < (P); r++) {                                         \
                q##_prep2(w[2 * r] + (size_t)b * (bytes), w[2 * r + 1] + (size_t)b * (bytes), \
                          &sc[r]);                                                         \
            }                                                                              \
            UNROLL for (int p = 0; p < (parts); p++) {                                     \
                UNROLL for (int r = 0; r < (P); r++) {                                     \
                    q##_part2(w[2 * r] + (size_t)b * (bytes),                              \
                              w[2 * r + 1] + (size_t)b * (bytes), &sc[r], p, x, NX,        \
                              SKIM_QK_K * b, acc[r]);                                      \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        for (int r = 0; r < (P); r++) {                                                    \
            for (int j = 0; j < (NX); j++) {                                               \
                __m256 lo = _mm512_castps512_ps256(acc[r][j]);                             \
                __m256 hi = _mm512_extractf32x8_ps(acc[r][j], 1);                          \
                out[2 * r * (NX) + j] = skim_cpu_hsum_avx(lo) + 0.0f;                      \
                out[(2 * r + 1) * (NX) + j] = skim_cpu_hsum_avx(hi) + 0.0f;                \
            }                                                                              \
        }                                                                                  \
    }

#define TILES_K512(t, q, bytes, parts)                                                     \
    TILE_K512(t##_8x1, q, bytes, parts, 4, 1)                                              \
    TILE_K512(t##_4x2, q, bytes, parts, 2, 2)                                              \
    TILE_K512(t##_2x3, q, bytes, parts, 1, 3)                                              \
    TILE_K512(t##_2x4, q, bytes, parts, 1, 4)
TILES_K512(kz_q4k, q4k, Q4K_BYTES, 4)
TILES_K512(kz_q6k, q6k, Q6K_BYTES, 8)

/* Whole rows: 16 consecutive values per register (decoding has no order of sums). */
AVX512_K static void row_q4k_512(const uint8_t *src, float *dst, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = src + (size_t)b * Q4K_BYTES;
        float a[8], m[8];
        q4k_scales(blk, a, m);
        __m512i f = _mm512_set1_epi32(15);
        for (int c = 0; c < 4; c++) {
            __m512 a0 = _mm512_set1_ps(a[2 * c]), m0 = _mm512_set1_ps(m[2 * c]);
            __m512 a1 = _mm512_set1_ps(a[2 * c + 1]), m1 = _mm512_set1_ps(m[2 * c + 1]);
            float *o = dst + SKIM_QK_K * b + 64 * c;
            for (int i = 0; i < 2; i++) {
                __m512i q = _mm512_cvtepu8_epi32(ld128(blk + 16 + 32 * c + 16 * i));
                __m512 lo = _mm512_cvtepi32_ps(_mm512_and_si512(q, f));
                __m512 hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(q, 4));
                _mm512_storeu_ps(o + 16 * i, _mm512_fmsub_ps(lo, a0, m0));
                _mm512_storeu_ps(o + 32 + 16 * i, _mm512_fmsub_ps(hi, a1, m1));
            }
        }
    }
}

AVX512_K static void row_q6k_512(const uint8_t *src, float *dst, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = src + (size_t)b * Q6K_BYTES;
        float s[16];
        q6k_scales(blk, s);
        for (int h = 0; h < 2; h++) {
            for (int g = 0; g < 4; g++) {
                __m256i q = q6k_group_bytes(blk + 64 * h, blk + 128 + 32 * h, g);
                float *o = dst + SKIM_QK_K * b + 128 * h + 32 * g;
                const float *sg = s + 8 * h + 2 * g;
                __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1);
                __m512 f0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0));
                __m512 f1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1));
                _mm512_storeu_ps(o, _mm512_mul_ps(f0, _mm512_set1_ps(sg[0])));
                _mm512_storeu_ps(o + 16, _mm512_mul_ps(f1, _mm512_set1_ps(sg[1])));
            }
        }
    }
}

typedef skim_cpu_tile_fn ktile_fn;
static const int ktile_rows[4] = {8, 4, 2, 2}; /* w rows of the tile for 1-4 x rows */
#endif /* SKIM_CPU_X86 */

bool skim_cpu_mvk_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0, int64_t m1,
                      const float *const *xrows, const int64_t *ycol, int64_t n_x) {
#ifdef SKIM_CPU_X86
    int64_t L = mm->k1 - mm->k0;
    if (!c->avx2 || (mm->wt != SKIM_TYPE_Q4_K && mm->wt != SKIM_TYPE_Q6_K) ||
        mm->k0 % SKIM_QK_K != 0 || L % SKIM_QK_K != 0 || n_x <= 0) {
        return false;
    }
    size_t off = (size_t)(mm->k0 / SKIM_QK_K) * skim_type_block_bytes(mm->wt);
    static const ktile_fn q4k[4] = {kt_q4k_8x1, kt_q4k_4x2, kt_q4k_2x3, kt_q4k_2x4};
    static const ktile_fn q6k[4] = {kt_q6k_8x1, kt_q6k_4x2, kt_q6k_2x3, kt_q6k_2x4};
    static const ktile_fn q4kz[4] = {kz_q4k_8x1, kz_q4k_4x2, kz_q4k_2x3, kz_q4k_2x4};
    static const ktile_fn q6kz[4] = {kz_q6k_8x1, kz_q6k_4x2, kz_q6k_2x3, kz_q6k_2x4};
    const ktile_fn *f = mm->wt == SKIM_TYPE_Q4_K ? (c->avx512 ? q4kz : q4k)
                                                 : (c->avx512 ? q6kz : q6k);
    skim_cpu_tiles_run(f, ktile_rows, 4, SKIM_QK_K, mm, off, m0, m1, xrows, ycol, n_x);
    return true;
#else
    (void)c, (void)mm, (void)m0, (void)m1, (void)xrows, (void)ycol, (void)n_x;
    return false;
#endif
}

bool skim_cpu_row_decode_k(const skim_cpu_ctx *c, skim_type t, const uint8_t *src, float *dst,
                           int64_t n) {
#ifdef SKIM_CPU_X86
    if (!c->avx2 || n % SKIM_QK_K != 0) {
        return false;
    }
    if (t == SKIM_TYPE_Q4_K) {
        (c->avx512 ? row_q4k_512 : row_q4k_avx)(src, dst, n / SKIM_QK_K);
        return true;
    }
    if (t == SKIM_TYPE_Q6_K) {
        (c->avx512 ? row_q6k_512 : row_q6k_avx)(src, dst, n / SKIM_QK_K);
        return true;
    }
    return false;
#else
    (void)c, (void)t, (void)src, (void)dst, (void)n;
    return false;
#endif
}
