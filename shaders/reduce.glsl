/* reduce.glsl - workgroup sum and max for a workgroup of 128 invocations. With SUBGROUP
 * defined (devices with subgroup arithmetic): subgroup reductions, then one shared-memory
 * step over the subgroups' partial results (one barrier pair instead of seven). Without:
 * a shared-memory tree. Every invocation gets the result. */
shared float skim_red[128];

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
    [[unroll]] for (uint s = 64u; s > 0u; s >>= 1u) {
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
