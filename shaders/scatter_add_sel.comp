#version 450
/* scatter_add_sel.comp - out = x, and out[sel[i]] += y[i]: each output element finds its
 * row in the ascending list by binary search; unlisted rows are copied bit-exactly.
 * x (binding 1), y (binding 2), sel words (binding 3), i[0] = elements per row,
 * i[1] = rows. */
#include "common.glsl"
layout(local_size_x = 256) in;

void main() {
    uint len = uint(pc.i[0]), rows = uint(pc.i[1]);
    uint e = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
    if (e >= len * rows) {
        return;
    }
    uint r = e / len, k = e % len;
    uint s0 = pc.off[3];
    int lo = 0, hi = min(Ci[s0], int(rows)) - 1, at = -1;
    while (lo <= hi) {
        int mid = (lo + hi) >> 1;
        int v = Ci[s0 + 1u + uint(mid)];
        if (v == int(r)) { at = mid; break; }
        if (v < int(r)) lo = mid + 1; else hi = mid - 1;
    }
    uint xi = pc.off[1] + e;
    if (at < 0) {
        Du[pc.off[0] + e] = Au[xi];
    } else {
        D[pc.off[0] + e] = A[xi] + B[pc.off[2] + uint(at) * len + k];
    }
}
