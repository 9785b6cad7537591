/* mul_mv_qa.glsl - mul_mv.comp's QA variants: a Q8_0 or Q4_0 weight row against one x
 * column rounded to 8 bits per block of 32, as include/skim-backend.h states
 * SKIM_PLAN_QUANTIZED_ACTIVATIONS and the CPU backend computes it (backends/cpu/
 * matvec_q8.c): d = max|x| / 127 (a float), q = rint(x * (1 / d)) to nearest even; a
 * block's 32 products summed in integers (exact), then (dw * d) * sum added in float; a
 * block holding an infinity or a NaN adds NaN. The workgroup quantises x a chunk of
 * blocks at a time into shared memory; each subgroup's lanes take whole blocks of it
 * (lane, lane + gl_SubgroupSize, ...) for each of its rows; the float sum's order is the
 * lanes' then subgroupAdd's, not the CPU's (results differ by float rounding only).
 * DOT: four int8 products at a time by OpSDot (SPV_KHR_integer_dot_product, core in
 * Vulkan 1.3; glslang 12 has no GLSL built-in for it, hence GL_EXT_spirv_intrinsics);
 * without it the same sums in plain integer arithmetic. */
#if defined(DOT)
#extension GL_EXT_spirv_intrinsics : require
/* OpSDot (4450) with PackedVectorFormat4x8Bit (0); capabilities DotProduct (6019),
 * DotProductInput4x8BitPacked (6018). */
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018],
                  id = 4450)
int skim_sdot_4x8(int a, int b, spirv_literal int packed_format);
int skim_dot4(int a, int b) {
    return skim_sdot_4x8(a, b, 0);
}
#else
int skim_dot4(int a, int b) {
    ivec4 x = ivec4(a << 24, a << 16, a << 8, a) >> 24;
    ivec4 y = ivec4(b << 24, b << 16, b << 8, b) >> 24;
    return x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
}
#endif

/* x blocks quantised per step into shared memory, one per invocation (mul_mv.comp's 64),
 * then read by every row of the workgroup: each block's 8 words of int8, its d (NaN when
 * not finite) and the sum of its 32 values. */
#define QA_CHUNK 64u
shared int qa_q[QA_CHUNK * 8u];
shared float qa_d[QA_CHUNK];
shared int qa_sum[QA_CHUNK];

/* x block at x0 into slot i. */
void skim_qa_quantize(uint x0, uint i) {
    float amax = 0.0;
    bool bad = false;
    for (uint e = 0u; e < 32u; e++) {
        float a = abs(B[x0 + e]);
        bad = bad || !(a <= 3.40282347e38);
        amax = max(amax, a);
    }
    float d = amax / 127.0;
    float id = d > 0.0 ? 1.0 / d : 0.0;
    int qsum = 0;
    [[unroll]] for (uint j = 0u; j < 8u; j++) {
        int word = 0;
        [[unroll]] for (uint e = 0u; e < 4u; e++) {
            int q = bad ? 0 : int(roundEven(B[x0 + 4u * j + e] * id));
            qsum += q;
            word |= (q & 255) << (8u * e);
        }
        qa_q[8u * i + j] = word;
    }
    qa_d[i] = bad ? uintBitsToFloat(0x7fc00000u) : d;
    qa_sum[i] = qsum;
}

/* This lane's share of a row's sum over the chunk's blocks c0 .. c0 + cn - 1. */
float skim_qa_partial(uint wrow, uint c0, uint cn) {
    float acc = 0.0;
    for (uint i = gl_SubgroupInvocationID; i < cn; i += gl_SubgroupSize) {
        int s = 0;
#if defined(W_Q8_0)
        uint b = wrow + (c0 + i) * 34u, a = b >> 2u;
        uint w[9]; /* mul_mv_blocks.glsl: the words holding the block */
        [[unroll]] for (uint j = 0u; j < 9u; j++) w[j] = Au[a + j];
        [[unroll]] for (uint j = 0u; j < 8u; j++) {
            s += skim_dot4(skim_blk_word(w[j], w[j + 1u], b), qa_q[8u * i + j]);
        }
#else /* W_Q4_0: byte i holds element i (low nibble) and i + 16 (high); values v - 8 */
        uint b = wrow + (c0 + i) * 18u, a = b >> 2u;
        uint w[5];
        [[unroll]] for (uint j = 0u; j < 5u; j++) w[j] = Au[a + j];
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            int word = skim_blk_word(w[j], w[j + 1u], b);
            s += skim_dot4(word & 0x0f0f0f0f, qa_q[8u * i + j]) +
                 skim_dot4((word >> 4) & 0x0f0f0f0f, qa_q[8u * i + j + 4u]);
        }
        s -= 8 * qa_sum[i];
#endif
        acc += float(s) * (skim_blk_scale(w[0], b) * qa_d[i]);
    }
    return acc;
}
