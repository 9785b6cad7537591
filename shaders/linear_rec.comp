#version 450
/* linear_rec.comp - x, a, b [C, T] (src0..2; their rows nba[1], nbb[1], neb[1] apart),
 * h [C] (src3, when i[0] != 0; zeros otherwise; bound at offset 0). One invocation per
 * channel walks the tokens in order: h = a * h + b * x, written to row t of dst. */
#include "common.glsl"
layout(local_size_x = 64) in;

void main() {
    uint c = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 64u;
    if (c >= pc.ne[0]) {
        return;
    }
    float h = pc.i[0] != 0 ? E[c] : 0.0;
    for (uint t = 0u; t < pc.ne[1]; t++) {
        float x = A[pc.off[1] + t * pc.nba[1] + c];
        float a = B[pc.off[2] + t * pc.nbb[1] + c];
        float b = C[pc.off[3] + t * pc.neb[1] + c];
        h = a * h + b * x;
        D[pc.off[0] + t * pc.nbd[1] + c] = h;
    }
}
