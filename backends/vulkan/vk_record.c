/* vk_record.c - the plan's command buffer, recorded once: a pass that only counts
 * (dispatches, and the indirect dispatches of bounded tensors), then the recording pass
 * that writes every descriptor set once and records the dispatches. Each selection
 * producer (select.comp) also writes the VkDispatchIndirectCommand of the dispatches
 * consuming its selection; after any other, an indirect.comp dispatch does.
 *
 * Barriers are planned from what each dispatch binds: the byte ranges of its descriptors
 * (binding 0 written, the others read; the run-parameter word that set_rows flags is
 * written) and, for an indirect dispatch, its 12-byte command. Two dispatches conflict
 * when a range of one overlaps a range of the other and one of the two writes it: read
 * after write, and write after read or write, which the arena's memory reuse makes of two
 * different tensors. Pass 1 queues the dispatches in graph order; each gets the level
 * one past the highest level of an earlier dispatch it conflicts with (0 when none), and
 * they are recorded level by level with one barrier between levels. Conflicting
 * dispatches keep their graph order; independent ones (Q, K and V of a block, the gate
 * and up projections) share a level. The ranges are the descriptors' own (aligned and
 * rounded as bound), the ones the synchronization validation layer checks too. */
#include "vk-int.h"

#include <string.h>

typedef skim_status (*skim_vk_op_fn)(skim_vk_rec *r, const skim_tensor *node);
static const skim_vk_op_fn op_fns[SKIM_OP_COUNT] = {
    NULL,
#define SKIM_OP(E, n, s, sh, fl, t) skim_vk_op_##n,
#include "ops.def"
#undef SKIM_OP
};

/* The shaders' op codes (skim_vk_ops.h, read from ops.def by the build) are the ops. */
#define SKIM_OP(E, n, s, sh, fl, t) \
    _Static_assert(SKIM_VK_OP_##E == SKIM_OP_##E, "skim_vk_ops.h is out of step: " #n);
#include "ops.def"
#undef SKIM_OP

bool skim_vk_locate(const skim_plan *p, const skim_tensor *t, skim_vk_buffer **buf,
                    VkDeviceSize *off, VkDeviceSize *region_end) {
    const skim_vk_plan *vp = p->impl;
    const skim_graph *g = p->graph;
    const skim_tensor *base = skim_tensor_base(t);
    if (base->id >= g->n_ids) {
        return false;
    }
    if (vp->alias && vp->alias[base->id]) { /* same shape and type, its own base */
        base = vp->alias[base->id];
    }
    const skim_tensor_mem *m = &g->mem[base->id];
    VkDeviceSize o;
    switch (m->kind) {
    case SKIM_MEM_ARENA: { /* its block, then its offset there */
        VkDeviceSize addr = skim_vk_arena_addr(p, base);
        int j = skim_vk_arena_block(vp, addr);
        *buf = &vp->arena.b[j];
        o = addr - vp->a_start[j];
        break;
    }
    case SKIM_MEM_WEIGHT: /* a store's tensor: its block, then its offset there */
        *buf = &vp->weights.b[vp->w_blk[m->slot]];
        o = vp->w_off[m->slot];
        break;
    case SKIM_MEM_INPUT: *buf = (skim_vk_buffer *)&vp->inputs; o = vp->in_off[m->slot]; break;
    case SKIM_MEM_STATE:
        *buf = &vp->states.b[vp->st_blk[m->slot]];
        o = vp->st_off[m->slot];
        break;
    default: return false;
    }
    *region_end = o + skim_tensor_nbytes(base);
    *off = o + (t->view_src ? t->view_offs : 0);
    if (t->view_src && !t->sel_kind) {
        /* A view binds only the bytes it spans, so that a small view of a large state
         * (one layer of a KV cache) stays under maxStorageBufferRange. */
        VkDeviceSize blocks = (VkDeviceSize)(t->ne[0] / skim_type_block_size(t->type));
        VkDeviceSize span = (blocks - 1) * t->nb[0] + skim_type_block_bytes(t->type);
        for (int k = 1; k < SKIM_MAX_DIMS; k++) {
            span += (VkDeviceSize)(t->ne[k] - 1) * t->nb[k];
        }
        if (*off + span < *region_end) {
            *region_end = *off + span;
        }
    }
    return true;
}

/* Binding k of d: buffer, aligned offset, range; the remainder (in the tensor's units)
 * goes to pc.off[k] for k < 4 and must be zero for the others. */
static skim_status bind_info(skim_vk_rec *r, skim_vk_dispatch *d, int k, const skim_tensor *t,
                             VkDescriptorBufferInfo *bi) {
    skim_vk_buffer *buf;
    VkDeviceSize off, end;
    if (!skim_vk_locate(r->p, t, &buf, &off, &end)) {
        return PFAIL(r->p, SKIM_ERR_STATE, "vulkan: tensor %s (#%lld) has no storage", t->name,
                     (long long)t->id);
    }
    VkDeviceSize align = r->vb->props.limits.minStorageBufferOffsetAlignment;
    VkDeviceSize al = off - off % align, rem = off - al;
    size_t unit = t->sel_kind ? 4 : skim_vk_unit(t->type);
    if (end - al > r->vb->max_range) {
        return PFAIL(r->p, SKIM_ERR_TOO_LARGE, "vulkan: tensor %s (%s) spans %llu bytes, past "
                     "the device's maxStorageBufferRange of %llu", t->name[0] ? t->name : "#",
                     skim_op_name(t->op), (unsigned long long)(end - al),
                     (unsigned long long)r->vb->max_range);
    }
    if (!skim_vk_u32_ok(t, unit)) { /* cannot happen within the range: checked all the same */
        return PFAIL(r->p, SKIM_ERR_TOO_LARGE, "vulkan: tensor %s (%s): an extent or stride "
                     "passes 32 bits", t->name[0] ? t->name : "#", skim_op_name(t->op));
    }
    if (k < 4) {
        d->pc.off[k] += (uint32_t)(rem / unit);
    } else if (rem != 0) {
        return PFAIL(r->p, SKIM_ERR_UNSUPPORTED, "vulkan: %s: source %d is a view at an offset "
                     "the device cannot bind (use cont)", skim_op_name(t->op), k - 1);
    }
    /* Whole words: shaders read F16 and block data as uint words (buffers are padded). */
    VkDeviceSize range = (end - al + 15) & ~(VkDeviceSize)15;
    bi->buffer = buf->buf;
    bi->offset = al;
    bi->range = range < buf->size - al ? range : buf->size - al;
    return SKIM_OK;
}

static void raw_info(const skim_vk_buffer *b, VkDeviceSize off, VkDescriptorBufferInfo *bi) {
    bi->buffer = b->buf;
    bi->offset = off;
    bi->range = b->size - off;
}

static void barrier(skim_vk_rec *r) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                       VK_ACCESS_INDIRECT_COMMAND_READ_BIT;
    r->vb->d.vkCmdPipelineBarrier(r->vp->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                  VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                                  VK_PIPELINE_STAGE_DRAW_INDIRECT_BIT, 0, 1, &mb, 0, NULL, 0,
                                  NULL);
    r->n_barrier++;
}

/* How a dispatch uses the run-parameter buffer: 0 not at all, 1 reads it (attention's
 * n_kv), 2 writes it (set_rows's range flag). Custom ops: everything bound, written. */
static int params_use(const skim_vk_dispatch *d) {
    if (d->pipe) {
        return 2;
    }
    switch (d->shader) {
    case SKIM_VK_SHADER_ATTN_F32:
    case SKIM_VK_SHADER_ATTN_F16: return 1;
    case SKIM_VK_SHADER_SET_ROWS_F32:
    case SKIM_VK_SHADER_SET_ROWS_F16: return 2;
    default: return 0;
    }
}

/* A dispatch of pass 1: bound, waiting for its level to be recorded. */
typedef struct skim_vk_queued {
    skim_vk_dispatch d;
    VkDescriptorSet set;
    VkPipeline pipe;
    int64_t ind; /* its indirect command's offset in vp->indirect, or -1 (direct) */
    skim_vk_access acc[SKIM_VK_N_BINDINGS + 1];
    int n_acc, level;
} skim_vk_queued;

/* The ranges dispatch q accesses, from its descriptors bi. */
static void accesses(skim_vk_rec *r, skim_vk_queued *q, const VkDescriptorBufferInfo *bi) {
    int pu = params_use(&q->d);
    q->n_acc = 0;
    for (int k = 0; k < SKIM_VK_N_BINDINGS; k++) {
        if (bi[k].buffer == r->vp->dummy.buf || (k == SKIM_VK_B_PARAMS && pu == 0)) {
            continue;
        }
        bool w = k == 0 || q->d.pipe || (k == SKIM_VK_B_PARAMS && pu == 2) ||
                 (q->d.writes & (1u << k));
        q->acc[q->n_acc++] = (skim_vk_access){bi[k].buffer, bi[k].offset,
                                              bi[k].offset + bi[k].range, w};
    }
    if (q->ind >= 0) {
        q->acc[q->n_acc++] = (skim_vk_access){r->vp->indirect.buf, (VkDeviceSize)q->ind,
                                              (VkDeviceSize)q->ind + 12u, false};
    }
}

static bool conflict(const skim_vk_queued *x, const skim_vk_queued *y) {
    for (int i = 0; i < x->n_acc; i++) {
        const skim_vk_access *a = &x->acc[i];
        for (int j = 0; j < y->n_acc; j++) {
            const skim_vk_access *b = &y->acc[j];
            if (a->buf == b->buf && a->off < b->end && b->off < a->end && (a->write || b->write)) {
                return true;
            }
        }
    }
    return false;
}

static void record_one(skim_vk_rec *r, const skim_vk_queued *q) {
    VkCommandBuffer cb = r->vp->cmd;
    const VolkDeviceTable *t = &r->vb->d;
    t->vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, q->pipe);
    t->vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, r->vb->layout, 0, 1, &q->set,
                               0, NULL);
    t->vkCmdPushConstants(cb, r->vb->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof q->d.pc,
                          &q->d.pc);
    if (q->ind >= 0) {
        t->vkCmdDispatchIndirect(cb, r->vp->indirect.buf, (VkDeviceSize)q->ind);
    } else {
        t->vkCmdDispatch(cb, q->d.grid[0], q->d.grid[1], q->d.grid[2]);
        r->n_wg += (int64_t)q->d.grid[0] * q->d.grid[1] * q->d.grid[2];
    }
    r->n_dispatch++;
}

/* The queue's levels (SKIM_VK_BARRIERS=every: one dispatch per level), then the
 * dispatches level by level with a barrier between levels. Every level up to the highest
 * holds a dispatch (each level past 0 was reached from one below it). */
static void record_queue(skim_vk_rec *r) {
    int top = -1;
    for (int i = 0; i < r->n_q; i++) {
        skim_vk_queued *q = &r->q[i];
        bool serial = r->vb->barrier_every || r->vp->prof; /* profiling: one per level */
        q->level = serial ? i : 0;
        for (int j = 0; j < i && !serial; j++) {
            if (r->q[j].level >= q->level && conflict(q, &r->q[j])) {
                q->level = r->q[j].level + 1;
            }
        }
        top = q->level > top ? q->level : top;
    }
    if (r->vp->prof && r->n_q > 0) {
        skim_vk_profile_start(r);
    }
    for (int l = 0; l <= top; l++) {
        if (l > 0) {
            barrier(r);
        }
        for (int i = 0; i < r->n_q; i++) {
            if (r->q[i].level == l) {
                record_one(r, &r->q[i]);
                if (r->vp->prof) {
                    const skim_vk_dispatch *d = &r->q[i].d;
                    skim_vk_profile_mark(r, d->bind[0], d->pipe ? -1 : (int)d->shader);
                }
            }
        }
    }
}

static skim_status write_set(skim_vk_rec *r, skim_vk_dispatch *d, VkDescriptorSet *out,
                             VkDescriptorBufferInfo bi[SKIM_VK_N_BINDINGS]) {
    skim_vk_backend *vb = r->vb;
    skim_vk_plan *vp = r->vp;
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = vp->dpool;
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &vb->dsl;
    VkResult res = vb->d.vkAllocateDescriptorSets(vb->dev, &ai, out);
    if (res != VK_SUCCESS) {
        return PFAIL(r->p, skim_vk_status(res), "vulkan: descriptor set: %s", skim_vk_result_str(res));
    }
    VkWriteDescriptorSet w[SKIM_VK_N_BINDINGS];
    for (int k = 0; k < SKIM_VK_N_BINDINGS; k++) {
        const skim_tensor *t = k < 9 ? d->bind[k] : (k == SKIM_VK_B_BOUND ? d->bind_bound : NULL);
        skim_status st = SKIM_OK;
        if (k < 9 && d->raw[k]) {
            raw_info(d->raw[k], d->raw_off[k], &bi[k]);
        } else if (k == SKIM_VK_B_PARAMS) {
            raw_info(&vp->params, 0, &bi[k]);
        } else if (t) {
            st = bind_info(r, d, k, t, &bi[k]);
        } else {
            raw_info(&vp->dummy, 0, &bi[k]);
        }
        if (st != SKIM_OK) {
            return st;
        }
        memset(&w[k], 0, sizeof w[k]);
        w[k].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
        w[k].dstSet = *out;
        w[k].dstBinding = (uint32_t)k;
        w[k].descriptorCount = 1;
        w[k].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        w[k].pBufferInfo = &bi[k];
    }
    vb->d.vkUpdateDescriptorSets(vb->dev, SKIM_VK_N_BINDINGS, w, 0, NULL);
    return SKIM_OK;
}

/* A grid past the device's maxComputeWorkGroupCount is undefined behaviour (wrong numbers
 * at best), so the plan is refused instead, in every build: the check is one compare per
 * dispatch, once per plan. An indirect dispatch's grid is never larger than its dense one. */
static skim_status grid_ok(skim_vk_rec *r, const skim_vk_dispatch *d) {
    const uint32_t *lim = r->vb->props.limits.maxComputeWorkGroupCount;
    if (d->grid[0] <= lim[0] && d->grid[1] <= lim[1] && d->grid[2] <= lim[2]) {
        return SKIM_OK;
    }
    const skim_tensor *t = d->bind[0];
    return PFAIL(r->p, SKIM_ERR_TOO_LARGE, "vulkan: %s%s%s: a grid of %u x %u x %u workgroups "
                 "passes the device's limit of %u x %u x %u", t ? skim_op_name(t->op) : "dispatch",
                 t && t->name[0] ? " " : "", t ? t->name : "", d->grid[0], d->grid[1], d->grid[2],
                 lim[0], lim[1], lim[2]);
}

skim_status skim_vk_emit(skim_vk_rec *r, const skim_vk_dispatch *din) {
    skim_vk_plan *vp = r->vp;
    bool indirect = din->bounded_sel >= 0 && vp->gpu_resolve;
    if (r->pass == 0) {
        skim_status gs = grid_ok(r, din);
        if (gs != SKIM_OK) {
            return gs;
        }
        vp->n_dispatch++;
        if (indirect) {
            if (vp->n_ind == vp->cap_ind) {
                int cap = vp->cap_ind ? vp->cap_ind * 2 : 64;
                skim_vk_indirect *n = skim_calloc(&r->p->be->alloc, (size_t)cap, sizeof *n);
                if (!n) {
                    return PFAIL(r->p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
                }
                if (vp->ind) memcpy(n, vp->ind, (size_t)vp->n_ind * sizeof *n);
                skim_free(&r->p->be->alloc, vp->ind);
                vp->ind = n;
                vp->cap_ind = cap;
            }
            skim_vk_indirect *e = &vp->ind[vp->n_ind++];
            e->sel = din->bounded_sel;
            e->mul = din->bmul;
            e->div = din->bdiv;
            e->dim = din->bdim;
            e->src = din->bsrc;
            e->gate = din->bgate;
            memcpy(e->xyz, din->grid, sizeof e->xyz);
        }
        return SKIM_OK;
    }
    if (!indirect && !(din->grid[0] && din->grid[1] && din->grid[2])) {
        return SKIM_OK; /* launches nothing */
    }
    if (r->n_q == r->cap_q) {
        return PFAIL(r->p, SKIM_ERR_STATE, "vulkan: the recording pass made more dispatches "
                     "than the counting pass");
    }
    skim_vk_queued *q = &r->q[r->n_q];
    q->d = *din;
    VkDescriptorBufferInfo bi[SKIM_VK_N_BINDINGS];
    skim_status st = write_set(r, &q->d, &q->set, bi);
    if (st == SKIM_OK && q->d.pipe) q->pipe = q->d.pipe;
    else if (st == SKIM_OK) st = skim_vk_pipeline_get(r->vb, q->d.shader, &q->pipe);
    if (st != SKIM_OK) {
        if (!r->p->msg[0]) PFAIL(r->p, st, "%s", skim_backend_error(r->vb->be));
        return st;
    }
    q->ind = indirect ? (int64_t)(vp->ind_cmd_off + (VkDeviceSize)vp->next_ind++ * 12u) : -1;
    accesses(r, q, bi);
    r->n_q++;
    return SKIM_OK;
}

/* After selection slot `sel` is produced: fills its consumers' indirect commands. */
static skim_status emit_fill(skim_vk_rec *r, const skim_tensor *sel, int slot) {
    skim_vk_plan *vp = r->vp;
    if (!vp->gpu_resolve || (r->pass == 1 && vp->n_ind == 0)) {
        return SKIM_OK;
    }
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, SKIM_VK_SHADER_INDIRECT, NULL);
    d.pc.off[0] = (uint32_t)(vp->ind_cmd_off / 4);
    d.pc.i[0] = vp->n_ind;
    d.pc.i[1] = slot;
    d.bind[2] = sel;
    d.grid[0] = (uint32_t)(vp->n_ind + 63) / 64;
    d.raw[0] = d.raw[1] = &vp->indirect;
    return skim_vk_emit(r, &d);
}

/* Every op node's dispatches in graph order; a fused chain's at its last node, by its
 * head's op function (which reads r->cur). */
static skim_status ops_pass(skim_vk_rec *r) {
    const skim_graph *g = r->p->graph;
    skim_status st = skim_vk_fuse_plan(r);
    for (int i = 0; st == SKIM_OK && i < g->n_nodes; i++) {
        const skim_tensor *t = g->nodes[i];
        const skim_vk_fusion *f = &r->fuse[i];
        if (t->kind != SKIM_KIND_NODE || f->absorbed) {
            continue;
        }
        r->cur = f->head ? f : NULL;
        st = f->head ? op_fns[f->head->op](r, f->head) : op_fns[t->op](r, t);
        r->cur = NULL;
        if (st == SKIM_OK && t->sel_kind && !skim_vk_fills_own(r->vb, t)) {
            st = emit_fill(r, t, skim_graph_slot(g, t));
        }
    }
    skim_free(&r->p->be->alloc, r->fuse);
    r->fuse = NULL;
    return st;
}

skim_status skim_vk_record_pass(skim_vk_rec *r) {
    if (r->pass == 0) {
        return ops_pass(r);
    }
    r->cap_q = r->vp->n_dispatch;
    r->n_q = 0;
    r->q = skim_calloc(&r->p->be->alloc, (size_t)(r->cap_q ? r->cap_q : 1), sizeof *r->q);
    if (!r->q) {
        return PFAIL(r->p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    skim_status st = ops_pass(r);
    if (st == SKIM_OK) {
        record_queue(r);
        r->p->dispatches = r->n_dispatch;
        r->p->barriers = r->n_barrier;
        r->vp->wg_direct = r->n_wg;
    }
    skim_free(&r->p->be->alloc, r->q);
    r->q = NULL;
    return st;
}
