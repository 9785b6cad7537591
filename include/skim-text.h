/* skim-text.h - text in and out of a model: the llama2.c BPE tokenizer and a sampler.
 *
 * The tokenizer behaves as llama2.c's run.c (karpathy/llama2.c): encoding adds a dummy
 * prefix space, splits UTF-8 into code points (a code point missing from the vocabulary
 * falls back to its bytes, the tokens "<0xXX>"), then merges the adjacent pair whose
 * merged string has the highest score until no pair merges. Decoding strips the leading
 * space of a piece that follows BOS and turns "<0xXX>" pieces into their byte.
 *
 * The sampler behaves as run.c's: temperature 0 is greedy argmax; otherwise softmax of
 * logits / temperature, then top-p (nucleus) sampling when 0 < top_p < 1, else sampling
 * from the whole distribution. Randomness is run.c's xorshift64* generator (below), so a
 * seed gives the same sequence on every platform.
 *
 * Tokenizers and samplers are independent objects: a tokenizer is immutable after loading
 * (any number of threads may use it); a sampler is used by one thread at a time. Nothing
 * aborts, exits or prints; a failed call leaves its outputs untouched.
 *
 * Public header: C99 and C++ clean; needs skim.h and skim-gguf.h.
 */
#ifndef SKIM_TEXT_H
#define SKIM_TEXT_H

#include "skim.h"
#include "skim-gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- tokenizer */

typedef struct skim_tokenizer skim_tokenizer;

typedef struct skim_tokenizer_desc {
    skim_allocator allocator; /* zero: malloc/free */
    /* Tokens to read from a tok512/tokenizer.bin file (its format does not store the
     * count: llama2.c takes it from the checkpoint). Zero: read tokens until the end of
     * the file. Ignored for GGUF. */
    int32_t vocab_size;
} skim_tokenizer_desc;

/* Loads llama2.c's tokenizer format ("tokenizer.bin", "tok512.bin"): int32
 * max_token_length, then per token: float32 score, int32 length, the bytes (all
 * little-endian). desc may be NULL. Returns OK, INVALID_ARG, IO, FORMAT (a length
 * negative, past the end of the file, or longer than max_token_length; fewer tokens than
 * vocab_size; a vocabulary without the tokens BOS and EOS), OUT_OF_MEMORY. BOS is 1 and
 * EOS is 2, as in llama2.c. *out is untouched on failure. */
SKIM_API skim_status skim_tokenizer_load_file(const char *path, const skim_tokenizer_desc *desc,
                                              skim_tokenizer **out);
SKIM_API skim_status skim_tokenizer_load_memory(const void *data, size_t size,
                                                const skim_tokenizer_desc *desc,
                                                skim_tokenizer **out);
/* From GGUF metadata: tokenizer.ggml.tokens (array of strings) and tokenizer.ggml.scores
 * (array of float32, same length; absent: all 0), tokenizer.ggml.bos_token_id and
 * eos_token_id (absent: 1 and 2). When tokenizer.ggml.model is "llama" (sentencepiece), the
 * vocabulary's U+2581 marks stand for spaces and become ' ' (llama2.c's form), as the
 * converter writes them. The tokenizer copies what it needs: g may be destroyed
 * afterwards. Returns OK, INVALID_ARG, FORMAT (keys missing, wrong types or lengths, ids
 * out of range), OUT_OF_MEMORY. */
SKIM_API skim_status skim_tokenizer_load_gguf(const skim_gguf *g, const skim_tokenizer_desc *desc,
                                              skim_tokenizer **out);
SKIM_API void skim_tokenizer_destroy(skim_tokenizer *t);

SKIM_API int32_t skim_tokenizer_n_vocab(const skim_tokenizer *t);
SKIM_API int32_t skim_tokenizer_bos(const skim_tokenizer *t);
SKIM_API int32_t skim_tokenizer_eos(const skim_tokenizer *t);
/* The vocabulary string of a token (NUL-terminated; *len its length, may be NULL) and its
 * score; NULL / 0 when id is out of range. */
SKIM_API const char *skim_tokenizer_token(const skim_tokenizer *t, int32_t id, size_t *len);
SKIM_API float skim_tokenizer_score(const skim_tokenizer *t, int32_t id);

/* Encodes len bytes of text (need not be NUL-terminated) as run.c's encode(): BOS first
 * when bos, then a dummy-prefix space token when the text is not empty, the text, then
 * EOS when eos. *n_tokens receives the number of tokens (also on RANGE: the count needed,
 * at most len + 3). Returns OK, INVALID_ARG (NULL), RANGE (max_tokens too small: tokens
 * untouched), FORMAT (a byte with no <0xXX> token in the vocabulary), OUT_OF_MEMORY.
 * Time grows with the square of the text's length, as run.c's merge loop: meant for
 * prompts, not for whole books. */
SKIM_API skim_status skim_tokenizer_encode(const skim_tokenizer *t, const char *text, size_t len,
                                           bool bos, bool eos, int32_t *tokens,
                                           int64_t max_tokens, int64_t *n_tokens);

/* The text of token `token` following token `prev` (run.c's decode()): after BOS a leading
 * space is dropped; a "<0xXX>" piece is its single byte. Returns a pointer owned by the
 * tokenizer (not always NUL-terminated at *len: use *len), or NULL when token is out of
 * range. */
SKIM_API const char *skim_tokenizer_decode(const skim_tokenizer *t, int32_t prev, int32_t token,
                                           size_t *len);
/* run.c's safe_printf() filter: false for an empty piece and for a single byte that is
 * neither printable nor white space (C locale); a program printing text skips those. */
SKIM_API bool skim_text_piece_printable(const char *piece, size_t len);

/* ---------------------------------------------------------------- sampler */

/* The generator: xorshift64* as in run.c, state 64 bits.
 *   state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
 *   u32 = (state * 0x2545F4914F6CDD1D) >> 32;   f32 = (u32 >> 8) / 16777216.0f
 * A zero state would stay zero, so seeding with 0 uses SKIM_RNG_ZERO_SEED instead. */
#define SKIM_RNG_ZERO_SEED 0x853C49E6748FEA9BULL
SKIM_API uint32_t skim_rng_u32(uint64_t *state);
/* Uniform in [0, 1). */
SKIM_API float skim_rng_f32(uint64_t *state);

/* The index of the largest logit (first on ties; NaN never wins unless all are NaN, then
 * 0); -1 when n < 1 or logits is NULL. */
SKIM_API int32_t skim_sample_argmax(const float *logits, int32_t n);

typedef struct skim_sampler skim_sampler;

/* Zero means default. */
typedef struct skim_sampler_desc {
    skim_allocator allocator; /* zero: malloc/free */
    float temperature;        /* 0: greedy argmax; must be finite and >= 0 */
    float top_p;              /* nucleus mass in (0, 1); 0 or >= 1: no top-p */
    uint64_t seed;            /* the generator's first state (0: SKIM_RNG_ZERO_SEED) */
} skim_sampler_desc;

/* A sampler over n_vocab logits. desc may be NULL (greedy). Returns OK, INVALID_ARG
 * (n_vocab < 1, a temperature or top_p negative or not finite), OUT_OF_MEMORY. */
SKIM_API skim_status skim_sampler_create(const skim_sampler_desc *desc, int32_t n_vocab,
                                         skim_sampler **out);
SKIM_API void skim_sampler_destroy(skim_sampler *s);
/* Restarts the generator from a seed (0: SKIM_RNG_ZERO_SEED). */
SKIM_API void skim_sampler_set_seed(skim_sampler *s, uint64_t seed);
/* Picks the next token from n_vocab logits (not modified). Returns OK, INVALID_ARG. One
 * draw from the generator per call unless greedy. With ties in top-p, lower ids first
 * (run.c's qsort leaves their order to the C library). */
SKIM_API skim_status skim_sampler_sample(skim_sampler *s, const float *logits, int32_t *out_token);

#ifdef __cplusplus
}
#endif
#endif /* SKIM_TEXT_H */
