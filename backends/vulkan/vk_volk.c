/* vk_volk.c - volk.c compiled with its globals renamed (skim_volk_rename.h, generated),
 * and a device-table loader that takes vkGetDeviceProcAddr from the caller instead of
 * from volk's global state, so that backends on different instances stay apart. */
#include "vk-int.h"

#include <volk.c>

typedef struct skim_vk_devload {
    VkDevice dev;
    PFN_vkGetDeviceProcAddr gdpa;
} skim_vk_devload;

static PFN_vkVoidFunction skim_vk_devload_fn(void *ctx, const char *name) {
    const skim_vk_devload *l = ctx;
    return l->gdpa(l->dev, name);
}

SKIM_HIDDEN void skim_vk_load_device_table(struct VolkDeviceTable *t, VkDevice dev,
                                           PFN_vkGetDeviceProcAddr gdpa);
void skim_vk_load_device_table(struct VolkDeviceTable *t, VkDevice dev, PFN_vkGetDeviceProcAddr gdpa) {
    skim_vk_devload l = {dev, gdpa};
    volkGenLoadDeviceTable(t, &l, skim_vk_devload_fn);
}
