#version 450
/* causal_conv.comp - x [C, T] (src0, rows nba[1] apart), w [K, C] (src1), state [C, K-1]
 * (src2, when i[1] != 0; zeros otherwise). i[0] = K, i[2] = T. One invocation per
 * element of dst [C, T + K - 1]: a row t < T sums its K taps in order (as the CPU does),
 * a later row copies row t of xs, the state rows followed by x's rows. */
#include "common.glsl"
layout(local_size_x = 256) in;

float xs(uint c, uint r, uint km1) {
    if (r >= km1) {
        return A[pc.off[1] + (r - km1) * pc.nba[1] + c];
    }
    return pc.i[1] != 0 ? C[pc.off[3] + r * pc.ne[0] + c] : 0.0;
}

void main() {
    uint e = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
    uint ch = pc.ne[0];
    if (e >= ch * pc.ne[1]) {
        return;
    }
    uint c = e % ch, r = e / ch, k = uint(pc.i[0]), km1 = k - 1u;
    float v;
    if (r >= uint(pc.i[2])) {
        v = xs(c, r, km1);
    } else {
        v = 0.0;
        for (uint j = 0u; j < k; j++) {
            v += B[pc.off[2] + c * k + j] * xs(c, r + j, km1);
        }
    }
    D[pc.off[0] + r * pc.nbd[1] + c] = v;
}
