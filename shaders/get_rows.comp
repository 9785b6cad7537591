#version 450
/* get_rows.comp - dst[:, r] = w[:, idx[r]] as F32; w at binding 1 (type by define), idx
 * I32 at binding 2. nba[1] = w's row stride (elements, bytes for blocks). An index out of
 * range (0 .. i[2]) gives a zero row. A w past maxStorageBufferRange runs in pieces
 * (vk_split.c): binding 1 holds rows i[1] .. i[1] + i[0] of it, and a piece leaves the
 * rows of other pieces alone. Unsplit: i[0] = i[2] = w's rows, i[1] = 0. */
#include "common.glsl"
#include "dequant.glsl"
layout(local_size_x = 256) in;

void main() {
    uvec4 n = skim_extent();
    uint e = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
    if (e >= n.x * n.y) {
        return;
    }
    uint k = e % n.x, r = e / n.x;
    int idx = Bi[pc.off[2] + r];
    int row = idx - pc.i[1];
    float v = 0.0;
    if (row >= 0 && row < pc.i[0]) {
        v = skim_load_w(pc.off[1] + uint(row) * pc.nba[1], k);
    } else if (idx >= 0 && idx < pc.i[2]) {
        return; /* another piece's row */
    }
    D[pc.off[0] + r * pc.nbd[1] + k] = v;
}
