/* fuzz_graph_main.c - runs fuzz_graph.c's entry point over the files given (the checked-in
 * corpus, tests/fuzz/corpus) and every prefix of each, for builds without libFuzzer: the
 * regular suite and the sanitizer builds. A crash, a trap (a broken API promise) or a
 * sanitizer report fails the test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern long fuzz_graph_counts[3];

int main(int argc, char **argv) {
    long runs = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            printf("FAIL: cannot open %s\n", argv[i]);
            return 1;
        }
        static uint8_t buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        for (size_t k = 0; k <= n; k++) {
            uint8_t *copy = malloc(k ? k : 1); /* exact size: ASan sees reads past the end */
            if (!copy) return 1;
            for (size_t j = 0; j < k; j++) copy[j] = buf[j];
            LLVMFuzzerTestOneInput(copy, k);
            free(copy);
            runs++;
        }
    }
    printf("PASSED: %d files, %ld inputs (every prefix) through fuzz_graph: %ld built a graph, %ld planned, "
           "%ld ran\n", argc - 1, runs, fuzz_graph_counts[0], fuzz_graph_counts[1], fuzz_graph_counts[2]);
    return 0;
}
