/* vk_guard.c - guard bytes (skim_vulkan_desc.guard_bytes, or SKIM_VK_GUARD=1; the tests
 * turn them on): every tensor of a plan gets its own place in its buffer (no arena
 * reuse) with at least SKIM_VK_GUARD bytes of a known word after it, and one guard region
 * at the start of each buffer. After every run the guards are read back and compared: a
 * shader that writes past the (word-rounded) end of its output, or anywhere between
 * tensors, fails the run with STATE and a message naming the tensor the write followed.
 * SKIM_VK_GUARD=stray also records a 4-byte fill into the first arena guard at the end of
 * the command buffer: the check's own test (it must then fail). */
#include "vk-int.h"

#include <string.h>

#define SKIM_VK_GUARD 256u /* a multiple of SKIM_ALIGN */
#define SKIM_VK_GUARD_WORD 0xA5C3E1F0u
/* Without guard bytes the arena gives each tensor its own range when that costs at most
 * this much device memory over graph/'s liveness plan (decode graphs: kilobytes to a few
 * MiB): a range used twice orders the two tensors' dispatches (a barrier between them),
 * a range of its own does not. SKIM_VK_ARENA=reuse takes the liveness plan always. */
#define SKIM_VK_SPREAD_MAX ((VkDeviceSize)16 << 20)

static VkDeviceSize align_up(VkDeviceSize v) {
    return (v + SKIM_ALIGN - 1) / SKIM_ALIGN * SKIM_ALIGN;
}

/* The end of a tensor's bytes as shaders may write them (whole words). */
static VkDeviceSize word_end(VkDeviceSize off, const skim_tensor *t) {
    return off + ((skim_tensor_nbytes(t) + 3) & ~(VkDeviceSize)3);
}

VkDeviceSize skim_vk_guard_pack(bool guard, VkDeviceSize *offs, skim_tensor *const *list, int n) {
    VkDeviceSize gap = guard ? SKIM_VK_GUARD : 0, o = gap;
    for (int i = 0; i < n; i++) {
        offs[i] = o;
        o = align_up(o + skim_tensor_nbytes(list[i])) + gap;
    }
    return o;
}

int skim_vk_guard_pack_blocks(bool guard, VkDeviceSize limit, VkDeviceSize *offs, int *blk,
                              VkDeviceSize *sizes, skim_tensor *const *list, int n, int *bad) {
    VkDeviceSize gap = guard ? SKIM_VK_GUARD : 0, o = gap;
    int b = 0;
    for (int i = 0; i < n; i++) {
        VkDeviceSize need = align_up(skim_tensor_nbytes(list[i])) + gap;
        if (gap + need > limit) {
            *bad = i;
            return -1;
        }
        if (o + need > limit) { /* o > gap here: the block holds a tensor already */
            sizes[b++] = o;
            o = gap;
        }
        offs[i] = o;
        blk[i] = b;
        o += need;
    }
    sizes[b] = o;
    return b + 1;
}

/* Whether node t owns arena memory (not a view or a write into its base). */
static bool owns_arena(const skim_graph *g, const skim_tensor *t) {
    return g->mem[t->id].kind == SKIM_MEM_ARENA && skim_tensor_base(t) == t;
}

/* Every arena tensor its own offset, `gap` bytes apart; returns the size. */
static VkDeviceSize spread(const skim_graph *g, VkDeviceSize *a_off, VkDeviceSize gap) {
    VkDeviceSize o = gap;
    for (int i = 0; i < g->n_nodes; i++) {
        const skim_tensor *t = g->nodes[i];
        if (owns_arena(g, t)) {
            if (a_off) a_off[t->id] = o;
            o = align_up(o + skim_tensor_nbytes(t)) + gap;
        }
    }
    return o;
}

skim_status skim_vk_arena_layout(skim_plan *p, VkDeviceSize *arena_size) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    const skim_graph *g = p->graph;
    VkDeviceSize gap = vb->guard ? SKIM_VK_GUARD : 0;
    if (!vb->guard && (vb->arena_reuse || spread(g, NULL, 0) > g->arena_size + SKIM_VK_SPREAD_MAX)) {
        *arena_size = g->arena_size;
        return SKIM_OK;
    }
    vp->a_off = skim_calloc(&p->be->alloc, (size_t)(g->n_ids ? g->n_ids : 1), sizeof *vp->a_off);
    if (!vp->a_off) {
        return PFAIL(p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    *arena_size = spread(g, vp->a_off, gap);
    return SKIM_OK;
}

VkDeviceSize skim_vk_arena_addr(const skim_plan *p, const skim_tensor *base) {
    const skim_vk_plan *vp = p->impl;
    return vp->a_off ? vp->a_off[base->id] : p->graph->mem[base->id].offset;
}

int skim_vk_arena_block(const skim_vk_plan *vp, VkDeviceSize addr) {
    int lo = 0, hi = vp->arena.n - 1; /* the last block whose start is <= addr */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (vp->a_start[mid] <= addr) lo = mid; else hi = mid - 1;
    }
    return lo;
}

/* The arena's bytes cut into blocks of at most vb->block_max: from each block's start, the
 * cut goes as far as the limit allows and then back to the start of any tensor (with its
 * trailing guard) it would fall inside, so that no tensor spans two blocks. graph/'s
 * liveness layout may allow no cut (tensors of different lifetimes overlapping in a chain
 * longer than the limit): then every tensor gets its own range (more memory), where a cut
 * fits between any two. */
skim_status skim_vk_arena_split(skim_plan *p, VkDeviceSize *arena_size, int *n_blocks) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    const skim_graph *g = p->graph;
    VkDeviceSize gap = vb->guard ? SKIM_VK_GUARD : 0, lim = vb->block_max;
    vp->a_start = skim_calloc(&p->be->alloc, (size_t)g->n_nodes + 2, sizeof *vp->a_start);
    if (!vp->a_start) {
        return PFAIL(p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    VkDeviceSize size = *arena_size;
    int n = 0;
    for (VkDeviceSize start = 0; size - start > lim;) {
        VkDeviceSize cut = start + lim;
        const skim_tensor *inside = NULL;
        for (bool moved = true; moved;) {
            moved = false;
            for (int i = 0; i < g->n_nodes; i++) {
                const skim_tensor *t = g->nodes[i];
                if (!owns_arena(g, t)) continue;
                VkDeviceSize a = skim_vk_arena_addr(p, t);
                VkDeviceSize b = align_up(a + skim_tensor_nbytes(t)) + gap;
                if (a < cut && cut < b) {
                    cut = a;
                    inside = t;
                    moved = true;
                }
            }
        }
        if (n + 2 > g->n_nodes + 1) { /* more blocks than tensors: empty stretches */
            return PFAIL(p, SKIM_ERR_TOO_LARGE, "vulkan: the arena (%llu bytes) does not cut "
                         "into blocks of %llu bytes", (unsigned long long)size,
                         (unsigned long long)lim);
        }
        if (cut <= start && !vp->a_off) { /* the liveness layout: own ranges instead */
            vp->a_off = skim_calloc(&p->be->alloc, (size_t)(g->n_ids ? g->n_ids : 1),
                                    sizeof *vp->a_off);
            if (!vp->a_off) {
                return PFAIL(p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
            }
            size = *arena_size = spread(g, vp->a_off, gap);
            start = 0;
            n = 0;
            continue;
        }
        if (cut <= start) {
            return PFAIL(p, SKIM_ERR_TOO_LARGE, "vulkan: arena tensor %s (%s) needs %llu bytes, "
                         "past the %llu bytes one device allocation holds here (the smaller of "
                         "maxMemoryAllocationSize and the largest heap)",
                         inside->name[0] ? inside->name : "#", skim_op_name(inside->op),
                         (unsigned long long)skim_tensor_nbytes(inside), (unsigned long long)lim);
        }
        vp->a_start[++n] = cut;
        start = cut;
    }
    vp->a_start[++n] = size;
    *n_blocks = n;
    return SKIM_OK;
}

/* Calls fn for every guard region of the plan's guarded buffers; stops at a non-OK. */
typedef skim_status (*region_fn)(skim_plan *p, skim_vk_buffer *b, const void *host,
                                 VkDeviceSize at, VkDeviceSize end, const skim_tensor *after);

/* The regions of buffer b holding list's tensors: those of block j (blk NULL: all). */
static skim_status list_regions(skim_plan *p, skim_vk_buffer *b, const void *host,
                                skim_tensor *const *list, int n, const VkDeviceSize *offs,
                                const int *blk, int j, region_fn fn) {
    skim_status st = fn(p, b, host, 0, SKIM_VK_GUARD, NULL);
    for (int i = 0; st == SKIM_OK && i < n; i++) {
        if (blk && blk[i] != j) {
            continue;
        }
        VkDeviceSize next = align_up(offs[i] + skim_tensor_nbytes(list[i])) + SKIM_VK_GUARD;
        st = fn(p, b, host, word_end(offs[i], list[i]), next, list[i]);
    }
    return st;
}

/* The regions of arena block j: the arena's leading guard (block 0), and the guard after
 * each tensor in it (offsets within the block). */
static skim_status arena_regions(skim_plan *p, skim_vk_buffer *b, const void *host, int j,
                                 region_fn fn) {
    skim_vk_plan *vp = p->impl;
    const skim_graph *g = p->graph;
    skim_status st = j == 0 ? fn(p, b, host, 0, SKIM_VK_GUARD, NULL) : SKIM_OK;
    for (int i = 0; st == SKIM_OK && i < g->n_nodes; i++) {
        skim_tensor *t = g->nodes[i];
        if (owns_arena(g, t) && skim_vk_arena_block(vp, vp->a_off[t->id]) == j) {
            VkDeviceSize o = vp->a_off[t->id] - vp->a_start[j];
            VkDeviceSize next = align_up(o + skim_tensor_nbytes(t)) + SKIM_VK_GUARD;
            st = fn(p, b, host, word_end(o, t), next, t);
        }
    }
    return st;
}

static skim_status fill_region(skim_plan *p, skim_vk_buffer *b, const void *host, VkDeviceSize at,
                               VkDeviceSize end, const skim_tensor *after) {
    (void)host;
    (void)after;
    skim_vk_backend *vb = p->be->impl;
    skim_status st = skim_vk_fill(vb, b, at, end - at, SKIM_VK_GUARD_WORD);
    return st == SKIM_OK ? st : PFAIL_BE(p, st);
}

static skim_status check_region(skim_plan *p, skim_vk_buffer *b, const void *host,
                                VkDeviceSize at, VkDeviceSize end, const skim_tensor *after) {
    skim_vk_plan *vp = p->impl;
    const unsigned char *h = host;
    for (VkDeviceSize k = at; k < end; k++) {
        uint32_t w = SKIM_VK_GUARD_WORD;
        if (h[k] != ((const unsigned char *)&w)[k % 4]) {
            const char *what = b == &vp->inputs ? "inputs" : "weights";
            for (int j = 0; j < vp->states.n; j++) {
                what = b == &vp->states.b[j] ? "states" : what;
            }
            for (int j = 0; j < vp->arena.n; j++) {
                what = b == &vp->arena.b[j] ? "arena" : what;
            }
            return PFAIL(p, SKIM_ERR_STATE, "vulkan: a stray write: byte %llu of the guard %s %s%s "
                         "(%s buffer) changed", (unsigned long long)(k - at),
                         after ? "after" : "at the start of the buffer", after ? after->name : "",
                         after ? (after->name[0] ? "" : skim_op_name(after->op)) : "", what);
        }
    }
    return SKIM_OK;
}

/* One guarded buffer to fn, with its bytes when read: arena block j's tensors when list is
 * NULL, otherwise those of list in block j (blk NULL: all). */
static skim_status one_buffer(skim_plan *p, skim_vk_buffer *b, bool read, region_fn fn,
                              skim_tensor *const *list, int n, const VkDeviceSize *offs,
                              const int *blk, int j) {
    skim_vk_backend *vb = p->be->impl;
    skim_status st = SKIM_OK;
    void *host = NULL;
    if (read) {
        host = skim_alloc(&p->be->alloc, (size_t)b->size);
        if (!host) {
            return PFAIL(p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory (guard check)");
        }
        st = skim_vk_download(vb, b, 0, host, (size_t)b->size);
        if (st != SKIM_OK) {
            PFAIL_BE(p, st);
        }
    }
    if (st == SKIM_OK) {
        st = list ? list_regions(p, b, host, list, n, offs, blk, j, fn)
                  : arena_regions(p, b, host, j, fn);
    }
    skim_free(&p->be->alloc, host);
    return st;
}

/* Every guarded buffer (arena, the states' blocks, inputs, the weights' blocks) to fn. */
static skim_status each_buffer(skim_plan *p, bool read, region_fn fn) {
    skim_vk_plan *vp = p->impl;
    const skim_graph *g = p->graph;
    skim_status st = SKIM_OK;
    for (int j = 0; st == SKIM_OK && j < vp->arena.n; j++) {
        st = one_buffer(p, &vp->arena.b[j], read, fn, NULL, 0, NULL, NULL, j);
    }
    for (int j = 0; st == SKIM_OK && j < vp->states.n; j++) {
        st = one_buffer(p, &vp->states.b[j], read, fn, g->states, g->n_states, vp->st_off,
                        vp->st_blk, j);
    }
    if (st == SKIM_OK) {
        st = one_buffer(p, &vp->inputs, read, fn, g->inputs, g->n_inputs, vp->in_off, NULL, 0);
    }
    for (int j = 0; st == SKIM_OK && j < vp->weights.n; j++) {
        st = one_buffer(p, &vp->weights.b[j], read, fn, g->weights, g->n_weights, vp->w_off,
                        vp->w_blk, j);
    }
    return st;
}

skim_status skim_vk_guard_fill(skim_plan *p) {
    return each_buffer(p, false, fill_region);
}

skim_status skim_vk_guard_check(skim_plan *p) {
    return each_buffer(p, true, check_region);
}

void skim_vk_guard_record_stray(skim_plan *p) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    const skim_graph *g = p->graph;
    for (int i = 0; i < g->n_nodes; i++) {
        const skim_tensor *t = g->nodes[i];
        if (owns_arena(g, t)) {
            VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER};
            mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT;
            mb.dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
            vb->d.vkCmdPipelineBarrier(vp->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                       VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
            int j = skim_vk_arena_block(vp, vp->a_off[t->id]);
            VkDeviceSize o = vp->a_off[t->id] - vp->a_start[j];
            VkDeviceSize at = (word_end(o, t) + 3) & ~(VkDeviceSize)3;
            vb->d.vkCmdFillBuffer(vp->cmd, vp->arena.b[j].buf, at, 4, 0);
            return;
        }
    }
}
