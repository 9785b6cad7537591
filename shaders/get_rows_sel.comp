#version 450
/* get_rows_sel.comp - dst row i = x row sel[i] for i < count (32-bit copy, F32 or I32);
 * x contiguous (binding 1), sel words (binding 2), i[0] = elements per row (product of
 * all dimensions but the outermost). */
#include "common.glsl"
layout(local_size_x = 256) in;

void main() {
    uint len = uint(pc.i[0]);
    uint count = uint(max(Bi[pc.off[2]], 0));
    uint e = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
    if (e >= len * count) {
        return;
    }
    uint r = e / len, k = e % len;
    uint src = uint(Bi[pc.off[2] + 1u + r]);
    Du[pc.off[0] + e] = Au[pc.off[1] + src * len + k];
}
