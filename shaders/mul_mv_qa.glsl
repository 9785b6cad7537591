/* mul_mv_qa.glsl - mul_mv.comp's QA variants: a Q8_0 or Q4_0 weight row against one x
 * column rounded to 8 bits per block of 32, as include/skim-backend.h states
 * SKIM_PLAN_QUANTIZED_ACTIVATIONS and the CPU backend computes it (backends/cpu/
 * matvec_q8.c): d = max|x| / 127 (a float), q = rint(x * (1 / d)) to nearest even; a
 * block's 32 products summed in integers (exact), then (dw * d) * sum added in float; a
 * block holding an infinity or a NaN adds NaN. Each lane takes whole blocks (lane,
 * lane + gl_SubgroupSize, ...); the float sum's order is the lanes' then subgroupAdd's,
 * not the CPU's (results differ by float rounding only).
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

/* The 4 bytes at byte address a of the weights, as one word (a need not be aligned). */
int skim_word_at(uint a) {
    uint i = a >> 2u, s = (a & 3u) * 8u;
    uint lo = Au[i];
    return int(s == 0u ? lo : (lo >> s) | (Au[i + 1u] << (32u - s)));
}

/* This lane's share of the row's sum: its blocks' terms. */
float skim_qa_partial(uint wrow, uint xo, uint K) {
    float acc = 0.0;
    uint nb = K >> 5u;
    for (uint blk = gl_SubgroupInvocationID; blk < nb; blk += gl_SubgroupSize) {
        uint x0 = xo + blk * 32u;
        float amax = 0.0;
        bool bad = false;
        for (uint i = 0u; i < 32u; i++) {
            float a = abs(B[x0 + i]);
            bad = bad || !(a <= 3.40282347e38);
            amax = max(amax, a);
        }
        float d = amax / 127.0;
        float id = d > 0.0 ? 1.0 / d : 0.0;
        int qw[8];
        int qsum = 0;
        [[unroll]] for (uint j = 0u; j < 8u; j++) {
            int word = 0;
            [[unroll]] for (uint e = 0u; e < 4u; e++) {
                int q = bad ? 0 : int(roundEven(B[x0 + 4u * j + e] * id));
                qsum += q;
                word |= (q & 255) << (8u * e);
            }
            qw[j] = word;
        }
        int s = 0;
#if defined(W_Q8_0)
        uint b = wrow + blk * 34u;
        [[unroll]] for (uint j = 0u; j < 8u; j++) {
            s += skim_dot4(skim_word_at(b + 2u + 4u * j), qw[j]);
        }
#else /* W_Q4_0: byte i holds element i (low nibble) and i + 16 (high); values v - 8 */
        uint b = wrow + blk * 18u;
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            int word = skim_word_at(b + 2u + 4u * j);
            s += skim_dot4(word & 0x0f0f0f0f, qw[j]) + skim_dot4((word >> 4) & 0x0f0f0f0f, qw[j + 4u]);
        }
        s -= 8 * qsum;
#endif
        float scale = skim_half_at(b) * d;
        acc += bad ? uintBitsToFloat(0x7fc00000u) : float(s) * scale;
    }
    return acc;
}
