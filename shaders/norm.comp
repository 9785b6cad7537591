#version 450
/* norm.comp - rms_norm and layer_norm over ne[0]: one workgroup per row; reductions in
 * reduce.glsl (subgroup variant with -DSUBGROUP). With SKIM_VK_EPI_ROW in op (a fused
 * norm and mul), each output is multiplied by element i0 of the vector at binding 2. */
#include "common.glsl"
#include "reduce.glsl" /* the workgroup: SKIM_WG_ROWS invocations */

void main() {
    uvec4 n = skim_extent();
    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * 65535u;
    if (row >= n.y * n.z * n.w) {
        return;
    }
    uvec4 i = skim_unflatten(row * n.x, n);
    uint a0 = pc.off[1] + skim_dot_strides(i, 1u, pc.nba[1], pc.nba[2], pc.nba[3]);
    uint d0 = pc.off[0] + skim_dot_strides(i, 1u, pc.nbd[1], pc.nbd[2], pc.nbd[3]);
    uint t = gl_LocalInvocationID.x;
    float mean = 0.0;
    if ((pc.op & 0xffu) == SKIM_VK_OP_LAYER_NORM) {
        /* Summed as offsets from the row's first value: a constant row has a mean of exactly
         * that value (and outputs of exactly 0, as the CPU's double sums give), and rows far
         * from 0 lose less to cancellation. */
        float x0 = A[a0];
        float s = 0.0;
        for (uint k = t; k < n.x; k += SKIM_WG_ROWS) {
            s += A[a0 + k] - x0;
        }
        mean = x0 + skim_wg_reduce(s, false) / float(n.x);
    }
    float s2 = 0.0;
    for (uint k = t; k < n.x; k += SKIM_WG_ROWS) {
        float v = A[a0 + k] - mean;
        s2 += v * v;
    }
    float sc = 1.0 / sqrt(skim_wg_reduce(s2, false) / float(n.x) + pc.f[0]);
    bool wmul = (pc.op & SKIM_VK_EPI_ROW) != 0u;
    for (uint k = t; k < n.x; k += SKIM_WG_ROWS) {
        float v = (A[a0 + k] - mean) * sc;
        D[d0 + k] = wmul ? v * B[pc.off[2] + k] : v;
    }
}
