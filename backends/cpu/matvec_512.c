/* matvec_512.c - the small-N tiles of matvec.c (F32, F16, Q8_0 and Q4_0 w rows decoded in
 * registers for 1 to 8 x rows at a time) with AVX-512 F/BW/DQ/VL.
 *
 * The bits are those of the AVX2 tiles: a 512-bit register holds two independent 8-lane
 * accumulators, w row r in its low half and w row r + 1 in its high half, each lane l
 * summing k = l mod 8 with fused multiply-adds in k order against x broadcast to both
 * halves; the halves reduce as skim_cpu_hsum_avx does, then + 0.0f (the core's empty
 * tail). Decoded weights are the exact products d * q the AVX2 decoders give (an 11-bit d
 * times a small integer q is exact in float, so any exact way to form it gives the same
 * float):
 *   Q8_0: q placed in the top byte of a 32-bit lane is q * 2^24, exact in float; times
 *         d * 2^-24 (a power of two away from d, no underflow for an f16 d) it is d * q.
 *   Q4_0: a byte in bits 8-15 of a lane, masked to its low nibble n and given the
 *         exponent of 2^15, is the float 2^15 + n (the nibble's bits are the mantissa's
 *         units); the high nibble, with the exponent of 2^11, is 2^11 + n. Then one fused
 *         multiply-add fma(2^15 + n, d, -(2^15 + 8) d) is d (n - 8): the addend is exact
 *         (13 bits times d's 11) and so is the sum, which a float holds. Where a scale
 *         of the tile's rows in a block is infinite or NaN, that block takes
 *         (F - (2^15 + 8)) * d instead, exact too, which gives what cvt(q) * d gives
 *         there (the fused form would give NaN where that gives an infinity).
 * The bytes of a row pair meet in one register through in-lane byte shuffles (AVX-512BW
 * vpshufb): the 128-bit lanes hold 16 bytes of each row as [r, r, r + 1, r + 1]. */
#include "cpu-int.h"
#include "cpu-simd.h"

#include <string.h>

#ifdef SKIM_CPU_X86
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")))

/* The scales of R (up to 8) rows' blocks at offset o; pair_of spreads rows 2p and 2p + 1
 * of them as [d_2p x 8 | d_2p+1 x 8]. */
AVX512 static inline __m256 scales8(const uint8_t *const *w, int R, size_t o) {
    uint64_t h[2] = {0, 0};
    for (int r = 0; r < R; r++) {
        h[r / 4] |= (uint64_t)skim_cpu_rd16(w[r] + o) << (16 * (r % 4));
    }
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)h[1], (long long)h[0]));
}

AVX512 static inline __m512 pair_of(__m256 d8, int p) {
    const __m512i lo = _mm512_set1_epi32(0), hi = _mm512_set1_epi32(1);
    __m512i idx = _mm512_mask_blend_epi32(0xff00, lo, hi);
    idx = _mm512_add_epi32(idx, _mm512_set1_epi32(2 * p));
    return _mm512_permutexvar_ps(idx, _mm512_castps256_ps512(d8));
}

/* [16 bytes at a | the same | 16 bytes at b | the same] */
AVX512 static inline __m512i rows16(const uint8_t *a, const uint8_t *b) {
    __m512i z = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)a));
    return _mm512_mask_broadcast_i32x4(z, 0xff00, _mm_loadu_si128((const __m128i *)(const void *)b));
}

/* In-lane byte indices: 32-bit lane t of 128-bit lane g takes byte 4 (g & 1) + t + add of
 * its row's 16, at byte position pos (the other bytes zero). */
AVX512 static inline __m512i spread(int pos, int add) {
    uint32_t v[4];
    __m512i r = _mm512_setzero_si512();
    for (int half = 0; half < 2; half++) {
        for (int t = 0; t < 4; t++) {
            uint32_t b = (uint32_t)(4 * half + t + add);
            v[t] = (0x80808080u & ~(0xffu << (8 * pos))) | (b << (8 * pos));
        }
        __m128i q = _mm_loadu_si128((const __m128i *)(const void *)v);
        __mmask16 m = half ? 0xf0f0 : 0x0f0f;
        r = _mm512_mask_broadcast_i32x4(r, m, q);
    }
    return r;
}

typedef struct dec_ctx {
    __m512i i0, i1;        /* byte spreads: values 0-7 and 8-15 of a row's 16 bytes */
    __m512 s[4];           /* per row pair: the scales (Q8_0: times 2^-24) */
    __m512 k15[4], k11[4]; /* Q4_0: the scales times -(2^15 + 8) and -(2^11 + 8) */
    bool finite;           /* Q4_0: no scale of the block is infinite or NaN */
} dec_ctx;

AVX512 static inline void f32_512(const uint8_t *a, const uint8_t *b, const dec_ctx *c, int p,
                                  __m512 v[4]) {
    (void)c;
    (void)p;
    for (int i = 0; i < 4; i++) {
        __m256 lo = _mm256_loadu_ps((const float *)(const void *)a + 8 * i);
        __m256 hi = _mm256_loadu_ps((const float *)(const void *)b + 8 * i);
        v[i] = _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
    }
}

AVX512 static inline void f16_512(const uint8_t *a, const uint8_t *b, const dec_ctx *c, int p,
                                  __m512 v[4]) {
    (void)c;
    (void)p;
    for (int i = 0; i < 4; i++) {
        __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(a + 16 * i));
        __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(b + 16 * i));
        v[i] = _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
    }
}

AVX512 static inline void q8_512(const uint8_t *a, const uint8_t *b, const dec_ctx *c, int p,
                                 __m512 v[4]) {
    for (int h = 0; h < 2; h++) {
        __m512i z = rows16(a + 2 + 16 * h, b + 2 + 16 * h);
        __m512 lo = _mm512_cvtepi32_ps(_mm512_shuffle_epi8(z, c->i0));
        __m512 hi = _mm512_cvtepi32_ps(_mm512_shuffle_epi8(z, c->i1));
        v[2 * h] = _mm512_mul_ps(lo, c->s[p]);
        v[2 * h + 1] = _mm512_mul_ps(hi, c->s[p]);
    }
}

AVX512 static inline void q4_512(const uint8_t *a, const uint8_t *b, const dec_ctx *c, int p,
                                 __m512 v[4]) {
    const __m512i lo4 = _mm512_set1_epi32(0x0f00), hi4 = _mm512_set1_epi32(0xf000);
    const __m512i e15 = _mm512_set1_epi32(0x47000000), e11 = _mm512_set1_epi32(0x45000000);
    __m512i z = rows16(a + 2, b + 2);
    __m512i q[2] = {_mm512_shuffle_epi8(z, c->i0), _mm512_shuffle_epi8(z, c->i1)};
    for (int i = 0; i < 2; i++) {
        /* (q & mask) | exponent (0xea is A & B | C): 2^15 + low nibble, 2^11 + high */
        __m512 n = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(q[i], lo4, e15, 0xea));
        __m512 n16 = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(q[i], hi4, e11, 0xea));
        if (c->finite) {
            v[i] = _mm512_fmadd_ps(n, c->s[p], c->k15[p]);
            v[i + 2] = _mm512_fmadd_ps(n16, c->s[p], c->k11[p]);
        } else {
            v[i] = _mm512_mul_ps(_mm512_sub_ps(n, _mm512_set1_ps(32776.0f)), c->s[p]);
            v[i + 2] = _mm512_mul_ps(_mm512_sub_ps(n16, _mm512_set1_ps(2056.0f)), c->s[p]);
        }
    }
}

AVX512 static inline void sc_none(const uint8_t *const *w, int R, size_t o, dec_ctx *c) {
    (void)w;
    (void)R;
    (void)o;
    (void)c;
}

AVX512 static inline void sc_q8(const uint8_t *const *w, int R, size_t o, dec_ctx *c) {
    __m256 d8 = _mm256_mul_ps(scales8(w, R, o), _mm256_set1_ps(0x1p-24f));
    for (int p = 0; p < R / 2; p++) {
        c->s[p] = pair_of(d8, p);
    }
}

AVX512 static inline void sc_q4(const uint8_t *const *w, int R, size_t o, dec_ctx *c) {
    __m256 d8 = scales8(w, R, o);
    c->finite = _mm256_fpclass_ps_mask(d8, 0x99) == 0; /* no NaN, no infinity */
    for (int p = 0; p < R / 2; p++) {
        c->s[p] = pair_of(d8, p);
        c->k15[p] = _mm512_mul_ps(c->s[p], _mm512_set1_ps(-32776.0f));
        c->k11[p] = _mm512_mul_ps(c->s[p], _mm512_set1_ps(-2056.0f));
    }
}

/* Q8_0: the byte at the top of its lane (q * 2^24); Q4_0: at the bottom. */
AVX512 static inline void ctx_init(dec_ctx *c, int pos) {
    c->i0 = spread(pos, 0);
    c->i1 = spread(pos, 8);
}

/* out[r * NX + j] = dot(w row r, x row j) over nb blocks of 32 for 2P w rows and NX x
 * rows: row pair p's block is decoded once into 4 registers and meets the NX x rows. */
#define TILE512(name, decode, scales, pos, bb, P, NX)                                      \
    AVX512 static void name(const uint8_t *const *w, const float *const *x, int64_t nb,   \
                            float *out) {                                                  \
        dec_ctx c;                                                                         \
        ctx_init(&c, pos);                                                                 \
        __m512 acc[P][NX];                                                                 \
        for (int p = 0; p < (P); p++) {                                                    \
            for (int j = 0; j < (NX); j++) {                                               \
                acc[p][j] = _mm512_setzero_ps();                                           \
            }                                                                              \
        }                                                                                  \
        for (int64_t b = 0; b < nb; b++) {                                                 \
            size_t o = (size_t)b * (bb);                                                   \
            scales(w, 2 * (P), o, &c);                                                     \
            for (int p = 0; p < (P); p++) {                                                \
                __m512 v[4];                                                               \
                decode(w[2 * p] + o, w[2 * p + 1] + o, &c, p, v);                          \
                for (int j = 0; j < (NX); j++) {                                           \
                    const float *xb = x[j] + 32 * b;                                       \
                    for (int i = 0; i < 4; i++) {                                          \
                        __m512 xv = _mm512_broadcast_f32x8(_mm256_loadu_ps(xb + 8 * i));   \
                        acc[p][j] = _mm512_fmadd_ps(v[i], xv, acc[p][j]);                  \
                    }                                                                      \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        for (int p = 0; p < (P); p++) {                                                    \
            for (int j = 0; j < (NX); j++) {                                               \
                __m256 lo = _mm512_castps512_ps256(acc[p][j]);                             \
                __m256 hi = _mm512_extractf32x8_ps(acc[p][j], 1);                          \
                out[(2 * p) * (NX) + j] = skim_cpu_hsum_avx(lo) + 0.0f;                    \
                out[(2 * p + 1) * (NX) + j] = skim_cpu_hsum_avx(hi) + 0.0f;                \
            }                                                                              \
        }                                                                                  \
    }

/* The tiles of each type for 1-8 x rows: 8 w rows x 1, 4 x 2 to x 8. */
#define TILES512(t, decode, scales, pos, bb)                                               \
    TILE512(t##_8x1, decode, scales, pos, bb, 4, 1)                                        \
    TILE512(t##_4x2, decode, scales, pos, bb, 2, 2)                                        \
    TILE512(t##_4x3, decode, scales, pos, bb, 2, 3)                                        \
    TILE512(t##_4x4, decode, scales, pos, bb, 2, 4)                                        \
    TILE512(t##_4x5, decode, scales, pos, bb, 2, 5)                                        \
    TILE512(t##_4x6, decode, scales, pos, bb, 2, 6)                                        \
    TILE512(t##_4x7, decode, scales, pos, bb, 2, 7)                                        \
    TILE512(t##_4x8, decode, scales, pos, bb, 2, 8)
TILES512(t512_f32, f32_512, sc_none, 0, 4 * SKIM_QK)
TILES512(t512_f16, f16_512, sc_none, 0, 2 * SKIM_QK)
TILES512(t512_q8, q8_512, sc_q8, 3, 2 + SKIM_QK)
TILES512(t512_q4, q4_512, sc_q4, 1, 2 + SKIM_QK / 2)

typedef skim_cpu_tile_fn tile_fn;
#define GROUP 8 /* x rows per tile at most */
static const int tile_rows[GROUP] = {8, 4, 4, 4, 4, 4, 4, 4}; /* w rows of the tile for 1-8 */

static bool tiles_of(skim_type t, tile_fn f[GROUP]) {
#define SET_TILES(p)                                                                       \
    (f[0] = p##_8x1, f[1] = p##_4x2, f[2] = p##_4x3, f[3] = p##_4x4, f[4] = p##_4x5,       \
     f[5] = p##_4x6, f[6] = p##_4x7, f[7] = p##_4x8, true)
    switch (t) {
    case SKIM_TYPE_F32: return SET_TILES(t512_f32);
    case SKIM_TYPE_F16: return SET_TILES(t512_f16);
    case SKIM_TYPE_Q8_0: return SET_TILES(t512_q8);
    case SKIM_TYPE_Q4_0: return SET_TILES(t512_q4);
    default: return false;
    }
#undef SET_TILES
}
#endif /* SKIM_CPU_X86 */

bool skim_cpu_mv512_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, size_t off, int64_t m0,
                        int64_t m1, const float *const *xrows, const int64_t *ycol, int64_t n_x) {
#ifdef SKIM_CPU_X86
    tile_fn f[GROUP];
    if (!c->avx512 || !tiles_of(mm->wt, f)) {
        return false;
    }
    /* Up to 8 x rows at a time (a group) against 8 w rows at a time */
    skim_cpu_tiles_run(f, tile_rows, GROUP, SKIM_QK, mm, off, m0, m1, xrows, ycol, n_x);
    return true;
#else
    (void)c, (void)mm, (void)off, (void)m0, (void)m1, (void)xrows, (void)ycol, (void)n_x;
    return false;
#endif
}
