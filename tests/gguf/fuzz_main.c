/* fuzz_main.c - runs the fuzz target over files given on the command line (the corpus),
 * for builds without libFuzzer. A crash or sanitizer report fails the test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *q = realloc(buf, cap);
            if (!q) {
                free(buf);
                fclose(f);
                return 1;
            }
            buf = q;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    /* Every prefix too: truncation at each byte is the commonest malformation. */
    for (size_t k = 0; k <= n; k++) {
        uint8_t *copy = malloc(k ? k : 1);
        if (!copy) break;
        for (size_t i = 0; i < k; i++) copy[i] = buf[i];
        LLVMFuzzerTestOneInput(copy, k);
        free(copy);
    }
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    int bad = 0;
    for (int i = 1; i < argc; i++) bad |= run_file(argv[i]);
    printf("%d files run through the GGUF reader\n", argc - 1);
    return bad;
}
