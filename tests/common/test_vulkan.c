/* test_vulkan.c - the Vulkan backend as the tests use it: validation layer on, and a debug
 * messenger that records every message. Any message fails the process at exit, whatever
 * the test's own verdict (atexit). With SKIM_TEST_VK_SYNC=1, synchronization validation
 * is on too. No Vulkan device: the program prints why and exits 77 (ctest SKIP). */
#include "test_backends.h"

#include "skim-vulkan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_vk_messages;

static void vk_message(void *user, uint32_t severity, uint32_t type, const char *message) {
    (void)user;
    g_vk_messages++;
    printf("VULKAN VALIDATION (severity 0x%x, type 0x%x): %s\n", severity, type, message);
    fflush(stdout);
}

static void vk_check_messages(void) {
    if (g_vk_messages > 0) {
        printf("FAILED: %d Vulkan validation message(s)\n", g_vk_messages);
        fflush(stdout);
        _Exit(1);
    }
}

skim_status test_vulkan_create(skim_backend **out) {
    static int registered;
    if (!registered) {
        registered = 1;
        atexit(vk_check_messages);
    }
    skim_vulkan_desc d;
    memset(&d, 0, sizeof d);
    d.validation = getenv("SKIM_TEST_VK_NO_VALIDATION") ? SKIM_VK_OFF : SKIM_VK_ON;
    const char *sync = getenv("SKIM_TEST_VK_SYNC");
    d.sync_validation = sync && strcmp(sync, "1") == 0;
    d.debug = vk_message;
    char msg[256];
    skim_status s = skim_backend_create_vulkan_msg(&d, out, msg, sizeof msg);
    if (s == SKIM_ERR_DEVICE && strstr(msg, "not installed")) {
        /* No validation layer: run without it rather than not at all, and say so. */
        printf("note: %s; running without validation\n", msg);
        d.validation = SKIM_VK_OFF;
        s = skim_backend_create_vulkan_msg(&d, out, msg, sizeof msg);
    }
    if (s == SKIM_ERR_DEVICE) {
        printf("SKIP: no usable Vulkan device: %s\n", msg);
        fflush(stdout);
        exit(77);
    }
    if (s != SKIM_OK) {
        printf("vulkan backend: %s: %s\n", skim_status_str(s), msg);
    }
    return s;
}
