/* matmul_k.c - the matmul core's AVX2 tiles for F32, F16, Q8_0 and Q4_0 w rows, blocked
 * along k (and the entry of matmul_k512.c's AVX-512 tiles, which take Q4_K and Q6_K too).
 *
 * The core (matmul.c) runs each 4 x 3 tile over the whole contraction: for K = 4096 the 4
 * w rows and 3 x rows of a tile (112 KiB) do not fit in L1, so every tile streams them
 * from L2 or memory, and F16 rows are first converted whole into scratch. Here k is cut
 * into chunks of KC: for one chunk, the x rows of the task (up to GX; in L1 for 16) and
 * 4 w rows at a time stay in cache, and every tile loads its 8-lane accumulators from a
 * buffer (in scratch), adds the chunk's products with fused multiply-adds and stores them
 * back. A lane still sees k = l mod 8 in increasing order with the same operations, and
 * the lanes reduce as the core's, so every output has the core's bits: the results
 * depend neither on the thread count nor on which path ran. F16, Q8_0 and Q4_0 w chunks
 * are decoded (exactly, as the core decodes them) into a small buffer once per chunk and
 * used by every x row; F32 w rows are read in place.
 *
 * The x rows are first copied chunk by chunk into the thread's scratch: rows a multiple of
 * 4 KiB apart (K = 4096: 16 KiB) map to the same L1 sets, so in place the x rows of a
 * chunk can evict each other (16 rows, 8 ways). mul_mat gives each thread one
 * run of w rows per matrix, so the copy is made once per thread. F32 tiles also prefetch
 * the next panel's chunk, one row per tile, a line every other step: the w rows come from
 * memory (prefetch_next, which issues a whole chunk at once, made F32 slower). */
#include "cpu-int.h"
#include "cpu-simd.h"

#ifdef SKIM_CPU_X86

#define KC 256 /* contraction values per chunk */
#define GR 32  /* w rows per group at most (their accumulators stay in L2): F32 takes 32
                * (6% faster than 16 at N = 256, as fast at N = 16); the decoded types
                * 16 (Q4_0 at N = 16: 32 rows were 4% slower) */
#define GX 48  /* x rows per group */

#define AVX2_F16C __attribute__((target("avx2,fma,f16c")))

/* acc[r * ld + j] (8 lanes each) += w[r] . x[j] over kl values, for 4 w rows, 3 x rows;
 * pf: a line to prefetch every 32 bytes of k (each line twice; any address). */
AVX2_F16C static void tile43(const float *const w[4], const float *const x[3], int64_t kl,
                             float *acc, int64_t ld, const float *pf) {
    float *a0 = acc, *a1 = acc + 8 * ld, *a2 = acc + 16 * ld, *a3 = acc + 24 * ld;
    __m256 c00 = _mm256_loadu_ps(a0), c01 = _mm256_loadu_ps(a0 + 8), c02 = _mm256_loadu_ps(a0 + 16);
    __m256 c10 = _mm256_loadu_ps(a1), c11 = _mm256_loadu_ps(a1 + 8), c12 = _mm256_loadu_ps(a1 + 16);
    __m256 c20 = _mm256_loadu_ps(a2), c21 = _mm256_loadu_ps(a2 + 8), c22 = _mm256_loadu_ps(a2 + 16);
    __m256 c30 = _mm256_loadu_ps(a3), c31 = _mm256_loadu_ps(a3 + 8), c32 = _mm256_loadu_ps(a3 + 16);
    const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    const float *x0 = x[0], *x1 = x[1], *x2 = x[2];
    for (int64_t k = 0; k < kl; k += 8) {
        _mm_prefetch((const char *)(pf + k), _MM_HINT_T0);
        __m256 b0 = _mm256_loadu_ps(x0 + k), b1 = _mm256_loadu_ps(x1 + k);
        __m256 b2 = _mm256_loadu_ps(x2 + k);
        __m256 v = _mm256_loadu_ps(w0 + k);
        c00 = _mm256_fmadd_ps(v, b0, c00);
        c01 = _mm256_fmadd_ps(v, b1, c01);
        c02 = _mm256_fmadd_ps(v, b2, c02);
        v = _mm256_loadu_ps(w1 + k);
        c10 = _mm256_fmadd_ps(v, b0, c10);
        c11 = _mm256_fmadd_ps(v, b1, c11);
        c12 = _mm256_fmadd_ps(v, b2, c12);
        v = _mm256_loadu_ps(w2 + k);
        c20 = _mm256_fmadd_ps(v, b0, c20);
        c21 = _mm256_fmadd_ps(v, b1, c21);
        c22 = _mm256_fmadd_ps(v, b2, c22);
        v = _mm256_loadu_ps(w3 + k);
        c30 = _mm256_fmadd_ps(v, b0, c30);
        c31 = _mm256_fmadd_ps(v, b1, c31);
        c32 = _mm256_fmadd_ps(v, b2, c32);
    }
    _mm256_storeu_ps(a0, c00), _mm256_storeu_ps(a0 + 8, c01), _mm256_storeu_ps(a0 + 16, c02);
    _mm256_storeu_ps(a1, c10), _mm256_storeu_ps(a1 + 8, c11), _mm256_storeu_ps(a1 + 16, c12);
    _mm256_storeu_ps(a2, c20), _mm256_storeu_ps(a2 + 8, c21), _mm256_storeu_ps(a2 + 16, c22);
    _mm256_storeu_ps(a3, c30), _mm256_storeu_ps(a3 + 8, c31), _mm256_storeu_ps(a3 + 16, c32);
}

/* The same for one x row. */
AVX2_F16C static void tile41(const float *const w[4], const float *x, int64_t kl, float *acc,
                             int64_t ld, const float *pf) {
    float *a0 = acc, *a1 = acc + 8 * ld, *a2 = acc + 16 * ld, *a3 = acc + 24 * ld;
    __m256 c0 = _mm256_loadu_ps(a0), c1 = _mm256_loadu_ps(a1);
    __m256 c2 = _mm256_loadu_ps(a2), c3 = _mm256_loadu_ps(a3);
    const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    for (int64_t k = 0; k < kl; k += 8) {
        _mm_prefetch((const char *)(pf + k), _MM_HINT_T0);
        __m256 b = _mm256_loadu_ps(x + k);
        c0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k), b, c0);
        c1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + k), b, c1);
        c2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + k), b, c2);
        c3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + k), b, c3);
    }
    _mm256_storeu_ps(a0, c0), _mm256_storeu_ps(a1, c1);
    _mm256_storeu_ps(a2, c2), _mm256_storeu_ps(a3, c3);
}

AVX2_F16C static void f16_chunk(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i += 8) {
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(src + i))));
    }
}

AVX2_F16C static void zero(float *a, int64_t n) {
    for (int64_t i = 0; i < n; i += 8) {
        _mm256_storeu_ps(a + i, _mm256_setzero_ps());
    }
}

/* Prefetches the chunk at kk of the panel's 4 w rows (m, short panels repeat m) while
 * the current chunk computes. F16 and Q8_0 with up to 16 x rows only (where a chunk's
 * arithmetic is short): at 4096 x 4096 x 16 it took F16 from 11.4 to 9.6 ms and Q8_0
 * from 9.5 to 8.7; F32 went from 11.4 to 12.6 (it prefetches in its tiles instead) and
 * Q4_0 did not move. */
AVX2_F16C static void prefetch_next(const skim_cpu_mm *mm, int64_t m, int64_t m1, int64_t kk) {
    size_t bb = skim_type_block_bytes(mm->wt), bs = (size_t)skim_type_block_size(mm->wt);
    int64_t kl = mm->k1 - kk < KC ? mm->k1 - kk : KC;
    size_t from = (size_t)kk / bs * bb, bytes = (size_t)kl / bs * bb;
    for (int r = 0; r < 4; r++) {
        int64_t mr = m + r < m1 ? m + r : m;
        const char *row = (const char *)(mm->w + (size_t)mr * mm->wrow + from);
        for (size_t o = 0; o < bytes; o += 64) {
            _mm_prefetch(row + o, _MM_HINT_T0);
        }
    }
}

/* x rows [k0, k0 + L) chunk by chunk: chunk c's row j at xp + (c * nx + j) * KC. */
AVX2_F16C static void pack_x(const float *const *xr, int64_t nx, int64_t k0, int64_t L, float *xp) {
    for (int64_t kc = 0; kc < L; kc += KC) {
        int64_t kl = L - kc < KC ? L - kc : KC;
        for (int64_t j = 0; j < nx; j++) {
            const float *src = xr[j] + k0 + kc;
            float *dst = xp + kc * nx + j * KC;
            for (int64_t k = 0; k < kl; k += 8) {
                _mm256_store_ps(dst + k, _mm256_loadu_ps(src + k));
            }
        }
    }
}

/* Rows [m0, m1) (at most GR) against nx (at most GX) x rows. */
AVX2_F16C static void group(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0, int64_t m1, const float *xp,
                            const int64_t *ycol, int64_t nx, float *acc, float *wbuf) {
    int64_t L = mm->k1 - mm->k0, np = (m1 - m0 + 3) / 4;
    zero(acc, np * 4 * nx * 8);
    for (int64_t kc = 0; kc < L; kc += KC) {
        int64_t kl = L - kc < KC ? L - kc : KC, kk = mm->k0 + kc;
        for (int64_t p = 0; p < np; p++) {
            int64_t m = m0 + 4 * p;
            const float *w[4];
            for (int r = 0; r < 4; r++) {
                int64_t mr = m + r < m1 ? m + r : m; /* a short panel repeats its first row */
                const uint8_t *row = mm->w + (size_t)mr * mm->wrow;
                w[r] = wbuf + r * KC;
                if (mm->wt == SKIM_TYPE_F32) {
                    w[r] = (const float *)(const void *)row + kk;
                } else if (mm->wt == SKIM_TYPE_F16) {
                    f16_chunk((const uint16_t *)(const void *)row + kk, wbuf + r * KC, kl);
                } else { /* Q8_0 or Q4_0: kk and kl are whole blocks */
                    size_t bb = skim_type_block_bytes(mm->wt);
                    skim_cpu_row_decode(c, mm->wt, row + (size_t)(kk / SKIM_QK) * bb, wbuf + r * KC, kl);
                }
            }
            if (kc + KC < L && nx <= 16 && (mm->wt == SKIM_TYPE_F16 || mm->wt == SKIM_TYPE_Q8_0)) {
                prefetch_next(mm, m, m1, kk + KC);
            }
            float *ap = acc + p * 4 * nx * 8;
            const float *xc = xp + kc * nx;
            /* F32: the first 4 tiles prefetch a row each of the next panel's chunk */
            const float *pf[4] = {w[0], w[0], w[0], w[0]};
            if (mm->wt == SKIM_TYPE_F32 && (p + 1 < np || kc + KC < L)) {
                int64_t pm = p + 1 < np ? m + 4 : m0, pk = p + 1 < np ? kk : kk + KC;
                for (int r = 0; r < 4; r++) {
                    int64_t mr = pm + r < m1 ? pm + r : pm;
                    pf[r] = (const float *)(const void *)(mm->w + (size_t)mr * mm->wrow) + pk;
                }
            }
            int64_t j = 0, t = 0;
            for (; j + 3 <= nx; j += 3, t++) {
                const float *x[3] = {xc + j * KC, xc + (j + 1) * KC, xc + (j + 2) * KC};
                tile43(w, x, kl, ap + j * 8, nx, pf[t < 4 ? t : 0]);
            }
            for (; j < nx; j++, t++) {
                tile41(w, xc + j * KC, kl, ap + j * 8, nx, pf[t < 4 ? t : 0]);
            }
        }
    }
    for (int64_t m = m0; m < m1; m++) {
        const float *a = acc + ((m - m0) * nx) * 8;
        for (int64_t j = 0; j < nx; j++) {
            /* + 0.0f: the core adds its (here empty) tail, which turns -0 into +0 */
            float v = skim_cpu_hsum_avx(_mm256_loadu_ps(a + j * 8)) + 0.0f;
            float *y = mm->y + ycol[j] * mm->ldy + m;
            *y = mm->acc ? *y + v : v;
        }
    }
}
#endif /* SKIM_CPU_X86 */

size_t skim_cpu_mmk_scratch(int64_t k, int64_t n) {
#ifdef SKIM_CPU_X86
    /* the copy of x (k rounded up to whole chunks: matmul_k512.c's F32 chunks are 2 * KC
     * long), then the accumulators of a group; 16: alignment; an even count: the AVX-512
     * tiles (matmul_k512.c) copy x rows in pairs */
    n = n < GX ? n : GX;
    n += n & 1;
    return n > 0 ? (size_t)n * (size_t)(k + 2 * KC + GR * 8) + 16 : 0;
#else
    (void)k, (void)n;
    return 0;
#endif
}

bool skim_cpu_mmk_run(const skim_cpu_ctx *c, const skim_cpu_mm *mm, int64_t m0, int64_t m1,
                      const float *const *xrows, const int64_t *ycol, int64_t n_x) {
#ifdef SKIM_CPU_X86
    int64_t L = mm->k1 - mm->k0;
    bool q = mm->wt == SKIM_TYPE_Q8_0 || mm->wt == SKIM_TYPE_Q4_0;
    /* Q4_K and Q6_K with AVX-512 only (matmul_k512.c; a chunk is one super-block): these
     * AVX2 tiles were slower than the core's panels for them (4096 x 4096, 1 thread, the
     * tiles capped at AVX2: x9 Q4_K 5.1 -> 4.9 ms but Q6_K 5.5 -> 8.3, x16 8.2 -> 9.1
     * and 8.8 -> 10.9, x32 14.3 -> 15.1 and 15.0 -> 16.5) */
    bool kq = c->avx512 && (mm->wt == SKIM_TYPE_Q4_K || mm->wt == SKIM_TYPE_Q6_K);
    if (!c->avx2 || (mm->wt != SKIM_TYPE_F32 && mm->wt != SKIM_TYPE_F16 && !q && !kq) ||
        L < 8 || L % 8 != 0 || (q && (mm->k0 % SKIM_QK != 0 || L % SKIM_QK != 0)) ||
        (kq && (mm->k0 % SKIM_QK_K != 0 || L % SKIM_QK_K != 0))) {
        return false;
    }
    if (c->scratch_floats < skim_cpu_mmk_scratch(L, n_x)) {
        return false;
    }
    if (c->avx512) {
        return skim_cpu_mmk512_run(c, mm, m0, m1, xrows, ycol, n_x);
    }
    float wbuf[4 * KC];
    int64_t nxm = n_x < GX ? n_x : GX;
    float *xp = (float *)(void *)(((uintptr_t)c->scratch + 63) & ~(uintptr_t)63);
    float *acc = xp + (L + KC - 1) / KC * KC * nxm;
    for (int64_t i = 0; i < n_x; i += GX) {
        int64_t nx = n_x - i < GX ? n_x - i : GX;
        pack_x(xrows + i, nx, mm->k0, L, xp);
        int64_t gr = mm->wt == SKIM_TYPE_F32 ? GR : 16;
        for (int64_t m = m0; m < m1; m += gr) {
            group(c, mm, m, m1 - m < gr ? m1 : m + gr, xp, ycol + i, nx, acc, wbuf);
        }
    }
    return true;
#else
    (void)c, (void)mm, (void)m0, (void)m1, (void)xrows, (void)ycol, (void)n_x;
    return false;
#endif
}
