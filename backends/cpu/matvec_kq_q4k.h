/* matvec_kq_q4k.h - the Q4_K tiles of matvec_kq.c, included there once per instruction set:
 * KQ_TGT is the target attribute, KQ_SFX the names' suffix, KQ_DP4(v, x) the int32 lanes
 * whose lane i is the sum of the 4 products of unsigned bytes 4i .. 4i + 3 of v and signed
 * bytes of x (maddubs then madd with AVX2, vpdpbusd with VNNI: the same integers, as no
 * 16-bit pair sum saturates: 2 * 15 * 127 < 32767). Nothing here rounds but the float
 * steps matvec_kq.c states, so both inclusions give the same bits. */

#define KQ_CAT2(a, b) a##b
#define KQ_CAT(a, b) KQ_CAT2(a, b)
#define KQ(name) KQ_CAT(name, KQ_SFX)

/* One block (32 values: nibbles e of qs bytes o ..) of 4 w rows against one x block: the
 * 128-bit halves hold the 4 rows' sums over values 0-15 and 16-31. */
KQ_TGT INL __m256i KQ(q4k_quad)(const __m256i v[4], __m256i xq) {
    __m256i p0 = KQ_DP4(v[0], xq), p1 = KQ_DP4(v[1], xq);
    __m256i p2 = KQ_DP4(v[2], xq), p3 = KQ_DP4(v[3], xq);
    return _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
}

/* 8 w rows against J x rows over nsb super-blocks: per x block b (sub-block jj = b mod 8 of
 * super-block b / 8), a[j] += (A_jj * dx_b) * isum and m[j] += (M_jj * dx_b) * xsum_b with
 * fused multiply-adds (lane r: w row r); out[j] = a[j] - m[j]. Each w row's nibbles are
 * unpacked once for the J x rows. */
KQ_TGT INL void KQ(q4k_core)(int J, const uint8_t *const w[8], const xq_row *x, int64_t nsb,
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
            __m256i u0[4];
            for (int h = 0; h < 2; h++) {
                __m256i v[4];
                for (int r = 0; r < 4; r++) {
                    __m256i q = ld256(w[4 * h + r] + o + 16 + 32 * (jj >> 1));
                    v[r] = _mm256_and_si256(jj & 1 ? _mm256_srli_epi16(q, 4) : q, lo4);
                }
                for (int j = 0; j < J; j++) {
                    __m256i u = KQ(q4k_quad)(v, ld256((const uint8_t *)(x[j].q + QB * b)));
                    if (h == 0) {
                        u0[j] = u;
                        continue;
                    }
                    __m256i is = _mm256_add_epi32(_mm256_permute2x128_si256(u0[j], u, 0x20),
                                                  _mm256_permute2x128_si256(u0[j], u, 0x31));
                    __m256 dx = _mm256_set1_ps(x[j].d[b]);
                    a[j] = _mm256_fmadd_ps(_mm256_mul_ps(A[jj], dx), _mm256_cvtepi32_ps(is), a[j]);
                    m[j] = _mm256_fmadd_ps(_mm256_mul_ps(M[jj], dx),
                                           _mm256_set1_ps((float)x[j].s[b]), m[j]);
                }
            }
        }
    }
    for (int j = 0; j < J; j++) {
        _mm256_storeu_ps(out[j], _mm256_sub_ps(a[j], m[j]));
    }
}

#define KQ_TILE(J)                                                                         \
    KQ_TGT static void KQ(KQ_CAT(q4k_x, J))(const uint8_t *const w[8], const xq_row *x,     \
                                            int64_t nsb, float (*out)[8]) {                 \
        KQ(q4k_core)(J, w, x, nsb, out);                                                    \
    }
KQ_TILE(1)
KQ_TILE(2)
KQ_TILE(3)
KQ_TILE(4)
#undef KQ_TILE
#undef KQ
#undef KQ_CAT
#undef KQ_CAT2
