/* vk_counting_alloc.h - VkAllocationCallbacks that count live driver allocations, for the
 * Vulkan leak checks. pUserData is a `long *`, the live count; a 64-byte header in front of
 * each block keeps its size for reallocation (alignments above 64 are refused). */
#ifndef SKIM_TEST_VK_COUNTING_ALLOC_H
#define SKIM_TEST_VK_COUNTING_ALLOC_H

#ifndef VK_NO_PROTOTYPES
#  define VK_NO_PROTOTYPES
#endif
#include <vulkan/vulkan.h>

#include <stdlib.h>
#include <string.h>

#define VK_HDR 64

static inline void *VKAPI_PTR vk_alloc(void *user, size_t size, size_t align,
                                       VkSystemAllocationScope s) {
    (void)s;
    if (align > VK_HDR) return NULL;
    char *p = aligned_alloc(VK_HDR, ((size + 2 * VK_HDR - 1) / VK_HDR) * VK_HDR);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    ++*(long *)user;
    return p + VK_HDR;
}

static inline void VKAPI_PTR vk_free(void *user, void *mem) {
    if (!mem) return;
    --*(long *)user;
    free((char *)mem - VK_HDR);
}

static inline void *VKAPI_PTR vk_realloc(void *user, void *orig, size_t size, size_t align,
                                         VkSystemAllocationScope s) {
    if (!orig) return vk_alloc(user, size, align, s);
    if (size == 0) {
        vk_free(user, orig);
        return NULL;
    }
    size_t old;
    memcpy(&old, (char *)orig - VK_HDR, sizeof old);
    void *n = vk_alloc(user, size, align, s);
    if (!n) return NULL;
    memcpy(n, orig, old < size ? old : size);
    vk_free(user, orig);
    return n;
}

#endif
