#version 450
/* mul_mv.comp - mul_mat for a few columns (decode: N <= 4), on devices with subgroup
 * arithmetic: a workgroup makes 8 output rows; each subgroup takes rows
 * gl_SubgroupID, + gl_NumSubgroups ...; its lanes stride along k (neighbouring lanes read
 * neighbouring weights) and subgroupAdd sums them. Same bindings and push constants as
 * mul_mat.comp (op DENSE only, with its epilogue: E at binding 4 added per output row
 * (EPI_ROW) or element by element (EPI_FULL), then an activation); devices without
 * subgroup arithmetic use mul_mat.comp. Variants for devices with optional features
 * (backends/vulkan/vk_pipeline.c picks them; each computes in f32 like the plain one):
 *   S16 (W_F16): the weights read through 16-bit storage (storageBuffer16BitAccess), 4
 *       at a time as f16vec4 where the row starts at a multiple of 4 halves, else as
 *       float16_t; not as halves of 32-bit words. The sum's order differs from the plain
 *       variant's (each lane 4 neighbouring k at a time): other float rounding.
 *   QA (W_Q8_0, W_Q4_0; one column): SKIM_PLAN_QUANTIZED_ACTIVATIONS (mul_mv_qa.glsl),
 *       with DOT its block sums by integer dot products (shaderIntegerDotProduct). */
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#if defined(S16)
#extension GL_EXT_shader_16bit_storage : require
#endif
#include "common.glsl"
#include "dequant.glsl"
#if defined(S16)
layout(std430, set = 0, binding = 1) readonly buffer A16_blk { float16_t A16[]; };
layout(std430, set = 0, binding = 1) readonly buffer A16v_blk { f16vec4 A16v[]; };
#endif
#if defined(W_Q8_0) || defined(W_Q4_0)
#include "mul_mv_blocks.glsl"
#endif
#if defined(QA)
#include "mul_mv_qa.glsl"
#endif
#define ROWS 8u
#define NC 4u
layout(local_size_x = 64) in;

/* Element k of the weight row starting at wrow (elements for F16, bytes for blocks). */
float mv_w(uint wrow, uint k) {
#if defined(S16)
    return float(A16[wrow + k]);
#else
    return skim_load_w(wrow, k);
#endif
}

/* Output row m of column c (of batch b2, b3): the epilogue, then the store. */
void mv_store(float s, uint m, uint c, uint b2, uint b3) {
    uint e = m + c * pc.nbd[1] + b2 * pc.nbd[2] + b3 * pc.nbd[3];
    if ((pc.op & SKIM_VK_EPI_ROW) != 0u) s += E[m];
    if ((pc.op & SKIM_VK_EPI_FULL) != 0u) s += E[e];
    D[pc.off[0] + e] = skim_epi_act(s, pc.op);
}

void main() {
    uvec4 n = skim_extent();
    uint M = pc.ne[0];
    uint n0 = gl_WorkGroupID.y * NC, bz = gl_WorkGroupID.z;
    uint ncol = min(NC, n.y - n0);
    uint b2 = bz % n.z, b3 = bz / n.z;
    uint r2 = uint(pc.i[3]) & 0xffffu, r3 = uint(pc.i[3]) >> 16u;
    uint wb = pc.off[1] + (b2 / r2) * pc.nba[2] + (b3 / r3) * pc.nba[3];
    uint xb = pc.off[2] + b2 * pc.nbb[2] + b3 * pc.nbb[3];
    uint K = pc.neb[0];
#if defined(QA)
    /* One column (the host's condition); this subgroup's rows gl_SubgroupID + j *
     * gl_NumSubgroups, summed over x's blocks a chunk at a time. */
    float acc[ROWS];
    [[unroll]] for (uint j = 0u; j < ROWS; j++) acc[j] = 0.0;
    uint nb = K >> 5u, m0 = gl_WorkGroupID.x * ROWS;
    for (uint c0 = 0u; c0 < nb; c0 += QA_CHUNK) {
        uint cn = min(QA_CHUNK, nb - c0);
        barrier(); /* the last chunk's reads are done */
        if (gl_LocalInvocationIndex < cn) {
            skim_qa_quantize(xb + n0 * pc.nbb[1] + (c0 + gl_LocalInvocationIndex) * 32u,
                             gl_LocalInvocationIndex);
        }
        barrier();
        [[unroll]] for (uint j = 0u; j < ROWS; j++) {
            uint rr = gl_SubgroupID + j * gl_NumSubgroups;
            if (rr < ROWS && m0 + rr < M) { /* uniform within the subgroup */
                acc[j] += skim_qa_partial(wb + (m0 + rr) * pc.nba[1], c0, cn);
            }
        }
    }
    [[unroll]] for (uint j = 0u; j < ROWS; j++) {
        uint rr = gl_SubgroupID + j * gl_NumSubgroups;
        if (rr < ROWS && m0 + rr < M) {
            float s = subgroupAdd(acc[j]);
            if (subgroupElect()) mv_store(s, m0 + rr, n0, b2, b3);
        }
    }
#else
    for (uint rr = gl_SubgroupID; rr < ROWS; rr += gl_NumSubgroups) {
        uint m = gl_WorkGroupID.x * ROWS + rr;
        if (m >= M) {
            break; /* uniform within the subgroup */
        }
        uint wrow = wb + m * pc.nba[1];
        float acc[NC] = float[NC](0.0, 0.0, 0.0, 0.0);
        uint k0 = 0u;
#if defined(S16)
        /* Rows starting at a multiple of 4 halves: 4 weights per load (f16vec4). */
        if ((wrow & 3u) == 0u) { /* uniform within the subgroup */
            uint w4 = wrow >> 2u;
            for (uint k4 = gl_SubgroupInvocationID; k4 < (K >> 2u); k4 += gl_SubgroupSize) {
                vec4 w = vec4(A16v[w4 + k4]);
                [[unroll]] for (uint c = 0u; c < NC; c++) {
                    uint xo = xb + (n0 + c) * pc.nbb[1] + 4u * k4;
                    if (c < ncol) {
                        acc[c] += w.x * B[xo] + w.y * B[xo + 1u] + w.z * B[xo + 2u] + w.w * B[xo + 3u];
                    }
                }
            }
            k0 = K & ~3u;
        }
#elif defined(W_Q8_0) || defined(W_Q4_0)
        if ((wrow & 1u) == 0u) { /* uniform within the subgroup */
            for (uint blk = gl_SubgroupInvocationID; blk < (K >> 5u); blk += gl_SubgroupSize) {
                mv_block(acc, wrow, blk, xb + n0 * pc.nbb[1] + 32u * blk, pc.nbb[1], ncol);
            }
            k0 = K;
        }
#endif
        for (uint k = k0 + gl_SubgroupInvocationID; k < K; k += gl_SubgroupSize) {
            float w = mv_w(wrow, k);
            [[unroll]] for (uint c = 0u; c < NC; c++) {
                if (c < ncol) acc[c] += w * B[xb + (n0 + c) * pc.nbb[1] + k];
            }
        }
        [[unroll]] for (uint c = 0u; c < NC; c++) {
            float s = subgroupAdd(acc[c]);
            if (subgroupElect() && c < ncol) mv_store(s, m, n0 + c, b2, b3);
        }
    }
#endif
}
