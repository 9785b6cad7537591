/* matmul_k512.c - the k-blocked tiles of matmul_k.c with AVX-512: F32, F16, Q8_0, Q4_0,
 * Q4_K and Q6_K w rows against more x rows than the small-N kernels take.
 *
 * The scheme is matmul_k.c's (k cut into chunks, the x rows copied chunk by chunk
 * into scratch, 8-lane accumulators kept in a buffer per group of w rows, decoded w chunks
 * used by every x row), and so are the bits: a 512-bit register holds two independent
 * 8-lane accumulators, the dot products of one w row with two x rows, never one dot
 * product over 16 consecutive k. The copy of x interleaves rows j and j+1 every 8 values,
 * so one 64-byte load gives [x_j k..k+7 | x_j+1 k..k+7]; 8 w values are broadcast to both
 * halves. Each lane of each half still accumulates k = l mod 8 in increasing order with
 * one fused multiply-add per value (w * x is exact before the one rounding, so which
 * operand comes first does not matter), across chunks through the buffer; the halves
 * reduce as the core's lanes, ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), then + 0.0f for the
 * core's empty tail. An odd x row count leaves the last pair half used: its second row is
 * zeros and its outputs are never read. Decoding is exact as in the AVX2 decoders (f16 to
 * f32; d * q with an 11-bit d and q of at most 8 bits), so the decoded floats are the same.
 * Q4_K and Q6_K (only over whole super-blocks: a decoded chunk of 256 is one) are decoded
 * by matvec_k.c's row decoders, whose floats are skim_row_to_f32's, the floats the core's
 * panels multiply; contraction ranges that start or end inside a super-block (mul_mat_sel_k
 * with blocks of 128) stay with the core. With AVX2 only there are no K-quant tiles here
 * or in matmul_k.c (they were slower than the core's panels).
 *
 * A tile is 8 w rows x 3 pairs of x rows: 24 accumulators, 3 x loads and 8 broadcast
 * loads per 24 fused multiply-adds, which keeps both 512-bit FMA ports busy (alone, with
 * its data in L1: 175 GFLOP/s on one core of the Xeon these were measured on, against
 * 89 for the AVX2 tile). F32 (group_f32) runs chunks of 512 values; its first chunk's
 * tiles start from zero (the buffer is never cleared) and its last chunk's reduce their
 * registers straight into y (fin2: two columns of 8 w rows per 512-bit transpose), so the
 * buffer is neither loaded on the first chunk nor stored on the last (at K = 1024 never
 * touched); its tiles prefetch the next w chunk into L2 (prefetcht1), one row per tile:
 * the first tile of each chunk otherwise waits for its w rows from L3 (prefetching into
 * L1 as the AVX2 tiles do made F32 slower here, 4096 x 4096 x 32: 132 -> 123 GFLOP/s).
 * All of it: F32 1024 x 1024 x 1024, 1 thread, thread CPU time of the tiles alone, median
 * of 5 interleaved runs, 16.3 -> 15.0 ms. The decoded types (group) keep chunks of 256,
 * the cleared buffer and put8: F32's scheme made F16 4-8% slower there (4096 x 4096 x 16,
 * 1024 x 1024 x 1024; chunks of 512 alone a few percent), and prefetching the next
 * panel's F16, Q8_0 or Q4_0 chunk was no faster.
 *
 * Tried and dropped (same machine, same measure): 16 w rows in 8 pairs against x rows
 * broadcast (half the L2 traffic for x; the tile itself then ran near its L1 speed, but
 * packing the F32 w rows into pairs cost as much: 1024^3 as fast, 4096 x 4096 x 16 and
 * x 32 25-40% slower); copying F32 w chunks into a buffer (8% slower); x rows outer across
 * 2-4 panels (5-8% slower); KC = 128 with the pair layout (10% slower). */
#include "cpu-int.h"
#include "cpu-simd.h"

#include <string.h>

#ifdef SKIM_CPU_X86

/* Contraction values per chunk: F32 KC (512 against 256, F32 1024 x 1024 x 1024 at 1
 * thread, best of 10 runs of the tiles alone: 16.5 -> 14.9 ms; 4096 x 4096 x 16 6.0 ->
 * 5.4; 4096 x 4096 x 256 as fast; 1024 made 4096 x 4096 x 16 slower again, 6.2), the
 * decoded types KC_DEC. KC and GX size the scratch (skim_cpu_mmk_scratch in matmul_k.c:
 * x rows rounded up to whole chunks, then up to 16 w rows of accumulators per x row). */
#define KC 512
#define KC_DEC 256
#define GX 48 /* x rows per group */
#define RW 8  /* w rows per tile */

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,f16c")))
#define INLINE __attribute__((always_inline)) inline

/* Where a chunk's tile writes its results when the chunk is the last one of k: the 8 w
 * rows at m (nr of them real) and the x rows j.. (nx in all) of columns ycol. */
typedef struct {
    const skim_cpu_mm *mm;
    const int64_t *ycol;
    int64_t m, nr, j, nx;
} fin_t;

/* y[m..m + nr - 1] of column col from v (8 values; only nr stored), added to y with acc. */
AVX512 static INLINE void put_col(const skim_cpu_mm *mm, __m256 v, int64_t col, int64_t m,
                                  int64_t nr) {
    float *y = mm->y + col * mm->ldy + m;
    __mmask8 k = (__mmask8)((1u << nr) - 1);
    if (mm->acc) {
        v = _mm256_add_ps(_mm256_maskz_loadu_ps(k, y), v);
    }
    _mm256_mask_storeu_ps(y, k, v);
}

/* The 8 w rows' accumulators of one pair, v[r] = [row r with x row j | with x row j + 1]
 * (8 lanes each), reduced as the core's and written to columns ycol[j] and ycol[j + 1]
 * (the second only when j + 1 < nx). The 128-bit quarters of rows r and r + 4 are added
 * as [l0..l3] + [l4..l7], giving t = [l0+l4, l1+l5, l2+l6, l3+l7] for the quarters
 * (row r, x j), (r, j+1), (r+4, j), (r+4, j+1); a 4 x 4 transpose in each quarter across
 * r = 0..3 puts term i of 4 rows into c_i, then (c0 + c2) + (c1 + c3) = ((l0+l4)+(l2+l6))
 * + ((l1+l5)+(l3+l7)) and + 0.0f (the core adds its empty tail, which turns -0 into +0).
 * Two columns per transpose: half the shuffles of one 256-bit transpose per column. */
AVX512 static INLINE void fin2(const fin_t *f, const __m512 v[RW], int64_t j) {
    __m512 t[4];
    for (int r = 0; r < 4; r++) {
        t[r] = _mm512_add_ps(_mm512_shuffle_f32x4(v[r], v[r + 4], 0x88),
                             _mm512_shuffle_f32x4(v[r], v[r + 4], 0xdd));
    }
    __m512 u0 = _mm512_unpacklo_ps(t[0], t[1]), u1 = _mm512_unpackhi_ps(t[0], t[1]);
    __m512 u2 = _mm512_unpacklo_ps(t[2], t[3]), u3 = _mm512_unpackhi_ps(t[2], t[3]);
    __m512 c0 = _mm512_shuffle_ps(u0, u2, 0x44), c1 = _mm512_shuffle_ps(u0, u2, 0xee);
    __m512 c2 = _mm512_shuffle_ps(u1, u3, 0x44), c3 = _mm512_shuffle_ps(u1, u3, 0xee);
    __m512 s = _mm512_add_ps(_mm512_add_ps(c0, c2), _mm512_add_ps(c1, c3));
    s = _mm512_add_ps(s, _mm512_setzero_ps());
    /* quarters [j rows 0-3, j+1 rows 0-3, j rows 4-7, j+1 rows 4-7] -> [j | j+1] */
    s = _mm512_shuffle_f32x4(s, s, 0xd8);
    put_col(f->mm, _mm512_castps512_ps256(s), f->ycol[j], f->m, f->nr);
    if (j + 1 < f->nx) {
        put_col(f->mm, _mm512_extractf32x8_ps(s, 1), f->ycol[j + 1], f->m, f->nr);
    }
}

/* acc (8 lanes per w row r and x row j at acc + (r * ld + j) * 8, j = 2q and 2q + 1 side
 * by side) += w[r] . pair q for 8 w rows and P pairs over kl values; xc: the chunk's
 * first pair, xs floats per pair (a constant in each instantiation: a stride known at
 * compile time keeps the three x rows on one base register). On the first chunk of k the accumulators start at
 * zero instead of being loaded (the buffer then needs no clearing: fmadd onto +0.0f
 * either way); on the last (f not NULL) they are reduced straight into y instead of
 * being stored, the pairs being x rows f->j + 2q. */
AVX512 static INLINE void tile(const float *const w[RW], const float *xc, int P, int64_t xs,
                               int64_t kl, float *acc, int64_t ld, bool first, const fin_t *f,
                               const float *pf) {
    /* pf NULL (a constant in every instantiation): no prefetching */
    __m512 c[RW][3];
    for (int r = 0; r < RW; r++) {
        for (int q = 0; q < P; q++) {
            c[r][q] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + (r * ld + 2 * q) * 8);
        }
    }
    for (int64_t k = 0; k < kl; k += 8) {
        if (pf) {
            _mm_prefetch((const char *)(pf + k), _MM_HINT_T1);
        }
        __m512 b[3];
        for (int q = 0; q < P; q++) {
            b[q] = _mm512_load_ps(xc + q * xs + 2 * k);
        }
        for (int r = 0; r < RW; r++) {
            __m512 v = _mm512_broadcast_f32x8(_mm256_loadu_ps(w[r] + k));
            for (int q = 0; q < P; q++) {
                c[r][q] = _mm512_fmadd_ps(v, b[q], c[r][q]);
            }
        }
    }
    if (f) {
        for (int q = 0; q < P; q++) {
            __m512 v[RW];
            for (int r = 0; r < RW; r++) {
                v[r] = c[r][q];
            }
            fin2(f, v, f->j + 2 * q);
        }
        return;
    }
    for (int r = 0; r < RW; r++) {
        for (int q = 0; q < P; q++) {
            _mm512_storeu_ps(acc + (r * ld + 2 * q) * 8, c[r][q]);
        }
    }
}

typedef void (*tile_fn)(const float *const w[RW], const float *xc, int64_t kl, float *acc,
                        int64_t ld, const fin_t *f, const float *pf);

/* One function per pair count and chunk kind (middle, first, last, first and last; F32),
 * and the decoded types' (d: every chunk loads and stores the buffer, no prefetching). */
#define TILE_FNS(P)                                                                           \
    AVX512 static void tile##P##_m(const float *const w[RW], const float *xc, int64_t kl,    \
                                   float *acc, int64_t ld, const fin_t *f, const float *pf) { \
        (void)f;                                                                              \
        tile(w, xc, P, 2 * KC, kl, acc, ld, false, NULL, pf);                                         \
    }                                                                                         \
    AVX512 static void tile##P##_f(const float *const w[RW], const float *xc, int64_t kl,    \
                                   float *acc, int64_t ld, const fin_t *f, const float *pf) { \
        (void)f;                                                                              \
        tile(w, xc, P, 2 * KC, kl, acc, ld, true, NULL, pf);                                          \
    }                                                                                         \
    AVX512 static void tile##P##_l(const float *const w[RW], const float *xc, int64_t kl,    \
                                   float *acc, int64_t ld, const fin_t *f, const float *pf) { \
        tile(w, xc, P, 2 * KC, kl, acc, ld, false, f, pf);                                            \
    }                                                                                         \
    AVX512 static void tile##P##_fl(const float *const w[RW], const float *xc, int64_t kl,   \
                                    float *acc, int64_t ld, const fin_t *f,                   \
                                    const float *pf) {                                        \
        tile(w, xc, P, 2 * KC, kl, acc, ld, true, f, pf);                                             \
    }
TILE_FNS(1)
TILE_FNS(2)
TILE_FNS(3)

/* [pairs - 1][first + 2 * last] */
static const tile_fn tiles[3][4] = {{tile1_m, tile1_f, tile1_l, tile1_fl},
                                    {tile2_m, tile2_f, tile2_l, tile2_fl},
                                    {tile3_m, tile3_f, tile3_l, tile3_fl}};

/* The decoded types' tiles: every chunk loads and stores the buffer, nothing prefetched. */
AVX512 static void tile3(const float *const w[RW], const float *xc, int64_t kl, float *acc,
                         int64_t ld) {
    tile(w, xc, 3, 2 * KC_DEC, kl, acc, ld, false, NULL, NULL);
}

AVX512 static void tile2(const float *const w[RW], const float *xc, int64_t kl, float *acc,
                         int64_t ld) {
    tile(w, xc, 2, 2 * KC_DEC, kl, acc, ld, false, NULL, NULL);
}

AVX512 static void tile1(const float *const w[RW], const float *xc, int64_t kl, float *acc,
                         int64_t ld) {
    tile(w, xc, 1, 2 * KC_DEC, kl, acc, ld, false, NULL, NULL);
}

/* n values (a multiple of 16) of f16 to f32. */
AVX512 static void f16_chunk(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(h));
    }
}

/* nb blocks of Q8_0: d * q, 16 values per instruction. */
AVX512 static void q8_chunk(const uint8_t *src, float *dst, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = src + (size_t)b * (2 + SKIM_QK);
        __m512 d = _mm512_set1_ps(_cvtsh_ss(skim_cpu_rd16(blk)));
        for (int h = 0; h < 2; h++) {
            __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(blk + 2 + 16 * h));
            __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q));
            _mm512_storeu_ps(dst + 32 * b + 16 * h, _mm512_mul_ps(v, d));
        }
    }
}

/* nb blocks of Q4_0: values 0-15 are the low nibbles of bytes 0-15, 16-31 the high. */
AVX512 static void q4_chunk(const uint8_t *src, float *dst, int64_t nb) {
    __m128i m = _mm_set1_epi8(0x0f), e = _mm_set1_epi8(8);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = src + (size_t)b * (2 + SKIM_QK / 2);
        __m512 d = _mm512_set1_ps(_cvtsh_ss(skim_cpu_rd16(blk)));
        __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(blk + 2));
        __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m), e);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m), e);
        __m512 vl = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo));
        __m512 vh = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi));
        _mm512_storeu_ps(dst + 32 * b, _mm512_mul_ps(vl, d));
        _mm512_storeu_ps(dst + 32 * b + 16, _mm512_mul_ps(vh, d));
    }
}

/* x rows [k0, k0 + L) in pairs, chunk by chunk of kcl values: the chunk at kc has pair q
 * at xp + kc * nxp + q * 2 * kcl (a short last chunk too), step s (values 8s..8s+7) of
 * rows 2q and 2q + 1 at 16 s and 16 s + 8. An odd count's last pair has zeros for its
 * second row. */
AVX512 static void pack_x(const float *const *xr, int64_t nx, int64_t k0, int64_t L, int64_t kcl,
                          float *xp) {
    int64_t nxp = (nx + 1) & ~(int64_t)1;
    for (int64_t kc = 0; kc < L; kc += kcl) {
        int64_t kl = L - kc < kcl ? L - kc : kcl;
        for (int64_t j = 0; j < nxp; j++) {
            float *dst = xp + kc * nxp + (j >> 1) * 2 * kcl + (j & 1) * 8;
            if (j == nx) {
                for (int64_t k = 0; k < kl; k += 8) {
                    _mm256_store_ps(dst + 2 * k, _mm256_setzero_ps());
                }
                continue;
            }
            const float *src = xr[j] + k0 + kc;
            for (int64_t k = 0; k < kl; k += 8) {
                _mm256_store_ps(dst + 2 * k, _mm256_loadu_ps(src + k));
            }
        }
    }
}

/* The 8 w rows of the panel at m over [kk, kk + kl) as floats: F32 in place, the others
 * decoded into wbuf (RW * KC_DEC floats); a short panel repeats its first row. */
AVX512 static void w_panel(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m, int64_t m1,
                           int64_t kk, int64_t kl, float *wbuf, const float *w[RW]) {
    size_t bb = skim_type_block_bytes(mm->wt);
    for (int r = 0; r < RW; r++) {
        int64_t mr = m + r < m1 ? m + r : m;
        const uint8_t *row = mm->w + (size_t)mr * mm->wrow;
        float *dst = wbuf + r * KC_DEC;
        w[r] = dst;
        if (mm->wt == SKIM_TYPE_F32) {
            w[r] = (const float *)(const void *)row + kk;
        } else if (r > 0 && mr == m) {
            w[r] = w[0];
        } else if (mm->wt == SKIM_TYPE_F16) {
            /* kl is a multiple of 8: the last 8 go through the AVX2 width */
            int64_t k16 = kl & ~(int64_t)15;
            const uint16_t *h16 = (const uint16_t *)(const void *)row + kk;
            f16_chunk(h16, dst, k16);
            if (k16 < kl) {
                __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(h16 + k16));
                _mm256_storeu_ps(dst + k16, _mm256_cvtph_ps(h));
            }
        } else if (mm->wt == SKIM_TYPE_Q8_0) { /* kk and kl are whole blocks */
            q8_chunk(row + (size_t)(kk / SKIM_QK) * bb, dst, kl / SKIM_QK);
        } else if (mm->wt == SKIM_TYPE_Q4_0) {
            q4_chunk(row + (size_t)(kk / SKIM_QK) * bb, dst, kl / SKIM_QK);
        } else { /* Q4_K or Q6_K: kk and kl are one super-block (matvec_k.c's decoders) */
            skim_cpu_row_decode_k(c, mm->wt, row + (size_t)(kk / SKIM_QK_K) * bb, dst, kl);
        }
    }
}

/* y rows m..m + nr - 1 (nr <= 8) of column col from their accumulators (8 lanes each, ld
 * floats apart), reduced as the core's: the halves' sums t = [l0+l4, l1+l5, l2+l6,
 * l3+l7] of rows r and r + 4 side by side, transposed so that c_i holds term i of 4 rows,
 * then (c0 + c2) + (c1 + c3) = ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) and + 0.0f (the
 * core adds its empty tail, which turns -0 into +0). */
AVX512 static void put8(const skim_cpu_mm *mm, const float *a, int64_t ld, int64_t col, int64_t m,
                        int64_t nr) {
    __m256 t[4];
    for (int r = 0; r < 4; r++) {
        __m256 x = _mm256_loadu_ps(a + r * ld), z = _mm256_loadu_ps(a + (r + 4) * ld);
        t[r] = _mm256_add_ps(_mm256_permute2f128_ps(x, z, 0x20),
                             _mm256_permute2f128_ps(x, z, 0x31));
    }
    __m256 u0 = _mm256_unpacklo_ps(t[0], t[1]), u1 = _mm256_unpackhi_ps(t[0], t[1]);
    __m256 u2 = _mm256_unpacklo_ps(t[2], t[3]), u3 = _mm256_unpackhi_ps(t[2], t[3]);
    __m256 c0 = _mm256_shuffle_ps(u0, u2, 0x44), c1 = _mm256_shuffle_ps(u0, u2, 0xee);
    __m256 c2 = _mm256_shuffle_ps(u1, u3, 0x44), c3 = _mm256_shuffle_ps(u1, u3, 0xee);
    __m256 v = _mm256_add_ps(_mm256_add_ps(c0, c2), _mm256_add_ps(c1, c3));
    v = _mm256_add_ps(v, _mm256_setzero_ps());
    float *y = mm->y + col * mm->ldy + m;
    __mmask8 k = (__mmask8)((1u << nr) - 1);
    if (mm->acc) {
        v = _mm256_add_ps(_mm256_maskz_loadu_ps(k, y), v);
    }
    _mm256_mask_storeu_ps(y, k, v);
}

/* Decoded rows [m0, m1) (at most 16) against nx (at most GX) x rows paired in xp, in
 * chunks of KC_DEC. */
AVX512 static void group(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0, int64_t m1,
                         const float *xp, const int64_t *ycol, int64_t nx, float *acc,
                         float *wbuf) {
    int64_t L = mm->k1 - mm->k0, np = (m1 - m0 + RW - 1) / RW;
    int64_t nxp = (nx + 1) & ~(int64_t)1, npair = nxp / 2;
    for (int64_t i = 0; i < np * RW * nxp * 8; i += 16) {
        _mm512_storeu_ps(acc + i, _mm512_setzero_ps());
    }
    for (int64_t kc = 0; kc < L; kc += KC_DEC) {
        int64_t kl = L - kc < KC_DEC ? L - kc : KC_DEC, kk = mm->k0 + kc;
        for (int64_t p = 0; p < np; p++) {
            int64_t m = m0 + RW * p;
            const float *w[RW];
            w_panel(c, mm, m, m1, kk, kl, wbuf, w);
            float *ap = acc + p * RW * nxp * 8;
            const float *xc = xp + kc * nxp;
            int64_t q = 0;
            for (; q + 3 <= npair; q += 3) {
                tile3(w, xc + q * 2 * KC_DEC, kl, ap + q * 16, nxp);
            }
            if (npair - q == 2) {
                tile2(w, xc + q * 2 * KC_DEC, kl, ap + q * 16, nxp);
            } else if (npair - q == 1) {
                tile1(w, xc + q * 2 * KC_DEC, kl, ap + q * 16, nxp);
            }
        }
    }
    for (int64_t p = 0; p < np; p++) {
        int64_t m = m0 + RW * p;
        int64_t nr = m1 - m < RW ? m1 - m : RW;
        for (int64_t j = 0; j < nx; j++) {
            put8(mm, acc + (p * RW * nxp + j) * 8, nxp * 8, ycol[j], m, nr);
        }
    }
}

/* F32 rows [m0, m1) (one panel) against nx (at most GX) x rows paired in xp, in chunks
 * of KC; mend: the end of the task's rows. The tiles start from zero on the first chunk,
 * write y on the last, and prefetch the w chunk that comes next (the next chunk's, or the
 * next group's first), tile t row t, one line every 8 values (each line twice), into L2:
 * the first tile of a chunk then finds its w rows there rather than in L3. */
AVX512 static void group_f32(const skim_cpu_mm *mm, int64_t m0, int64_t m1, int64_t mend,
                             const float *xp, const int64_t *ycol, int64_t nx, float *acc) {
    int64_t L = mm->k1 - mm->k0, np = (m1 - m0 + RW - 1) / RW;
    int64_t nxp = (nx + 1) & ~(int64_t)1, npair = nxp / 2;
    for (int64_t kc = 0; kc < L; kc += KC) {
        int64_t kl = L - kc < KC ? L - kc : KC, kk = mm->k0 + kc;
        int kind = (kc == 0) + 2 * (kc + KC >= L);
        for (int64_t p = 0; p < np; p++) {
            int64_t m = m0 + RW * p;
            const float *w[RW];
            for (int r = 0; r < RW; r++) { /* in place; a short panel repeats its first row */
                int64_t mr = m + r < m1 ? m + r : m;
                w[r] = (const float *)(const void *)(mm->w + (size_t)mr * mm->wrow) + kk;
            }
            float *ap = acc + p * RW * nxp * 8;
            const float *xc = xp + kc * nxp;
            int64_t pm = m + RW, pend = m1, pk = kk; /* the next w chunk: rows pm.., at pk */
            if (p + 1 == np) {
                pm = kc + KC < L ? m0 : m1, pend = kc + KC < L ? m1 : mend;
                pk = kc + KC < L ? kk + KC : mm->k0;
            }
            pk = pk < mm->k1 - kl ? pk : mm->k1 - kl; /* the tile reads pf[0, kl) */
            fin_t f = {mm, ycol, m, m1 - m < RW ? m1 - m : RW, 0, nx};
            for (int64_t q = 0, t = 0; q < npair; q += 3, t++) {
                int P = npair - q < 3 ? (int)(npair - q) : 3;
                const float *pf = w[0];
                if (t < RW && pm + t < pend) {
                    pf = (const float *)(const void *)(mm->w + (size_t)(pm + t) * mm->wrow) + pk;
                }
                f.j = 2 * q;
                tiles[P - 1][kind](w, xc + q * 2 * KC, kl, ap + q * 16, nxp, &f, pf);
            }
        }
    }
}

bool skim_cpu_mmk512_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0, int64_t m1,
                         const float *const *xrows, const int64_t *ycol, int64_t n_x) {
    int64_t L = mm->k1 - mm->k0;
    float wbuf[RW * KC_DEC];
    int64_t nxm = n_x < GX ? n_x : GX;
    nxm = (nxm + 1) & ~(int64_t)1;
    float *xp = (float *)(void *)(((uintptr_t)c->scratch + 63) & ~(uintptr_t)63);
    int64_t kcl = mm->wt == SKIM_TYPE_F32 ? KC : KC_DEC;
    float *acc = xp + (L + kcl - 1) / kcl * kcl * nxm;
    for (int64_t i = 0; i < n_x; i += GX) {
        int64_t nx = n_x - i < GX ? n_x - i : GX;
        pack_x(xrows + i, nx, mm->k0, L, kcl, xp);
        /* w rows per group: F32 one panel, whose rows are then read in order along k
         * (4096 x 4096 x 256, GFLOP/s of thread CPU time: 8 rows 117-124, 32 rows
         * 104-115; 1024 x 1024 x 1024: 120-128 against 115-120); the decoded types 16 (8
         * and 32 were as fast) */
        int64_t gr = mm->wt == SKIM_TYPE_F32 ? RW : 16;
        for (int64_t m = m0; m < m1; m += gr) {
            if (mm->wt == SKIM_TYPE_F32) {
                group_f32(mm, m, m1 - m < gr ? m1 : m + gr, m1, xp, ycol + i, nx, acc);
            } else {
                group(c, mm, m, m1 - m < gr ? m1 : m + gr, xp, ycol + i, nx, acc, wbuf);
            }
        }
    }
    return true;
}
#endif /* SKIM_CPU_X86 */
