/* reduce.glsl - workgroup sum and max for the one-workgroup-per-row shaders (norm,
 * soft_max). The workgroup size is specialization constant 0 (SKIM_VK_SPEC_WG_ROWS, a
 * power of two from 32 to 1024 that the backend picks per device; 128 unless told). With
 * SUBGROUP defined (devices with subgroup arithmetic): subgroup reductions, then one
 * shared-memory step over the subgroups' partial results (one barrier pair instead of
 * log2(size)). Without: a shared-memory tree. Every invocation gets the result. */
layout(constant_id = 0) const uint SKIM_WG_ROWS = 128u;
layout(local_size_x_id = 0) in;
shared float skim_red[SKIM_WG_ROWS];

float skim_wg_reduce(float v, bool is_max) {
    uint t = gl_LocalInvocationID.x;
#ifdef SUBGROUP
    float s = is_max ? subgroupMax(v) : subgroupAdd(v);
    if (subgroupElect()) skim_red[gl_SubgroupID] = s;
    barrier();
    float r = skim_red[0];
    for (uint i = 1u; i < gl_NumSubgroups; i++) {
        r = is_max ? max(r, skim_red[i]) : r + skim_red[i];
    }
    barrier();
    return r;
#else
    skim_red[t] = v;
    barrier();
    for (uint s = SKIM_WG_ROWS / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            skim_red[t] = is_max ? max(skim_red[t], skim_red[t + s]) : skim_red[t] + skim_red[t + s];
        }
        barrier();
    }
    float r = skim_red[0];
    barrier();
    return r;
#endif
}
