/* vk_split.c - ops over tensors past the device's maxStorageBufferRange (lavapipe: 128 MiB;
 * a 128256 x 2048 F16 embedding is 525 MB, a 32000 x 2048 F16 output matrix 131 MB): no
 * binding may span more than that, so such an op runs as several dispatches, each binding
 * a range of rows of the large tensor (a view made here, never in the graph) and writing
 * its part of the output. vk_ops.c asks skim_vk_fits first and, for get_rows and mul_mat,
 * calls itself on the pieces; any other op over such a tensor is refused by bind_info
 * (vk_record.c) with TOO_LARGE naming it.
 *
 * 32-bit offsets: every offset and stride a shader sees is in elements of a binding's
 * type inside that binding, and a binding spans at most maxStorageBufferRange (a uint32_t
 * in Vulkan) bytes, so in-range values fit 32 bits; bind_info still checks each extent
 * and stride it passes (skim_vk_u32_ok). */
#include "vk-int.h"

/* Bytes a binding of rows [0, rows) of t spans at most, beyond its rows: the offset
 * aligned down (< minStorageBufferOffsetAlignment) and the range rounded to 16. */
static VkDeviceSize slack(const skim_vk_rec *r) {
    return r->vb->props.limits.minStorageBufferOffsetAlignment + 16;
}

bool skim_vk_fits(skim_vk_rec *r, const skim_tensor *t) {
    skim_vk_buffer *b;
    VkDeviceSize off, end;
    if (!skim_vk_locate(r->p, t, &b, &off, &end)) {
        return true; /* bind_info says why */
    }
    return end - off + slack(r) <= r->vb->max_range;
}

int64_t skim_vk_rows_per_piece(skim_vk_rec *r, const skim_tensor *t) {
    VkDeviceSize lim = r->vb->max_range;
    if (t->nb[1] == 0 || lim <= slack(r)) {
        return 0;
    }
    VkDeviceSize n = (lim - slack(r)) / t->nb[1];
    return n > (VkDeviceSize)t->ne[1] ? t->ne[1] : (int64_t)n;
}

void skim_vk_rows_view(skim_tensor *v, const skim_tensor *t, int64_t row0, int64_t rows) {
    *v = *t;
    v->kind = SKIM_KIND_VIEW;
    v->view_src = skim_tensor_base(t);
    v->view_offs = (t->view_src ? t->view_offs : 0) + (size_t)row0 * t->nb[1];
    v->ne[1] = rows;
    v->bound = NULL;
}

skim_status skim_vk_split_fail(skim_vk_rec *r, const skim_tensor *node, const skim_tensor *t,
                               const char *why) {
    return skim_plan_fail(r->p, SKIM_ERR_TOO_LARGE, "vulkan: %s%s%s: %s %s spans more than the "
                          "device's maxStorageBufferRange of %llu bytes and %s",
                          skim_op_name(node->op), node->name[0] ? " " : "", node->name,
                          skim_type_name(t->type), t->name[0] ? t->name : "source",
                          (unsigned long long)r->vb->max_range, why);
}

bool skim_vk_u32_ok(const skim_tensor *t, size_t unit) {
    for (int k = 0; k < SKIM_MAX_DIMS; k++) {
        if ((uint64_t)t->ne[k] > UINT32_MAX || (t->ne[k] > 1 && t->nb[k] / unit > UINT32_MAX)) {
            return false;
        }
    }
    return true;
}
