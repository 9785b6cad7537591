/* test_retrofit_errors.c - the feed-forward key of a gated file (skim.ffn.activation, which
 * a retrofitted llama model sets to "swiglu"): a value the builder does not know is
 * UNSUPPORTED and a value that is not a string is FORMAT, each with a message naming the
 * key; no model is returned. Needs no data files. */
#include "skim-model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_check.h"

/* The hyper-parameters of a gated file (no tensors: the key is read before them). */
static void *make_file(const char *act, bool as_int, size_t *size) {
    skim_gguf_writer *w = NULL;
    if (skim_gguf_writer_create(NULL, &w) != SKIM_OK) return NULL;
    skim_gguf_writer_set_str(w, "general.architecture", "skim-gated");
    static const char *const keys[] = {"skim.context_length", "skim.embedding_length",
                                       "skim.block_count", "skim.feed_forward_length",
                                       "skim.head_count", "skim.halt.hidden"};
    static const uint32_t vals[] = {8, 8, 2, 16, 2, 4};
    for (int i = 0; i < 6; i++) skim_gguf_writer_set_u32(w, keys[i], vals[i]);
    if (as_int) {
        skim_gguf_writer_set_u32(w, "skim.ffn.activation", 1);
    } else {
        skim_gguf_writer_set_str(w, "skim.ffn.activation", act);
    }
    return model_check_write(w, size);
}

static void check(const char *act, bool as_int, skim_status want) {
    size_t n = 0;
    void *buf = make_file(act, as_int, &n);
    skim_gguf *g = NULL;
    skim_model *m = NULL;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_status s = model_check_load(buf, n, &g, &m, msg, sizeof msg);
    CHECK(s == want && !m && strstr(msg, "skim.ffn.activation"),
          "activation %s: %s (%s), %s expected", as_int ? "(an integer)" : act,
          skim_status_str(s), msg, skim_status_str(want));
    printf("activation %s: %s: %s\n", as_int ? "(an integer)" : act, skim_status_str(s), msg);
    skim_model_destroy(m);
    skim_gguf_destroy(g);
    free(buf);
}

int main(void) {
    check("relu", false, SKIM_ERR_UNSUPPORTED);
    check("", false, SKIM_ERR_UNSUPPORTED);
    check(NULL, true, SKIM_ERR_FORMAT);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
