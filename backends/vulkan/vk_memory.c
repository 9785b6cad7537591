/* vk_memory.c - buffers (one allocation each: a plan has a handful), and the uploads and
 * downloads between host and device: a memcpy where memory is host-visible, a staging
 * buffer and a one-off command buffer otherwise. */
#include "vk-int.h"

#include <string.h>

#define FAIL(vb, st, ...) skim_backend_fail((vb)->be, st, __VA_ARGS__)

static int find_type(const skim_vk_backend *vb, uint32_t bits, VkMemoryPropertyFlags want) {
    for (uint32_t k = 0; k < vb->memprops.memoryTypeCount; k++) {
        if ((bits & (1u << k)) && (vb->memprops.memoryTypes[k].propertyFlags & want) == want) {
            return (int)k;
        }
    }
    return -1;
}

skim_status skim_vk_buffer_create(skim_vk_backend *vb, skim_vk_buffer *b, VkDeviceSize size,
                                  VkBufferUsageFlags usage, bool host, const char *what) {
    memset(b, 0, sizeof *b);
    if (size == 0) {
        size = 16;
    }
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = size;
    bi.usage = usage | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    VkResult r = vb->d.vkCreateBuffer(vb->dev, &bi, vb->vka, &b->buf);
    if (r != VK_SUCCESS) {
        return FAIL(vb, skim_vk_status(r), "vulkan: %s buffer of %llu bytes: %s", what,
                    (unsigned long long)size, skim_vk_result_str(r));
    }
    VkMemoryRequirements req;
    vb->d.vkGetBufferMemoryRequirements(vb->dev, b->buf, &req);
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    const VkMemoryPropertyFlags dl = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    int type = host ? find_type(vb, req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)
                    : find_type(vb, req.memoryTypeBits, dl | hv | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    if (type < 0) {
        type = find_type(vb, req.memoryTypeBits, host ? hv : dl);
    }
    if (type < 0) {
        type = find_type(vb, req.memoryTypeBits, 0);
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = req.size;
    ai.memoryTypeIndex = (uint32_t)type;
    r = vb->d.vkAllocateMemory(vb->dev, &ai, vb->vka, &b->mem);
    if (r == VK_SUCCESS) {
        b->mem_bytes = req.size;
        skim_mem_counter_device(&vb->be->mem, req.size, true);
    }
    if (r != VK_SUCCESS) {
        skim_vk_buffer_destroy(vb, b);
        return FAIL(vb, r == VK_ERROR_OUT_OF_HOST_MEMORY ? SKIM_ERR_OUT_OF_MEMORY
                    : SKIM_ERR_DEVICE_MEMORY, "vulkan: allocating %llu bytes for the %s buffer: %s",
                    (unsigned long long)req.size, what, skim_vk_result_str(r));
    }
    r = vb->d.vkBindBufferMemory(vb->dev, b->buf, b->mem, 0);
    VkMemoryPropertyFlags fl = vb->memprops.memoryTypes[type].propertyFlags;
    if (r == VK_SUCCESS && (fl & hv)) {
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

/* Runs a one-off command (a copy, or a fill when src is NULL) and waits for it. */
static skim_status one_off(skim_vk_backend *vb, VkBuffer src, VkDeviceSize soff, VkBuffer dst,
                           VkDeviceSize doff, VkDeviceSize size, uint32_t word) {
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = vb->pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VkCommandBuffer cb;
    VkResult r = vb->d.vkAllocateCommandBuffers(vb->dev, &ai, &cb);
    if (r != VK_SUCCESS) {
        return FAIL(vb, skim_vk_status(r), "vulkan: command buffer: %s", skim_vk_result_str(r));
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    skim_vk_begin(vb, cb, &bi);
    /* After any earlier run's reads and writes of these buffers. */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    vb->d.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                               VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    if (src) {
        VkBufferCopy c = {soff, doff, size};
        vb->d.vkCmdCopyBuffer(cb, src, dst, 1, &c);
    } else {
        vb->d.vkCmdFillBuffer(cb, dst, doff, size, word);
    }
    vb->d.vkEndCommandBuffer(cb);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cb;
    r = vb->d.vkQueueSubmit(vb->queue, 1, &si, VK_NULL_HANDLE);
    vb->n_submits++;
    if (r == VK_SUCCESS) {
        r = vb->d.vkQueueWaitIdle(vb->queue);
    }
    vb->d.vkFreeCommandBuffers(vb->dev, vb->pool, 1, &cb);
    if (r != VK_SUCCESS) {
        return FAIL(vb, skim_vk_status(r), "vulkan: copy: %s", skim_vk_result_str(r));
    }
    return SKIM_OK;
}

skim_status skim_vk_upload(skim_vk_backend *vb, skim_vk_buffer *b, VkDeviceSize off,
                           const void *data, size_t size) {
    if (size == 0) {
        return SKIM_OK;
    }
    if (b->map) {
        memcpy((char *)b->map + off, data, size);
        if (!b->coherent) {
            VkMappedMemoryRange mr = {VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, NULL, b->mem, 0,
                                      VK_WHOLE_SIZE};
            vb->d.vkFlushMappedMemoryRanges(vb->dev, 1, &mr);
        }
        return SKIM_OK;
    }
    skim_vk_buffer st;
    skim_status s = skim_vk_buffer_create(vb, &st, size, 0, true, "staging");
    if (s != SKIM_OK) {
        return s;
    }
    memcpy(st.map, data, size);
    s = one_off(vb, st.buf, 0, b->buf, off, size, 0);
    skim_vk_buffer_destroy(vb, &st);
    return s;
}

skim_status skim_vk_download(skim_vk_backend *vb, skim_vk_buffer *b, VkDeviceSize off,
                             void *data, size_t size) {
    if (size == 0) {
        return SKIM_OK;
    }
    if (b->map) {
        if (!b->coherent) {
            VkMappedMemoryRange mr = {VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, NULL, b->mem, 0,
                                      VK_WHOLE_SIZE};
            vb->d.vkInvalidateMappedMemoryRanges(vb->dev, 1, &mr);
        }
        memcpy(data, (const char *)b->map + off, size);
        return SKIM_OK;
    }
    skim_vk_buffer st;
    skim_status s = skim_vk_buffer_create(vb, &st, size, 0, true, "staging");
    if (s != SKIM_OK) {
        return s;
    }
    s = one_off(vb, b->buf, off, st.buf, 0, size, 0);
    if (s == SKIM_OK) {
        memcpy(data, st.map, size);
    }
    skim_vk_buffer_destroy(vb, &st);
    return s;
}

skim_status skim_vk_fill(skim_vk_backend *vb, skim_vk_buffer *b, VkDeviceSize off,
                         VkDeviceSize size, uint32_t word) {
    if (size == 0) {
        return SKIM_OK;
    }
    if (!b->map) {
        /* Whole words: buffers are packed at SKIM_ALIGN, so rounding up stays inside. */
        return one_off(vb, VK_NULL_HANDLE, 0, b->buf, off, (size + 3) & ~(VkDeviceSize)3, word);
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
