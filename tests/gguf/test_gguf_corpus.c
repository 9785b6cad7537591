/* test_gguf_corpus.c - one malformed (or valid) GGUF file from tests/gguf/corpus.
 *
 *   test_gguf_corpus FILE
 *
 * The file name's prefix is the status every way of opening it must return (ok_, format_,
 * too_large_). Checks, for the file opened memory-mapped, read, and from memory: the
 * exact status, a message on failure, the output untouched on failure, and then, failing
 * each allocation in turn, OUT_OF_MEMORY (or the expected status) with nothing leaked. */
#include "gguf_test.h"
#include "gguf_walk.h"

static skim_status expected_status(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strncmp(base, "ok_", 3) == 0) return SKIM_OK;
    if (strncmp(base, "format_", 7) == 0) return SKIM_ERR_FORMAT;
    if (strncmp(base, "too_large_", 10) == 0) return SKIM_ERR_TOO_LARGE;
    fprintf(stderr, "%s: the name does not say the expected status\n", path);
    exit(1);
}

static unsigned char *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    CHECK(n >= 0 && fseek(f, 0, SEEK_SET) == 0);
    unsigned char *buf = malloc((size_t)n + 1);
    CHECK(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

typedef enum { OPEN_MAP, OPEN_READ, OPEN_MEMORY } open_mode;

static skim_status open_as(open_mode mode, const char *path, const unsigned char *buf, size_t size,
                           const skim_allocator *alloc, skim_gguf **g, skim_gguf_error *err) {
    skim_gguf_desc desc;
    memset(&desc, 0, sizeof desc);
    if (alloc) desc.allocator = *alloc;
    if (mode == OPEN_READ) desc.load = SKIM_GGUF_LOAD_READ;
    if (mode == OPEN_MEMORY) return skim_gguf_open_memory(buf, size, &desc, g, err);
    return skim_gguf_open_file(path, &desc, g, err);
}

static void check_mode(open_mode mode, const char *path, const unsigned char *buf, size_t size,
                       skim_status want) {
    skim_gguf *sentinel = (skim_gguf *)(void *)&sentinel, *g = sentinel;
    skim_gguf_error err;
    skim_status s = open_as(mode, path, buf, size, NULL, &g, &err);
    if (s != want) {
        fprintf(stderr, "%s (mode %d): %s, expected %s: %s\n", path, (int)mode,
                skim_status_str(s), skim_status_str(want), err.msg);
        exit(1);
    }
    if (s == SKIM_OK) {
        CHECK(g != sentinel);
        gguf_walk(g);
        skim_gguf_destroy(g);
        if (mode == OPEN_MAP) printf("  opened (%s)\n", size ? "ok" : "empty");
        return;
    }
    CHECK(g == sentinel);
    CHECK(err.status == s);
    CHECK(err.msg[0] != '\0');
    CHECK(err.offset <= size);
    if (mode == OPEN_MAP) printf("  %s at offset %llu: %s\n", skim_status_str(s),
                                 (unsigned long long)err.offset, err.msg);
}

/* Fails allocation 0, 1, 2, ... until opening gets past every allocation. */
static void check_oom(open_mode mode, const char *path, const unsigned char *buf, size_t size,
                      skim_status want) {
    for (long n = 0; n < 64; n++) {
        test_alloc ta = {0, 0, 0, n};
        skim_allocator a = test_allocator(&ta);
        skim_gguf *g = NULL;
        skim_gguf_error err;
        skim_status s = open_as(mode, path, buf, size, &a, &g, &err);
        if (s == SKIM_OK) skim_gguf_destroy(g);
        CHECK(test_live(&ta) == 0);
        if (ta.n_alloc <= n) {
            CHECK(s == want); /* no allocation was failed: the real answer */
            return;
        }
        if (s != SKIM_ERR_OUT_OF_MEMORY && s != want) {
            fprintf(stderr, "%s: allocation %ld failed gave %s\n", path, n, skim_status_str(s));
            exit(1);
        }
    }
    CHECK(!"more than 64 allocations to open a corpus file");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_gguf_corpus FILE\n");
        return 2;
    }
    const char *path = argv[1];
    skim_status want = expected_status(path);
    size_t size;
    unsigned char *buf = read_all(path, &size);
    printf("%s (%zu bytes), expecting %s\n", path, size, skim_status_str(want));
    for (int m = OPEN_MAP; m <= OPEN_MEMORY; m++) {
        check_mode((open_mode)m, path, buf, size, want);
        check_oom((open_mode)m, path, buf, size, want);
    }
    free(buf);
    return 0;
}
