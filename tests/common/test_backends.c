#include "test_backends.h"

#include "skim-cpu.h"
#include "test_common.h"

#include <stdio.h>

int test_backend_count(void) {
#ifdef SKIM_TEST_HAVE_VULKAN
    return 2;
#else
    return 1;
#endif
}

skim_status test_backend_create(int i, skim_backend **out) {
    if (i == 0) {
        skim_cpu_desc d = {0};
        d.n_threads = 1;
        d.max_isa = test_cpu_isa();
        return skim_backend_create_cpu(&d, out);
    }
#ifdef SKIM_TEST_HAVE_VULKAN
    if (i == 1) return test_vulkan_create(out);
#endif
    return SKIM_ERR_INVALID_ARG;
}

void test_backend_print(int i, const skim_backend *be) {
    printf("backend %d: %s (%s)\n", i, skim_backend_name(be), skim_backend_device(be));
    fflush(stdout);
}

int test_backend_open(skim_backend **be, int *unavailable) {
    int n = 0;
    *unavailable = 0;
    for (int i = 0; i < test_backend_count() && n < 4; i++) {
        skim_backend *b = NULL;
        skim_status s = test_backend_create(i, &b);
        if (s == SKIM_OK) {
            test_backend_print(i, b);
            be[n++] = b;
        } else if (i > 0 && (s == SKIM_ERR_DEVICE || s == SKIM_ERR_UNSUPPORTED)) {
            printf("note: backend %d is built in but unavailable here (%s); testing the others\n", i,
                   skim_status_str(s));
            (*unavailable)++;
        } else {
            printf("FAIL: backend %d could not be created: %s\n", i, skim_status_str(s));
            for (int j = 0; j < n; j++) skim_backend_destroy(be[j]);
            return 0;
        }
    }
    fflush(stdout);
    return n;
}
