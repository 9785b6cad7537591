/* mul_mv_blocks.glsl - mul_mv.comp's Q8_0 and Q4_0 weights a block at a time: a block at
 * an even byte b (blocks are 34 or 18 bytes; rows whose start is odd take the per-element
 * path) is read as the aligned words holding its bytes, never a word holding none of them
 * (9 words for Q8_0, 5 for Q4_0): its scale from word 0, quant word j (the 4 bytes at
 * b + 2 + 4j) from words j and j + 1. The QA variants (mul_mv_qa.glsl) read blocks so too. */
#if defined(W_Q8_0)
#define MV_BLK_BYTES 34u
#define MV_BLK_WORDS 9u
#else
#define MV_BLK_BYTES 18u
#define MV_BLK_WORDS 5u
#endif

float skim_blk_scale(uint w0, uint b) {
    return unpackHalf2x16((b & 2u) == 0u ? w0 : w0 >> 16u).x;
}

int skim_blk_word(uint lo, uint hi, uint b) {
    return int((b & 2u) == 0u ? (lo >> 16u) | (hi << 16u) : hi);
}

/* The 4 signed bytes of a word as floats (low byte first). */
vec4 skim_i8x4(int q) {
    return vec4(ivec4(q << 24, q << 16, q << 8, q) >> 24);
}

/* acc[c] += block blk of the row at wrow times x's 32 values at xo + c * xs, c < ncol. */
void mv_block(inout float acc[4], uint wrow, uint blk, uint xo, uint xs, uint ncol) {
    uint b = wrow + blk * MV_BLK_BYTES, a = b >> 2u;
    uint w[MV_BLK_WORDS];
    [[unroll]] for (uint j = 0u; j < MV_BLK_WORDS; j++) w[j] = Au[a + j];
    float dw = skim_blk_scale(w[0], b);
    [[unroll]] for (uint c = 0u; c < 4u; c++) {
        if (c >= ncol) break;
        uint x0 = xo + c * xs;
        float s = 0.0;
#if defined(W_Q8_0)
        [[unroll]] for (uint j = 0u; j < 8u; j++) {
            vec4 q = skim_i8x4(skim_blk_word(w[j], w[j + 1u], b));
            uint xi = x0 + 4u * j;
            s += dot(q, vec4(B[xi], B[xi + 1u], B[xi + 2u], B[xi + 3u]));
        }
#else /* byte i: element i (low nibble) and i + 16 (high), values v - 8 */
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            uint word = uint(skim_blk_word(w[j], w[j + 1u], b));
            vec4 lo = vec4(uvec4(word, word >> 8u, word >> 16u, word >> 24u) & 15u) - 8.0;
            vec4 hi = vec4(uvec4(word >> 4u, word >> 12u, word >> 20u, word >> 28u) & 15u) - 8.0;
            uint xi = x0 + 4u * j;
            s += dot(lo, vec4(B[xi], B[xi + 1u], B[xi + 2u], B[xi + 3u])) +
                 dot(hi, vec4(B[xi + 16u], B[xi + 17u], B[xi + 18u], B[xi + 19u]));
        }
#endif
        acc[c] += dw * s;
    }
}
