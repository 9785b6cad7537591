/* vk_custom.h - what the custom-op files of the Vulkan backend share (vk_custom.c, the
 * cache and dispatch; vk_custom_pc.c, the push-constant size of a SPIR-V module). */
#ifndef SKIM_VK_CUSTOM_H
#define SKIM_VK_CUSTOM_H

#include "skim-impl.h"

/* The bytes the module's push-constant block spans (the end of its last member) into
 * *bytes: 0 when it declares none. False when it cannot tell (ids past 65536, a type it
 * does not size, out of memory): then nothing is checked. */
SKIM_HIDDEN bool skim_vk_custom_pc_bytes(const skim_allocator *a, const uint32_t *w, size_t n,
                                         uint32_t *bytes);

#endif /* SKIM_VK_CUSTOM_H */
