/* fuzz_gguf.c - libFuzzer target for the GGUF reader, and the tokenizer and model loaders
 * fed from it. Built with clang -fsanitize=fuzzer,address,undefined whenever such a clang is
 * found (tests/models.cmake, SKIM_FUZZER) and run by ctest as fuzz_gguf_short;
 * fuzz_main.c runs the same entry point over the checked-in corpus in ordinary builds. */
#include "gguf_walk.h"
#include "skim-model.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    skim_gguf *g = NULL;
    skim_gguf_error err;
    if (skim_gguf_open_memory(data, size, NULL, &g, &err) == SKIM_OK) {
        volatile unsigned h = gguf_walk(g);
        (void)h;
        /* The model loader reads the same file: hyper-parameters, tensor shapes, types. */
        skim_model *m = NULL;
        char msg[SKIM_MODEL_MSG_LEN];
        if (skim_model_load(g, NULL, &m, msg, sizeof msg) == SKIM_OK) {
            h = (unsigned)skim_model_n_ctx(m) + (unsigned)skim_model_get_hparams(m)->n_vocab;
            skim_model_destroy(m);
        }
        skim_gguf_destroy(g);
    }
    /* The same bytes as a llama2.c tokenizer.bin. */
    skim_tokenizer *tok = NULL;
    if (skim_tokenizer_load_memory(data, size, NULL, &tok) == SKIM_OK) {
        int32_t ids[16];
        int64_t n = 0;
        skim_tokenizer_encode(tok, "abc", 3, true, false, ids, 16, &n);
        skim_tokenizer_destroy(tok);
    }
    return 0;
}
