/* fuzz_diff_main.c - runs fuzz_diff.c's entry point without libFuzzer: over the files
 * given (tests/fuzz/corpus_diff), and with --random N over N inputs drawn from a fixed
 * seed (so the regular and sanitizer builds cover more than the seeds). Exits 77 when
 * there is no Vulkan device. A disagreement aborts (fuzz_diff.c says what differed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern long fuzz_diff_counts[2];
extern const int fuzz_diff_n_kinds;
extern long fuzz_diff_steps[][2];
extern const char *const fuzz_diff_kinds[];

int main(int argc, char **argv) {
    long runs = 0;
    static uint8_t buf[1 << 16];
    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--random") == 0 && i + 1 < argc) {
            long n = atol(argv[++i]);
            uint64_t s = 0x9e3779b97f4a7c15u;
            for (long k = 0; k < n; k++) {
                size_t len = 32 + (size_t)(k % 200);
                for (size_t j = 0; j < len; j++) {
                    s = s * 6364136223846793005u + 1442695040888963407u;
                    buf[j] = (uint8_t)(s >> 56);
                }
                LLVMFuzzerTestOneInput(buf, len);
                runs++;
            }
            continue;
        }
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            printf("FAIL: cannot open %s\n", argv[i]);
            return 1;
        }
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        runs++;
    }
    if (runs > 0 && fuzz_diff_counts[0] == 0) {
        printf("SKIP: no graph was run (no Vulkan device?)\n");
        return 77;
    }
    for (int k = 0; k < fuzz_diff_n_kinds; k++)
        printf("  %-50s %6ld built, %6ld refused\n", fuzz_diff_kinds[k], fuzz_diff_steps[k][0], fuzz_diff_steps[k][1]);
    printf("PASSED: %ld inputs through fuzz_diff: %ld graphs built, %ld run on both backends and "
           "agreeing\n", runs, fuzz_diff_counts[0], fuzz_diff_counts[1]);
    return 0;
}
