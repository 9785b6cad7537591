/* test_backends.h - the backends every golden and property test runs on: the CPU
 * backend as backend 0 and, when built with SKIM_TEST_HAVE_VULKAN, the Vulkan backend
 * as backend 1 (made by test_vulkan_create in tests/common/test_vulkan.c). */
#ifndef SKIM_TEST_BACKENDS_H
#define SKIM_TEST_BACKENDS_H

#include "skim-backend.h"

int test_backend_count(void);
/* Creates backend i (0: CPU with one thread). The caller destroys it. */
skim_status test_backend_create(int i, skim_backend **out);
/* Prints "backend i: name (device)" to stdout. */
void test_backend_print(int i, const skim_backend *be);
/* The exit status of a test that passed on the CPU while a backend built in had no
 * device here (ctest's SKIP_RETURN_CODE). */
#define TEST_SKIP 77
/* Creates every backend that can be created here into be[] (at most 4) and prints each.
 * The CPU backend must be created (else 0 is returned and a failure printed); another
 * backend without a device (DEVICE, UNSUPPORTED) is left out with a note and counted
 * in *unavailable; any other error is a failure. Returns the number created. */
int test_backend_open(skim_backend **be, int *unavailable);

/* tests/common/test_vulkan.c (linked where the Vulkan backend is built): the Vulkan
 * backend as every test makes it. */
skim_status test_vulkan_create(skim_backend **out);
/* test_vulkan.c: test_vulkan_create with the environment variable `var` set to `value`
 * (the backend's stand-in limits and modes, read when it is made), unset afterwards. */
skim_status test_vulkan_create_with(const char *var, const char *value, skim_backend **out);
/* test_vulkan.c: the three backends of a stand-in limit's test: a CPU one, a plain Vulkan
 * one (var unset) and one made with var=value (*vk_with NULL, with a line saying why, when
 * that fails: the caller's check). Returns 0, 1 (no CPU backend) or 77 (no Vulkan device),
 * with nothing left to free unless 0. */
int test_vulkan_pair_with(const char *var, const char *value, skim_backend **cpu,
                          skim_backend **vk, skim_backend **vk_with);

#endif /* SKIM_TEST_BACKENDS_H */
