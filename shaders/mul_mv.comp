#version 450
/* mul_mv.comp - mul_mat for a few columns (decode: N <= 4), on devices with subgroup
 * arithmetic: a workgroup makes 8 output rows; each subgroup takes rows
 * gl_SubgroupID, + gl_NumSubgroups ...; its lanes stride along k (neighbouring lanes read
 * neighbouring weights) and subgroupAdd sums them. Same bindings and push constants as
 * mul_mat.comp (op DENSE only, with its epilogue: E at binding 4 added per output row
 * (EPI_ROW) or element by element (EPI_FULL), then an activation); devices without
 * subgroup arithmetic use mul_mat.comp. */
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "dequant.glsl"
#define ROWS 8u
#define NC 4u
layout(local_size_x = 64) in;

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
    for (uint rr = gl_SubgroupID; rr < ROWS; rr += gl_NumSubgroups) {
        uint m = gl_WorkGroupID.x * ROWS + rr;
        if (m >= M) {
            break; /* uniform within the subgroup */
        }
        uint wrow = wb + m * pc.nba[1];
        float acc[NC] = float[NC](0.0, 0.0, 0.0, 0.0);
        for (uint k = gl_SubgroupInvocationID; k < K; k += gl_SubgroupSize) {
            float w = skim_load_w(wrow, k);
            [[unroll]] for (uint c = 0u; c < NC; c++) {
                if (c < ncol) acc[c] += w * B[xb + (n0 + c) * pc.nbb[1] + k];
            }
        }
        [[unroll]] for (uint c = 0u; c < NC; c++) {
            float s = subgroupAdd(acc[c]);
            if (subgroupElect() && c < ncol) {
                uint e = m + (n0 + c) * pc.nbd[1] + b2 * pc.nbd[2] + b3 * pc.nbd[3];
                if ((pc.op & SKIM_VK_EPI_ROW) != 0u) s += E[m];
                if ((pc.op & SKIM_VK_EPI_FULL) != 0u) s += E[e];
                D[pc.off[0] + e] = skim_epi_act(s, pc.op);
            }
        }
    }
}
