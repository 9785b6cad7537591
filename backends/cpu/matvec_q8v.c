/* matvec_q8v.c - the tiles of matvec_q8.c (Q8_0 or Q4_0 w rows against x rows rounded to
 * 8 bits) with AVX512_VNNI.
 *
 * Per weight block and x block the exact integer sum of the 32 products is formed with
 * vpdpbusd (unsigned bytes times signed bytes, four products summed into a 32-bit lane,
 * no saturation), so the sums are those of the AVX2 tiles; the float side is theirs
 * unchanged (acc += (dw * dx) * sum, one fused multiply-add per block, even and odd blocks
 * apart, then added), so the outputs are the same bits.
 * The unsigned operand is the weights: Q4_0 nibbles n as they are (the sum of (n - 8) x is
 * sum n x - 8 sum x), Q8_0 values q plus 128 (q xor 0x80; the sum of q x is
 * sum (q + 128) x - 128 sum x); every sum fits in 32 bits (32 * 255 * 128 < 2^31).
 * Layout: for 8 w rows a block becomes 4 registers, register i holding the 8 values
 * 8i..8i+7 of each row as one 64-bit lane (lane r: row r), so x's 8 values broadcast to
 * every lane; the four products accumulate into one register whose lane r holds row r's
 * sum in two 32-bit halves. The rows' sums then need one add, not a reduction tree, and
 * two blocks (an even one and the next) go side by side through the float side: their
 * lanes are the AVX2 tiles' two accumulators. */
#include "cpu-int.h"
#include "cpu-simd.h"

#include <string.h>

#ifdef SKIM_CPU_X86
#define VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")))
#define QB 32

static inline long long rd64(const int8_t *p) {
    long long v;
    memcpy(&v, p, 8);
    return v;
}

/* The 8 rows' weight scales of block offset o. */
VNNI static inline __m256 dw8(const uint8_t *const w[8], size_t o) {
    uint64_t h[2] = {0, 0};
    for (int r = 0; r < 8; r++) {
        h[r / 4] |= (uint64_t)skim_cpu_rd16(w[r] + o) << (16 * (r % 4));
    }
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)h[1], (long long)h[0]));
}

/* Q8_0: t[i] lane r = row r's values 8i..8i+7, plus 128. */
VNNI static inline void w_q8(const uint8_t *const w[8], size_t o, __m512i t[4]) {
    __m512i a[4];
    for (int p = 0; p < 4; p++) { /* a[p]: row 2p's 4 lanes, then row 2p + 1's */
        __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)(w[2 * p] + o + 2));
        __m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(w[2 * p + 1] + o + 2));
        a[p] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
    /* [rows 0-3 lane i | rows 0-3 lane i + 1] from a[0], a[1]; rows 4-7 from a[2], a[3] */
    const __m512i i01 = _mm512_setr_epi64(0, 4, 8, 12, 1, 5, 9, 13);
    const __m512i i23 = _mm512_setr_epi64(2, 6, 10, 14, 3, 7, 11, 15);
    __m512i l01 = _mm512_permutex2var_epi64(a[0], i01, a[1]);
    __m512i l23 = _mm512_permutex2var_epi64(a[0], i23, a[1]);
    __m512i h01 = _mm512_permutex2var_epi64(a[2], i01, a[3]);
    __m512i h23 = _mm512_permutex2var_epi64(a[2], i23, a[3]);
    const __m512i sg = _mm512_set1_epi8((char)0x80);
    t[0] = _mm512_xor_si512(_mm512_shuffle_i64x2(l01, h01, 0x44), sg);
    t[1] = _mm512_xor_si512(_mm512_shuffle_i64x2(l01, h01, 0xee), sg);
    t[2] = _mm512_xor_si512(_mm512_shuffle_i64x2(l23, h23, 0x44), sg);
    t[3] = _mm512_xor_si512(_mm512_shuffle_i64x2(l23, h23, 0xee), sg);
}

/* Q4_0: t[i] lane r = row r's nibbles 8i..8i+7 (values 0-15 are the low nibbles of bytes
 * 0-15, values 16-31 the high ones). */
VNNI static inline void w_q4(const uint8_t *const w[8], size_t o, __m512i t[4]) {
    __m512i a[2];
    for (int h = 0; h < 2; h++) { /* rows 4h..4h+3, 16 bytes each */
        const uint8_t *const *p = w + 4 * h;
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)(p[0] + o + 2)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(p[1] + o + 2)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(p[2] + o + 2)), 2);
        a[h] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(p[3] + o + 2)), 3);
    }
    const __m512i e = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i d = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
    const __m512i m = _mm512_set1_epi8(0x0f);
    __m512i q0 = _mm512_permutex2var_epi64(a[0], e, a[1]); /* bytes 0-7 of each row */
    __m512i q1 = _mm512_permutex2var_epi64(a[0], d, a[1]); /* bytes 8-15 */
    t[0] = _mm512_and_si512(q0, m);
    t[1] = _mm512_and_si512(q1, m);
    t[2] = _mm512_and_si512(_mm512_srli_epi16(q0, 4), m);
    t[3] = _mm512_and_si512(_mm512_srli_epi16(q1, 4), m);
}

/* The 8 rows' products of one block with x block xq: lane r holds row r's exact integer
 * sum (before the bias) split in its two 32-bit halves. */
VNNI static inline __m512i isum(const __m512i t[4], const int8_t *xq) {
    const __m512i z = _mm512_setzero_si512();
    __m512i a = _mm512_dpbusd_epi32(z, t[0], _mm512_set1_epi64(rd64(xq)));
    __m512i b = _mm512_dpbusd_epi32(z, t[2], _mm512_set1_epi64(rd64(xq + 16)));
    a = _mm512_dpbusd_epi32(a, t[1], _mm512_set1_epi64(rd64(xq + 8)));
    b = _mm512_dpbusd_epi32(b, t[3], _mm512_set1_epi64(rd64(xq + 24)));
    return _mm512_add_epi32(a, b);
}

VNNI static inline void w_blk(bool q8, const uint8_t *const w[8], size_t o, __m512i t[4]) {
    if (q8) {
        w_q8(w, o, t);
    } else {
        w_q4(w, o, t);
    }
}

/* Blocks b0 and b1 (offsets o0, o1) of 8 w rows against J x rows, side by side: lanes 0-7
 * of acc[j] (w row r: lane r) take block b0, lanes 8-15 block b1, each lane +=
 * (dw_r * d_j) * (the block's exact integer sum), one fused multiply-add; only the lanes
 * of mask k change (b1 = b0 with k = 0xff: block b0 alone). */
VNNI static inline __attribute__((always_inline)) void blk2_vnni(bool q8, int J,
                                                                const uint8_t *const w[8],
                                                                size_t o0, size_t o1,
                                                                const skim_cpu_xq *x, int64_t b0,
                                                                int64_t b1, __mmask16 k,
                                                                __m512 acc[8]) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i half = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    __m512 dw = _mm512_insertf32x8(_mm512_castps256_ps512(dw8(w, o0)), dw8(w, o1), 1);
    __m512i t0[4], t1[4];
    w_blk(q8, w, o0, t0);
    w_blk(q8, w, o1, t1);
    for (int j = 0; j < J; j++) {
        __m512i a = isum(t0, x[j].q + QB * b0), c = isum(t1, x[j].q + QB * b1);
        __m512i s = _mm512_add_epi32(_mm512_permutex2var_epi32(a, even, c),
                                     _mm512_permutex2var_epi32(a, odd, c));
        __m512i xs = _mm512_permutexvar_epi32(half, _mm512_castsi128_si512(_mm_setr_epi32(
                                                        x[j].s[b0], x[j].s[b1], 0, 0)));
        s = _mm512_sub_epi32(s, _mm512_slli_epi32(xs, q8 ? 7 : 3)); /* 128 or 8 sum x */
        __m512 dx = _mm512_permutexvar_ps(half, _mm512_castps128_ps512(_mm_setr_ps(
                                                    x[j].d[b0], x[j].d[b1], 0.0f, 0.0f)));
        acc[j] = _mm512_mask3_fmadd_ps(_mm512_mul_ps(dw, dx), _mm512_cvtepi32_ps(s), acc[j], k);
    }
}

/* Even blocks in lanes 0-7 of acc (the AVX2 tiles' a0), odd blocks in lanes 8-15 (a1),
 * each in order; out = a0 + a1. */
VNNI static inline __attribute__((always_inline)) void tile_vnni(bool q8, int J, size_t bb,
                                                                const uint8_t *const w[8],
                                                                const skim_cpu_xq *x, int64_t nb,
                                                                float (*out)[8]) {
    __m512 acc[8];
    for (int j = 0; j < 8; j++) {
        acc[j] = _mm512_setzero_ps();
    }
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        blk2_vnni(q8, J, w, (size_t)b * bb, (size_t)(b + 1) * bb, x, b, b + 1, 0xffff, acc);
    }
    if (b < nb) {
        blk2_vnni(q8, J, w, (size_t)b * bb, (size_t)b * bb, x, b, b, 0x00ff, acc);
    }
    for (int j = 0; j < J; j++) {
        _mm256_storeu_ps(out[j], _mm256_add_ps(_mm512_castps512_ps256(acc[j]),
                                               _mm512_extractf32x8_ps(acc[j], 1)));
    }
}

#define TILEQ_VNNI(NAME, Q8, J)                                                                \
    VNNI static void NAME(skim_type t, size_t bb, const uint8_t *const w[8],                   \
                          const skim_cpu_xq *x, int64_t nb, float (*out)[8]) {                 \
        (void)t;                                                                               \
        tile_vnni(Q8, J, bb, w, x, nb, out);                                                   \
    }
TILEQ_VNNI(q8x1_vnni, true, 1)
TILEQ_VNNI(q8x2_vnni, true, 2)
TILEQ_VNNI(q8x3_vnni, true, 3)
TILEQ_VNNI(q8x4_vnni, true, 4)
TILEQ_VNNI(q8x5_vnni, true, 5)
TILEQ_VNNI(q8x6_vnni, true, 6)
TILEQ_VNNI(q8x7_vnni, true, 7)
TILEQ_VNNI(q8x8_vnni, true, 8)
TILEQ_VNNI(q4x1_vnni, false, 1)
TILEQ_VNNI(q4x2_vnni, false, 2)
TILEQ_VNNI(q4x3_vnni, false, 3)
TILEQ_VNNI(q4x4_vnni, false, 4)
TILEQ_VNNI(q4x5_vnni, false, 5)
TILEQ_VNNI(q4x6_vnni, false, 6)
TILEQ_VNNI(q4x7_vnni, false, 7)
TILEQ_VNNI(q4x8_vnni, false, 8)
#undef TILEQ_VNNI
#endif /* SKIM_CPU_X86 */

bool skim_cpu_mvq_vnni(skim_type t, skim_cpu_colq_fn tile[8]) {
#ifdef SKIM_CPU_X86
    static const skim_cpu_colq_fn q8[8] = {q8x1_vnni, q8x2_vnni, q8x3_vnni, q8x4_vnni,
                                           q8x5_vnni, q8x6_vnni, q8x7_vnni, q8x8_vnni};
    static const skim_cpu_colq_fn q4[8] = {q4x1_vnni, q4x2_vnni, q4x3_vnni, q4x4_vnni,
                                           q4x5_vnni, q4x6_vnni, q4x7_vnni, q4x8_vnni};
    if (t != SKIM_TYPE_Q8_0 && t != SKIM_TYPE_Q4_0) {
        return false;
    }
    memcpy(tile, t == SKIM_TYPE_Q8_0 ? q8 : q4, sizeof q8);
    return true;
#else
    (void)t;
    (void)tile;
    return false;
#endif
}
