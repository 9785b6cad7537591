#version 450
/* eltwise.comp - add, mul (b broadcasts), swiglu, scale, silu, gelu, sigmoid.
 * One invocation per output element; a and b have contiguous rows but any row strides. */
#include "common.glsl"
layout(local_size_x = 256) in;

void main() {
    uvec4 n = skim_extent();
    uint e = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
    if (e >= n.x * n.y * n.z * n.w) {
        return;
    }
    uvec4 i = skim_unflatten(e, n);
    float a = A[pc.off[1] + skim_dot_strides(i, 1u, pc.nba[1], pc.nba[2], pc.nba[3])];
    float r;
    uint op = pc.op;
    if (op == SKIM_VK_OP_ADD || op == SKIM_VK_OP_MUL || op == SKIM_VK_OP_SWIGLU) {
        uvec4 j = i % uvec4(pc.neb[0], pc.neb[1], pc.neb[2], pc.neb[3]);
        float b = B[pc.off[2] + skim_dot_strides(j, 1u, pc.nbb[1], pc.nbb[2], pc.nbb[3])];
        r = op == SKIM_VK_OP_ADD ? a + b : (op == SKIM_VK_OP_MUL ? a * b : a / (1.0 + exp(-a)) * b);
    } else if (op == SKIM_VK_OP_SCALE) {
        r = a * pc.f[0];
    } else {
        r = skim_epi_act(a, op == SKIM_VK_OP_SILU ? SKIM_VK_EPI_SILU
                         : op == SKIM_VK_OP_GELU ? SKIM_VK_EPI_GELU : SKIM_VK_EPI_SIGMOID);
    }
    D[pc.off[0] + skim_dot_strides(i, 1u, pc.nbd[1], pc.nbd[2], pc.nbd[3])] = r;
}
