/* test_mixer_errors.c - malformed recurrence blocks (assets/README.md section 9): copies of
 * assets/gated-shakespeare-rec.gguf, written in memory, with one recurrence tensor left
 * out or of the wrong shape, are refused with FORMAT and a message naming the tensor; the
 * unchanged copy loads (so the copy itself is sound); no model is returned on failure.
 *
 *   test_mixer_errors MODEL.gguf      (exit 77, ctest SKIP, when the file is absent) */
#include "skim-model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_check.h"

enum { KEEP, LEAVE_OUT, RESHAPE };

/* The file's hyper-parameters and tensors, with `target` left out or given [ne0 / 2, ne1 * 2]. */
static void *copy_file(const skim_gguf *src, const char *target, int how, size_t *size) {
    skim_gguf_writer *w = NULL;
    if (skim_gguf_writer_create(NULL, &w) != SKIM_OK) return NULL;
    skim_gguf_writer_set_str(w, "general.architecture", "skim-gated");
    static const char *const keys[] = {"skim.context_length", "skim.embedding_length",
                                       "skim.block_count", "skim.feed_forward_length",
                                       "skim.head_count", "skim.halt.hidden"};
    for (int i = 0; i < 6; i++) {
        int64_t v = 0;
        skim_gguf_get_int(src, keys[i], &v);
        skim_gguf_writer_set_u32(w, keys[i], (uint32_t)v);
    }
    for (int64_t i = 0; i < skim_gguf_n_tensors(src); i++) {
        skim_gguf_tensor_info ti;
        if (skim_gguf_tensor_info_get(src, i, &ti) != SKIM_OK) continue;
        int64_t ne[4] = {ti.ne[0], ti.ne[1], ti.ne[2], ti.ne[3]};
        bool hit = strcmp(ti.name, target) == 0;
        if (hit && how == LEAVE_OUT) continue;
        if (hit && how == RESHAPE) {
            ne[0] /= 2;
            ne[1] *= 2;
        }
        skim_gguf_writer_add_tensor(w, ti.name, ti.type, ti.n_dims, ne, ti.data, ti.nbytes);
    }
    return model_check_write(w, size);
}

static void check(const skim_gguf *src, const char *target, int how) {
    size_t n = 0;
    void *buf = copy_file(src, target, how, &n);
    skim_gguf *g = NULL;
    skim_model *m = NULL;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_status s = model_check_load(buf, n, &g, &m, msg, sizeof msg);
    const char *what = how == KEEP ? "unchanged" : how == LEAVE_OUT ? "left out" : "reshaped";
    if (how == KEEP) {
        CHECK(s == SKIM_OK && m, "the unchanged copy: %s (%s)", skim_status_str(s), msg);
    } else {
        CHECK(s == SKIM_ERR_FORMAT && !m && strstr(msg, target), "%s %s: %s (%s), FORMAT naming "
              "it expected", target, what, skim_status_str(s), msg);
    }
    printf("%s %s: %s%s%s\n", target, what, skim_status_str(s), *msg ? ": " : "", msg);
    skim_model_destroy(m);
    skim_gguf_destroy(g);
    free(buf);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_mixer_errors MODEL.gguf\n");
        return 2;
    }
    skim_gguf *src = NULL;
    skim_gguf_error err;
    if (skim_gguf_open_file(argv[1], NULL, &src, &err) != SKIM_OK) {
        printf("SKIP: %s: %s\n", argv[1], err.msg);
        return 77;
    }
    check(src, "blk.1.rec_x.weight", KEEP);
    check(src, "blk.1.rec_a.weight", LEAVE_OUT);
    check(src, "blk.2.rec_b.bias", LEAVE_OUT);
    check(src, "blk.2.rec_out.weight", LEAVE_OUT);
    check(src, "blk.1.rec_x.weight", RESHAPE);
    check(src, "blk.2.rec_a.weight", RESHAPE);
    skim_gguf_destroy(src);
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
