#version 450
/* indirect.comp - after selection i[1] is produced, writes the VkDispatchIndirectCommand of
 * every dispatch that consumes it. Entry e of the table (binding 1, 8 words from off[1]):
 * sel slot, mul, div, dim, x, y, z, unused. Its command (binding 0, 3 words from off[0] +
 * 3e) is (x, y, z) with dimension dim replaced by ceil(count * mul / div), count being word
 * 0 of the selection (binding 2). A count of zero launches nothing. i[0] = entries.
 * The selection producers (select.comp) write their consumers' commands themselves; this
 * is for any other selection. */
#include "common.glsl"
layout(local_size_x = 64) in;

void main() {
    uint e = gl_GlobalInvocationID.x;
    if (e >= uint(pc.i[0])) {
        return;
    }
    uint b = pc.off[1] + e * 8u;
    if (int(Au[b]) != pc.i[1]) {
        return;
    }
    uint count = uint(max(Bi[pc.off[2]], 0));
    uvec3 g = skim_indirect_grid(count, Au[b + 1u], Au[b + 2u], Au[b + 3u],
                                 uvec3(Au[b + 4u], Au[b + 5u], Au[b + 6u]));
    uint d = pc.off[0] + e * 3u;
    Du[d] = g.x;
    Du[d + 1u] = g.y;
    Du[d + 2u] = g.z;
}
