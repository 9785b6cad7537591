/* dequant.glsl - element k of row `row` of the weight at binding 1 (Au, A), by type:
 * W_F32, W_F16 and W_BF16 (packed halves), W_Q8_0, W_Q4_0, W_Q4_K, W_Q6_K (ggml's blocks,
 * read as bytes so that no 8- or 16-bit storage is needed). `base` is the row's start:
 * elements (F32, F16, BF16) or bytes (blocks). */
float skim_half_at(uint a) {
    uint lo = SKIM_BYTE(Au, a), hi = SKIM_BYTE(Au, a + 1u);
    return unpackHalf2x16(lo | (hi << 8u)).x;
}

float skim_load_w(uint base, uint k) {
#if defined(W_F32)
    return A[base + k];
#elif defined(W_F16)
    return SKIM_LOAD_F16(Au, base + k);
#elif defined(W_Q8_0)
    uint b = base + (k >> 5u) * 34u;
    uint q = SKIM_BYTE(Au, b + 2u + (k & 31u));
    return skim_half_at(b) * float(int(q << 24u) >> 24);
#elif defined(W_Q4_0)
    uint b = base + (k >> 5u) * 18u;
    uint j = k & 31u;
    uint q = SKIM_BYTE(Au, b + 2u + (j & 15u));
    q = j < 16u ? (q & 15u) : (q >> 4u);
    return skim_half_at(b) * (float(q) - 8.0);
#elif defined(W_BF16)
    uint h = (Au[(base + k) >> 1u] >> (((base + k) & 1u) * 16u)) & 0xffffu;
    return uintBitsToFloat(h << 16u);
#elif defined(W_Q4_K)
    /* d, dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles (include/skim.h) */
    uint b = base + (k >> 8u) * 144u, i = k & 255u, j = i >> 5u, s = b + 4u;
    uint sc, m;
    if (j < 4u) {
        sc = SKIM_BYTE(Au, s + j) & 63u;
        m = SKIM_BYTE(Au, s + j + 4u) & 63u;
    } else {
        uint e = SKIM_BYTE(Au, s + j + 4u);
        sc = (e & 15u) | ((SKIM_BYTE(Au, s + j - 4u) >> 6u) << 4u);
        m = (e >> 4u) | ((SKIM_BYTE(Au, s + j) >> 6u) << 4u);
    }
    uint q = SKIM_BYTE(Au, b + 16u + (i >> 6u) * 32u + (i & 31u));
    q = (j & 1u) == 0u ? (q & 15u) : (q >> 4u);
    return skim_half_at(b) * float(sc) * float(q) - skim_half_at(b + 2u) * float(m);
#elif defined(W_Q6_K)
    /* 128 bytes of low nibbles, 64 of high bit pairs, 16 int8 scales, d (include/skim.h) */
    uint b = base + (k >> 8u) * 210u, i = k & 255u;
    uint h = i >> 7u, g = (i >> 5u) & 3u, l = i & 31u;
    uint lo = SKIM_BYTE(Au, b + 64u * h + 32u * (g & 1u) + l);
    lo = g < 2u ? (lo & 15u) : (lo >> 4u);
    uint hi = (SKIM_BYTE(Au, b + 128u + 32u * h + l) >> (2u * g)) & 3u;
    int sc = int(SKIM_BYTE(Au, b + 192u + 8u * h + 2u * g + (l >> 4u)) << 24u) >> 24;
    return skim_half_at(b + 208u) * float(sc) * float(int(lo | (hi << 4u)) - 32);
#endif
}
