/* vk_memory.c - buffers (one allocation each: a plan has a handful, a store two or more:
 * its blocks, below) and the transfers between host and device.
 *
 * Memory types, in the order tried: for device buffers a DEVICE_LOCAL type that is not
 * HOST_VISIBLE (where the device has one: a discrete GPU's VRAM, outside a 256 MiB BAR
 * window), then any DEVICE_LOCAL type, then any type; for host buffers HOST_VISIBLE and
 * HOST_COHERENT, then HOST_VISIBLE. A type whose heap is smaller than the allocation is
 * skipped, and an allocation that fails goes on to the next type. An allocation past
 * maxMemoryAllocationSize, or one that no type can hold, fails with a message naming the
 * bytes needed against the heaps' sizes.
 *
 * Transfers: a memcpy where the buffer is mapped (host-visible memory), otherwise through
 * the backend's staging area: one host-visible buffer of at most SKIM_VK_STAGING_CAP bytes,
 * kept and reused, with one command buffer and one fence; a transfer larger than the area
 * goes in pieces. Each piece waits on its own fence, never for the queue or the device to
 * idle (an engine's queue carries its own work). The area is shared by the plans of a
 * backend: vb->lock is held while it is used. */
#include "vk-int.h"

#include <stdio.h>
#include <string.h>

#define FAIL(vb, st, ...) skim_backend_fail((vb)->be, st, __VA_ARGS__)

/* The most bytes the staging area grows to (SKIM_VK_STAGING=N lowers it: the tests). */
#define SKIM_VK_STAGING_CAP ((VkDeviceSize)16 << 20)

static bool has(VkMemoryPropertyFlags f, VkMemoryPropertyFlags want) {
    return (f & want) == want;
}

/* Rank of memory type k for a buffer (lower is tried first), or -1: not for it. */
static int rank(const skim_vk_backend *vb, uint32_t k, bool host) {
    VkMemoryPropertyFlags f = vb->memprops.memoryTypes[k].propertyFlags;
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    const VkMemoryPropertyFlags hc = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    const VkMemoryPropertyFlags dl = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    if (f & (VK_MEMORY_PROPERTY_PROTECTED_BIT | VK_MEMORY_PROPERTY_LAZILY_ALLOCATED_BIT)) {
        return -1;
    }
    if (host) {
        return has(f, hv | hc) ? 0 : has(f, hv) ? 1 : -1;
    }
    return has(f, dl) && !(f & hv) ? 0 : has(f, dl) ? 1 : 2;
}

/* The candidate types for bits, best first; returns how many. */
static int candidates(const skim_vk_backend *vb, uint32_t bits, bool host, VkDeviceSize size,
                      uint32_t out[VK_MAX_MEMORY_TYPES]) {
    int n = 0;
    for (int want = 0; want <= 2; want++) {
        for (uint32_t k = 0; k < vb->memprops.memoryTypeCount; k++) {
            uint32_t heap = vb->memprops.memoryTypes[k].heapIndex;
            if ((bits & (1u << k)) && rank(vb, k, host) == want &&
                size <= vb->memprops.memoryHeaps[heap].size) {
                out[n++] = k;
            }
        }
    }
    return n;
}

static uint64_t held_bytes(const skim_vk_backend *vb) {
    skim_memory_stats m;
    skim_backend_query_memory(vb->be, &m);
    return m.device_bytes;
}

/* "heap 0: 2147483648 bytes, heap 1: ..." for the heaps of the types in bits. */
static void heaps_str(const skim_vk_backend *vb, uint32_t bits, char *s, size_t n) {
    uint32_t seen = 0;
    size_t at = 0;
    s[0] = '\0';
    for (uint32_t k = 0; k < vb->memprops.memoryTypeCount && at < n; k++) {
        uint32_t h = vb->memprops.memoryTypes[k].heapIndex;
        if ((bits & (1u << k)) && !(seen & (1u << h))) {
            seen |= 1u << h;
            int w = snprintf(s + at, n - at, "%sheap %u: %llu bytes", at ? ", " : "", h,
                             (unsigned long long)vb->memprops.memoryHeaps[h].size);
            at += w > 0 ? (size_t)w : 0;
        }
    }
}

skim_status skim_vk_buffer_create(skim_vk_backend *vb, skim_vk_buffer *b, VkDeviceSize size,
                                  VkBufferUsageFlags usage, bool host, const char *what) {
    memset(b, 0, sizeof *b);
    if (size == 0) {
        size = 16;
    }
    if (size > vb->max_alloc) {
        return FAIL(vb, SKIM_ERR_DEVICE_MEMORY, "vulkan: the %s buffer needs %llu bytes, past "
                    "the device's maxMemoryAllocationSize of %llu bytes", what,
                    (unsigned long long)size, (unsigned long long)vb->max_alloc);
    }
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = usage | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vb->d.vkCreateBuffer(vb->dev, &bi, vb->vka, &b->buf);
    if (r != VK_SUCCESS) {
        return FAIL(vb, skim_vk_status(r), "vulkan: %s buffer of %llu bytes: %s", what,
                    (unsigned long long)size, skim_vk_result_str(r));
    }
    VkMemoryRequirements req;
    vb->d.vkGetBufferMemoryRequirements(vb->dev, b->buf, &req);
    uint32_t types[VK_MAX_MEMORY_TYPES];
    int n = candidates(vb, req.memoryTypeBits, host, req.size, types);
    r = VK_ERROR_OUT_OF_DEVICE_MEMORY;
    uint32_t type = 0;
    for (int c = 0; c < n && r != VK_SUCCESS; c++) {
        type = types[c];
        VkMemoryAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
            .allocationSize = req.size,
            .memoryTypeIndex = type,
        };
        r = vb->d.vkAllocateMemory(vb->dev, &ai, vb->vka, &b->mem);
        if (r == VK_ERROR_OUT_OF_HOST_MEMORY) {
            break; /* skim's host memory: no other type helps */
        }
    }
    if (r != VK_SUCCESS) {
        b->mem = VK_NULL_HANDLE;
        skim_vk_buffer_destroy(vb, b);
        char heaps[256];
        heaps_str(vb, req.memoryTypeBits, heaps, sizeof heaps);
        if (r == VK_ERROR_OUT_OF_HOST_MEMORY) {
            return FAIL(vb, SKIM_ERR_OUT_OF_MEMORY, "vulkan: allocating %llu bytes for the %s "
                        "buffer: %s", (unsigned long long)req.size, what, skim_vk_result_str(r));
        }
        return FAIL(vb, SKIM_ERR_DEVICE_MEMORY, "vulkan: the %s buffer needs %llu bytes; %s (%s; "
                    "this backend holds %llu bytes of device memory)", what,
                    (unsigned long long)req.size, n ? "no memory type could allocate them"
                                                    : "no memory type's heap is that large",
                    heaps, (unsigned long long)held_bytes(vb));
    }
    b->mem_bytes = req.size;
    b->type = type;
    skim_mem_counter_device(&vb->be->mem, req.size, true);
    r = vb->d.vkBindBufferMemory(vb->dev, b->buf, b->mem, 0);
    VkMemoryPropertyFlags fl = vb->memprops.memoryTypes[type].propertyFlags;
    /* Device buffers stay unmapped under SKIM_VK_STAGING (the staging path's tests). */
    if (r == VK_SUCCESS && (fl & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (host || !vb->no_map)) {
        r = vb->d.vkMapMemory(vb->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map);
        b->coherent = (fl & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
    }
    if (r != VK_SUCCESS) {
        skim_vk_buffer_destroy(vb, b);
        return FAIL(vb, skim_vk_status(r), "vulkan: binding the %s buffer: %s", what,
                    skim_vk_result_str(r));
    }
    b->size = size;
    return SKIM_OK;
}

void skim_vk_buffer_destroy(skim_vk_backend *vb, skim_vk_buffer *b) {
    if (b->buf) {
        vb->d.vkDestroyBuffer(vb->dev, b->buf, vb->vka);
    }
    if (b->mem) {
        vb->d.vkFreeMemory(vb->dev, b->mem, vb->vka);
        skim_mem_counter_device(&vb->be->mem, b->mem_bytes, false);
    }
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- the staging area */

void skim_vk_staging_destroy(skim_vk_backend *vb) {
    /* Nothing is pending: every transfer waited for its fence before it returned. */
    if (vb->staging_fence) {
        vb->d.vkDestroyFence(vb->dev, vb->staging_fence, vb->vka);
    }
    if (vb->staging_cb) {
        vb->d.vkFreeCommandBuffers(vb->dev, vb->pool, 1, &vb->staging_cb);
    }
    skim_vk_buffer_destroy(vb, &vb->staging);
    vb->staging_fence = VK_NULL_HANDLE;
    vb->staging_cb = VK_NULL_HANDLE;
}

/* The area holds at least min(want, cap) bytes; its command buffer and fence exist. */
static skim_status staging_ready(skim_vk_backend *vb, VkDeviceSize want) {
    VkDeviceSize cap = vb->staging_cap ? vb->staging_cap : SKIM_VK_STAGING_CAP;
    want = want < cap ? want : cap;
    if (!vb->staging_cb) {
        VkCommandBufferAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
            .commandPool = vb->pool,
            .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
            .commandBufferCount = 1,
        };
        VkResult r = vb->d.vkAllocateCommandBuffers(vb->dev, &ai, &vb->staging_cb);
        if (r == VK_SUCCESS) {
            VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
            r = vb->d.vkCreateFence(vb->dev, &fi, vb->vka, &vb->staging_fence);
        }
        if (r != VK_SUCCESS) {
            skim_vk_staging_destroy(vb);
            return FAIL(vb, skim_vk_status(r), "vulkan: staging: %s", skim_vk_result_str(r));
        }
    }
    if (vb->staging.size < want) {
        skim_vk_buffer_destroy(vb, &vb->staging);
        VkDeviceSize sz = (want + 65535) & ~(VkDeviceSize)65535;
        return skim_vk_buffer_create(vb, &vb->staging, sz < cap ? sz : cap, 0, true, "staging");
    }
    return SKIM_OK;
}

/* Records and submits one transfer command (a copy, or a fill when src is NULL) and waits
 * on the area's fence. */
static skim_status transfer(skim_vk_backend *vb, VkBuffer src, VkDeviceSize soff, VkBuffer dst,
                            VkDeviceSize doff, VkDeviceSize size, uint32_t word) {
    VkCommandBuffer cb = vb->staging_cb;
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    VkResult r = skim_vk_begin(vb, cb, &bi);
    if (r != VK_SUCCESS) {
        return FAIL(vb, skim_vk_status(r), "vulkan: transfer: %s", skim_vk_result_str(r));
    }
    /* After any earlier run's reads and writes of these buffers (compute shaders and
     * transfers are all skim records; the host's writes of the staging area are made
     * visible by the submission itself). */
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    vb->d.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                               VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    if (src) {
        VkBufferCopy c = {soff, doff, size};
        vb->d.vkCmdCopyBuffer(cb, src, dst, 1, &c);
    } else {
        vb->d.vkCmdFillBuffer(cb, dst, doff, size, word);
    }
    /* The copy's writes visible to the host (a download) and to later commands. */
    VkMemoryBarrier after = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                         VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    vb->d.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                               VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1,
                               &after, 0, NULL, 0, NULL);
    r = vb->d.vkEndCommandBuffer(cb);
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &cb,
    };
    if (r == VK_SUCCESS) {
        r = vb->d.vkQueueSubmit(vb->queue, 1, &si, vb->staging_fence);
        vb->n_submits++;
    }
    if (r == VK_SUCCESS) {
        r = vb->d.vkWaitForFences(vb->dev, 1, &vb->staging_fence, VK_TRUE, UINT64_MAX);
        VkResult rr = vb->d.vkResetFences(vb->dev, 1, &vb->staging_fence);
        r = r == VK_SUCCESS ? rr : r;
    }
    if (r != VK_SUCCESS) {
        return FAIL(vb, skim_vk_status(r), "vulkan: transfer: %s", skim_vk_result_str(r));
    }
    return SKIM_OK;
}

/* A staging area in memory that is not host-coherent: the host's writes flushed before a
 * transfer reads them, the device's invalidated before the host reads them. */
static void staging_sync(skim_vk_backend *vb, bool flush) {
    if (vb->staging.coherent) {
        return;
    }
    VkMappedMemoryRange mr = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                              .memory = vb->staging.mem, .size = VK_WHOLE_SIZE};
    if (flush) {
        vb->d.vkFlushMappedMemoryRanges(vb->dev, 1, &mr);
    } else {
        vb->d.vkInvalidateMappedMemoryRanges(vb->dev, 1, &mr);
    }
}

/* Host <-> device through the staging area, in pieces of at most its size. */
static skim_status staged(skim_vk_backend *vb, skim_vk_buffer *b, VkDeviceSize off, void *data,
                          size_t size, bool up) {
    skim_vk_lock(vb);
    skim_status s = staging_ready(vb, size);
    for (size_t done = 0; s == SKIM_OK && done < size;) {
        size_t n = size - done < vb->staging.size ? size - done : (size_t)vb->staging.size;
        if (up) {
            memcpy(vb->staging.map, (const char *)data + done, n);
            staging_sync(vb, true);
            s = transfer(vb, vb->staging.buf, 0, b->buf, off + done, n, 0);
        } else {
            s = transfer(vb, b->buf, off + done, vb->staging.buf, 0, n, 0);
            if (s == SKIM_OK) {
                staging_sync(vb, false);
                memcpy((char *)data + done, vb->staging.map, n);
            }
        }
        done += n;
    }
    skim_vk_unlock(vb);
    return s;
}

skim_status skim_vk_upload(skim_vk_backend *vb, skim_vk_buffer *b, VkDeviceSize off,
                           const void *data, size_t size) {
    if (size == 0) {
        return SKIM_OK;
    }
    if (b->map) {
        memcpy((char *)b->map + off, data, size);
        if (!b->coherent) {
            VkMappedMemoryRange mr = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                                      .memory = b->mem, .size = VK_WHOLE_SIZE};
            vb->d.vkFlushMappedMemoryRanges(vb->dev, 1, &mr);
        }
        return SKIM_OK;
    }
    return staged(vb, b, off, (void *)(uintptr_t)data, size, true);
}

skim_status skim_vk_download(skim_vk_backend *vb, skim_vk_buffer *b, VkDeviceSize off,
                             void *data, size_t size) {
    if (size == 0) {
        return SKIM_OK;
    }
    if (b->map) {
        if (!b->coherent) {
            VkMappedMemoryRange mr = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                                      .memory = b->mem, .size = VK_WHOLE_SIZE};
            vb->d.vkInvalidateMappedMemoryRanges(vb->dev, 1, &mr);
        }
        memcpy(data, (const char *)b->map + off, size);
        return SKIM_OK;
    }
    return staged(vb, b, off, data, size, false);
}

skim_status skim_vk_fill(skim_vk_backend *vb, skim_vk_buffer *b, VkDeviceSize off,
                         VkDeviceSize size, uint32_t word) {
    if (size == 0) {
        return SKIM_OK;
    }
    if (!b->map) {
        /* Whole words: buffers are packed at SKIM_ALIGN, so rounding up stays inside. */
        skim_vk_lock(vb);
        skim_status s = staging_ready(vb, 0);
        if (s == SKIM_OK) {
            s = transfer(vb, VK_NULL_HANDLE, 0, b->buf, off, (size + 3) & ~(VkDeviceSize)3, word);
        }
        skim_vk_unlock(vb);
        return s;
    }
    uint32_t chunk[1024];
    for (int k = 0; k < 1024; k++) {
        chunk[k] = word;
    }
    for (VkDeviceSize done = 0; done < size;) {
        size_t n = size - done > sizeof chunk ? sizeof chunk : (size_t)(size - done);
        skim_status s = skim_vk_upload(vb, b, off + done, chunk, n);
        if (s != SKIM_OK) {
            return s;
        }
        done += n;
    }
    return SKIM_OK;
}

/* ---------------------------------------------------------------- blocks
 * A store's weights (or states) can pass maxMemoryAllocationSize (a 1B model's weights,
 * 1-4 GiB in F16 or Q8_0, against 1-4 GiB on many devices), or the largest heap: they go
 * into several buffers, filled in list order, a new one begun where the next tensor would
 * pass vb->block_max. A tensor is never split between two: bindings name one buffer. */

skim_status skim_vk_blocks_make(skim_vk_backend *vb, skim_vk_blocks *out,
                                const VkDeviceSize *sizes, int n, const char *what) {
    memset(out, 0, sizeof *out);
    out->b = skim_calloc(&vb->be->alloc, (size_t)(n ? n : 1), sizeof *out->b);
    skim_status st = out->b ? SKIM_OK
                            : FAIL(vb, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    for (int b = 0; st == SKIM_OK && b < n; b++) {
        st = skim_vk_buffer_create(vb, &out->b[b], sizes[b], VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                                   false, what);
        out->n = st == SKIM_OK ? b + 1 : b;
    }
    if (st != SKIM_OK) {
        skim_vk_blocks_destroy(vb, out);
    }
    return st;
}

skim_status skim_vk_blocks_create(skim_vk_backend *vb, skim_vk_blocks *out,
                                  skim_tensor *const *list, int n, VkDeviceSize *offs, int *blk,
                                  bool guard, const char *what) {
    memset(out, 0, sizeof *out);
    VkDeviceSize *sizes = skim_calloc(&vb->be->alloc, (size_t)n + 1, sizeof *sizes);
    if (!sizes) {
        return FAIL(vb, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    int bad = -1;
    int nb = skim_vk_guard_pack_blocks(guard, vb->block_max, offs, blk, sizes, list, n, &bad);
    if (nb < 0) {
        skim_free(&vb->be->alloc, sizes);
        return FAIL(vb, SKIM_ERR_TOO_LARGE, "vulkan: %s tensor %s needs %llu bytes (more "
                    "with alignment%s), past the %llu bytes one device allocation holds here (the "
                    "smaller of maxMemoryAllocationSize and the largest heap)", what,
                    list[bad]->name[0] ? list[bad]->name : "#",
                    (unsigned long long)skim_tensor_nbytes(list[bad]), guard ? " and guards" : "",
                    (unsigned long long)vb->block_max);
    }
    skim_status st = skim_vk_blocks_make(vb, out, sizes, nb, what);
    skim_free(&vb->be->alloc, sizes);
    return st;
}

void skim_vk_blocks_destroy(skim_vk_backend *vb, skim_vk_blocks *bl) {
    for (int b = 0; bl->b && b < bl->n; b++) {
        skim_vk_buffer_destroy(vb, &bl->b[b]);
    }
    skim_free(&vb->be->alloc, bl->b);
    memset(bl, 0, sizeof *bl);
}
