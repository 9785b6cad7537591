/* fuzz_bytes.h - the fuzz targets' reader of the fuzzer's bytes: past the end every byte
 * reads as 0, so that any prefix of an input is an input too. */
#ifndef SKIM_FUZZ_BYTES_H
#define SKIM_FUZZ_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct bytes {
    const uint8_t *p;
    size_t n, i;
} bytes;

static inline uint8_t u8(bytes *b) {
    return b->i < b->n ? b->p[b->i++] : 0;
}

#endif
