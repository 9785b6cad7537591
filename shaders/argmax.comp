#version 450
/* argmax.comp - index of the largest value of each row of src0 (first on ties, NaN counts
 * as largest); dst I32 has one entry per row. One invocation per row; ne here is the
 * source's shape (neb) with dst's row count. */
#include "common.glsl"
layout(local_size_x = 64) in;

void main() {
    uvec4 n = skim_extent(); /* dst: [rows1, rows2, rows3, 1] */
    uint row = gl_GlobalInvocationID.x;
    if (row >= n.x * n.y * n.z) {
        return;
    }
    uvec4 i = skim_unflatten(row, uvec4(n.x, n.y, n.z, 1u));
    uint a0 = pc.off[1] + i.x * pc.nba[1] + i.y * pc.nba[2] + i.z * pc.nba[3];
    uint len = pc.neb[0];
    int best = 0;
    float bv = A[a0];
    for (uint k = 1u; k < len && !isnan(bv); k++) {
        float v = A[a0 + k];
        if (isnan(v) || v > bv) {
            bv = v;
            best = int(k);
        }
    }
    Di[pc.off[0] + row] = best;
}
