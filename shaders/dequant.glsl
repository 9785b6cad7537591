/* dequant.glsl - element k of row `row` of the weight at binding 1 (Au, A), by type:
 * W_F32, W_F16 (packed halves), W_Q8_0, W_Q4_0 (ggml's blocks, read as bytes so that no
 * 8- or 16-bit storage is needed). `base` is the row's start: elements (F32, F16) or bytes
 * (blocks). */
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
#endif
}
