/* test_vulkan.c - the Vulkan backend as the tests use it: validation layer on, and a debug
 * messenger that records every message. Any message fails the process at exit, whatever
 * the test's own verdict (atexit). With SKIM_TEST_VK_SYNC=1, synchronization validation
 * is on too. Guard bytes (skim_vulkan_desc.guard_bytes) are on unless
 * SKIM_TEST_VK_NO_GUARD is set. No validation layer installed: the test fails (unless
 * SKIM_TEST_VK_NO_VALIDATION=1). No Vulkan device: the program prints why and exits 77
 * (ctest SKIP), or fails with SKIM_TEST_VK_REQUIRE=1 (CI, where lavapipe must exist). */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* setenv */
#endif
#include "test_backends.h"

#include "skim-cpu.h"
#include "skim-vulkan.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_vk_messages, g_vk_explained;

/* SKIM_TEST_VK_ALLOW: comma-separated message IDs that docs/embedding.md explains (the
 * best-practices runs); those are counted, not failed. Any other message fails. */
static bool explained(const char *message) {
    const char *allow = getenv("SKIM_TEST_VK_ALLOW");
    char id[128];
    for (const char *at = allow; at && *at;) {
        const char *end = strchr(at, ',');
        size_t n = end ? (size_t)(end - at) : strlen(at);
        if (n > 0 && n < sizeof id) {
            memcpy(id, at, n);
            id[n] = '\0';
            char tagged[140];
            snprintf(tagged, sizeof tagged, "[ %s ]", id);
            if (strstr(message, tagged)) {
                return true;
            }
        }
        at = end ? end + 1 : at + n;
    }
    return false;
}

static void vk_message(void *user, uint32_t severity, uint32_t type, const char *message) {
    (void)user;
    if (explained(message)) {
        g_vk_explained++;
        return;
    }
    g_vk_messages++;
    printf("VULKAN VALIDATION (severity 0x%x, type 0x%x): %s\n", severity, type, message);
    fflush(stdout);
}

static void vk_check_messages(void) {
    if (g_vk_explained > 0) {
        printf("%d validation message(s) of the IDs SKIM_TEST_VK_ALLOW lists (explained in "
               "docs/embedding.md)\n", g_vk_explained);
        fflush(stdout);
    }
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
    d.guard_bytes = getenv("SKIM_TEST_VK_NO_GUARD") == NULL; /* stray writes fail the run */
    char msg[256];
    skim_status s = skim_backend_create_vulkan_msg(&d, out, msg, sizeof msg);
    if (s == SKIM_ERR_DEVICE && strstr(msg, "not installed")) {
        /* A test that cannot validate fails: passing unvalidated would hide errors. */
        printf("FAILED: %s (install vulkan-validationlayers, or set "
               "SKIM_TEST_VK_NO_VALIDATION=1 to test without it)\n", msg);
        fflush(stdout);
        exit(1);
    }
    if (s == SKIM_ERR_DEVICE) {
        const char *req = getenv("SKIM_TEST_VK_REQUIRE");
        bool required = req && strcmp(req, "1") == 0;
        printf("%s: no usable Vulkan device: %s\n", required ? "FAILED (SKIM_TEST_VK_REQUIRE=1)"
                                                             : "SKIP", msg);
        fflush(stdout);
        exit(required ? 1 : 77);
    }
    if (s == SKIM_OK) {
        printf("vulkan device under test: %s (validation %s%s, guard bytes %s)\n",
               skim_backend_device(*out), d.validation == SKIM_VK_ON ? "on" : "OFF",
               d.sync_validation ? " + synchronization" : "", d.guard_bytes ? "on" : "off");
        fflush(stdout);
    }
    if (s != SKIM_OK) {
        printf("vulkan backend: %s: %s\n", skim_status_str(s), msg);
    }
    return s;
}

#if !defined(_WIN32)
skim_status test_vulkan_create_with(const char *var, const char *value, skim_backend **out) {
    setenv(var, value, 1);
    skim_status s = test_vulkan_create(out);
    unsetenv(var);
    return s;
}

int test_vulkan_pair_with(const char *var, const char *value, skim_backend **cpu,
                          skim_backend **vk, skim_backend **vk_with) {
    *cpu = *vk = *vk_with = NULL;
    if (skim_backend_create_cpu(NULL, cpu) != SKIM_OK) {
        printf("FAIL: CPU backend\n");
        return 1;
    }
    unsetenv(var);
    if (test_vulkan_create(vk) != SKIM_OK) {
        skim_backend_destroy(*cpu);
        *cpu = NULL;
        return 77; /* test_vulkan_create printed why */
    }
    skim_status s = test_vulkan_create_with(var, value, vk_with);
    if (s != SKIM_OK) {
        printf("the Vulkan backend with %s=%s: %s\n", var, value, skim_status_str(s));
    }
    return 0;
}
#endif
