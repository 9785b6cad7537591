/* model_check.h - the failure counter and CHECK of the model tests (which link no test
 * library): a failed check prints "FAIL file:line: message" and counts; and a GGUF
 * writer's file in memory. */
#ifndef SKIM_MODEL_CHECK_H
#define SKIM_MODEL_CHECK_H

#include "skim-gguf.h"
#include "skim-model.h"

#include <stdio.h>
#include <stdlib.h>

static int failures;
#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            failures++;                                                     \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                     \
            printf(__VA_ARGS__);                                            \
            printf("\n");                                                   \
        }                                                                   \
    } while (0)

/* The writer's file in a malloc'd buffer of *size bytes (NULL on failure); destroys w. */
static inline void *model_check_write(skim_gguf_writer *w, size_t *size) {
    uint64_t n = 0;
    void *buf = NULL;
    if (skim_gguf_writer_query_size(w, &n) == SKIM_OK && (buf = malloc(n)) != NULL &&
        skim_gguf_writer_write_memory(w, buf, n) != SKIM_OK) {
        free(buf);
        buf = NULL;
    }
    skim_gguf_writer_destroy(w);
    *size = (size_t)n;
    return buf;
}

/* buf's n bytes opened as a GGUF (*g; a failure to open counts) and loaded with the
 * default options (*m, msg): the load's status, or the open's. */
static inline skim_status model_check_load(const void *buf, size_t n, skim_gguf **g,
                                           skim_model **m, char *msg, size_t msg_size) {
    skim_gguf_error err;
    *g = NULL;
    *m = NULL;
    skim_status s = buf ? skim_gguf_open_memory(buf, n, NULL, g, &err) : SKIM_ERR_OUT_OF_MEMORY;
    CHECK(s == SKIM_OK, "file not written or not read: %s", buf ? err.msg : "no buffer");
    return s == SKIM_OK ? skim_model_load(*g, NULL, m, msg, msg_size) : s;
}

#endif /* SKIM_MODEL_CHECK_H */
