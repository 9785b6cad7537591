/* prefill_setup.h - the opening of test_prefill_decode and test_prefill_chunks: the
 * backend named on the command line and the model loaded with a given cache and window. */
#ifndef SKIM_PREFILL_SETUP_H
#define SKIM_PREFILL_SETUP_H

#include "skim-cpu.h"
#include "skim-model.h"
#include "test_common.h"

#include <stdio.h>
#include <string.h>

#ifdef SKIM_TEST_HAVE_VULKAN
skim_status test_vulkan_create(skim_backend **out);
#endif

/* argv: MODEL.gguf cpu|vulkan. Returns 0 with *be and *m (NULL after a counted failure to
 * load), 77 (ctest SKIP: no such backend or no model file, said), or 2 (usage). */
static inline int prefill_setup(int argc, char **argv, int32_t n_ctx, int32_t n_batch,
                                skim_backend **be, skim_model **m) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf cpu|vulkan\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        printf("SKIP: no model file %s (stories260K is made from ../shared/data at configure "
               "time when the data is there)\n", argv[1]);
        return 77;
    }
    fclose(f);
    skim_status bs = SKIM_ERR_UNSUPPORTED;
    if (strcmp(argv[2], "cpu") == 0) bs = skim_backend_create_cpu(NULL, be);
#ifdef SKIM_TEST_HAVE_VULKAN
    else if (strcmp(argv[2], "vulkan") == 0) bs = test_vulkan_create(be);
#endif
    if (bs != SKIM_OK) {
        printf("SKIP: no %s backend\n", argv[2]);
        return 77;
    }
    skim_model_desc md;
    memset(&md, 0, sizeof md);
    md.n_ctx = n_ctx;
    md.n_batch = n_batch;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    *m = NULL;
    CHECK(skim_model_load_file(argv[1], &md, m, msg, sizeof msg) == SKIM_OK, "load: %s", msg);
    return 0;
}

/* A session of m on be with the default desc, or NULL after a counted failure. */
static inline skim_session *prefill_session(skim_model *m, skim_backend *be) {
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_session *s = NULL;
    CHECK(skim_session_create(m, be, NULL, &s, msg, sizeof msg) == SKIM_OK, "session: %s", msg);
    return s;
}

static inline int32_t prefill_argmax(const float *x, int32_t n) {
    int32_t k = 0;
    for (int32_t i = 1; i < n; i++) k = x[i] > x[k] ? i : k;
    return k;
}

#endif /* SKIM_PREFILL_SETUP_H */
