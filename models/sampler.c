/* sampler.c - greedy, temperature and top-p sampling as llama2.c's run.c does it, with
 * run.c's xorshift64* generator so that a seed means the same thing everywhere. */
#include "gguf_impl.h"
#include "skim-text.h"

#include <math.h>
#include <stdlib.h>

struct skim_sampler {
    skim_allocator alloc;
    int32_t n_vocab;
    float temperature, top_p;
    uint64_t state;
    float *probs;
    int32_t *index; /* top-p candidates, then merge scratch: 2 * n_vocab */
};

SKIM_API uint32_t skim_rng_u32(uint64_t *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * 0x2545F4914F6CDD1DULL) >> 32);
}

SKIM_API float skim_rng_f32(uint64_t *state) {
    return (float)(skim_rng_u32(state) >> 8) / 16777216.0f;
}

SKIM_API int32_t skim_sample_argmax(const float *logits, int32_t n) {
    if (!logits || n < 1) return -1;
    int32_t best = -1;
    for (int32_t i = 0; i < n; i++) {
        if (isnan(logits[i])) continue;
        if (best < 0 || logits[i] > logits[best]) best = i;
    }
    return best < 0 ? 0 : best;
}

SKIM_API skim_status skim_sampler_create(const skim_sampler_desc *desc, int32_t n_vocab,
                                         skim_sampler **out) {
    skim_sampler_desc d = {0};
    if (desc) d = *desc;
    if (!out || n_vocab < 1 || !isfinite(d.temperature) || d.temperature < 0.0f ||
        !isfinite(d.top_p) || d.top_p < 0.0f) {
        return SKIM_ERR_INVALID_ARG;
    }
    size_t n = (size_t)n_vocab;
    size_t bytes = ((sizeof(skim_sampler) + 15) & ~(size_t)15) + n * sizeof(float) +
                   2 * n * sizeof(int32_t);
    uint8_t *b = skim_gguf_mem_alloc(&d.allocator, bytes);
    if (!b) return SKIM_ERR_OUT_OF_MEMORY;
    skim_sampler *s = (skim_sampler *)b;
    s->alloc = d.allocator;
    s->n_vocab = n_vocab;
    s->temperature = d.temperature;
    s->top_p = d.top_p;
    s->probs = (float *)(void *)(b + ((sizeof(skim_sampler) + 15) & ~(size_t)15));
    s->index = (int32_t *)(void *)(s->probs + n);
    skim_sampler_set_seed(s, d.seed);
    *out = s;
    return SKIM_OK;
}

SKIM_API void skim_sampler_destroy(skim_sampler *s) {
    if (!s) return;
    skim_allocator a = s->alloc;
    skim_gguf_mem_free(&a, s);
}

SKIM_API void skim_sampler_set_seed(skim_sampler *s, uint64_t seed) {
    if (s) s->state = seed ? seed : SKIM_RNG_ZERO_SEED;
}

/* probs = softmax(logits / temperature), in place of s->probs. */
static void smp_softmax(skim_sampler *s, const float *logits) {
    float max = -INFINITY;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        float x = logits[i] / s->temperature;
        s->probs[i] = x;
        if (x > max) max = x;
    }
    float sum = 0.0f;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        s->probs[i] = expf(s->probs[i] - max);
        sum += s->probs[i];
    }
    for (int32_t i = 0; i < s->n_vocab; i++) s->probs[i] /= sum;
}

/* run.c's sample_mult: the first index whose cumulative probability passes coin. */
static int32_t smp_mult(const skim_sampler *s, float coin) {
    float cdf = 0.0f;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        cdf += s->probs[i];
        if (coin < cdf) return i;
    }
    return s->n_vocab - 1;
}

/* Descending probability, then ascending id: a total order, so the result does not
 * depend on the C library's qsort. */
static int smp_cmp(const void *a, const void *b, const float *p) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (p[x] != p[y]) return p[x] > p[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Bottom-up merge sort by smp_cmp (qsort has no context argument, and no globals here). */
static void smp_sort(int32_t *idx, int32_t *tmp, int32_t n, const float *p) {
    for (int32_t width = 1; width < n; width *= 2) {
        for (int32_t lo = 0; lo < n; lo += 2 * width) {
            int32_t mid = lo + width < n ? lo + width : n;
            int32_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            int32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = smp_cmp(&idx[j], &idx[i], p) < 0 ? idx[j++] : idx[i++];
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof(int32_t));
    }
}

/* run.c's sample_topp: among the tokens with probability >= (1 - top_p) / (n - 1), sorted
 * by probability, the smallest prefix whose mass passes top_p, sampled by coin. */
static int32_t smp_topp(skim_sampler *s, float coin) {
    int32_t n = s->n_vocab, n0 = 0;
    if (n == 1) return 0;
    const float cutoff = (1.0f - s->top_p) / (float)(n - 1);
    for (int32_t i = 0; i < n; i++) {
        if (s->probs[i] >= cutoff) s->index[n0++] = i;
    }
    if (n0 == 0) return skim_sample_argmax(s->probs, n);
    smp_sort(s->index, s->index + n, n0, s->probs);
    float cum = 0.0f;
    int32_t last = n0 - 1;
    for (int32_t i = 0; i < n0; i++) {
        cum += s->probs[s->index[i]];
        if (cum > s->top_p) {
            last = i;
            break;
        }
    }
    float r = coin * cum, cdf = 0.0f;
    for (int32_t i = 0; i <= last; i++) {
        cdf += s->probs[s->index[i]];
        if (r < cdf) return s->index[i];
    }
    return s->index[last];
}

SKIM_API skim_status skim_sampler_sample(skim_sampler *s, const float *logits, int32_t *out_token) {
    if (!s || !logits || !out_token) return SKIM_ERR_INVALID_ARG;
    if (s->temperature == 0.0f) {
        *out_token = skim_sample_argmax(logits, s->n_vocab);
        return SKIM_OK;
    }
    smp_softmax(s, logits);
    float coin = skim_rng_f32(&s->state);
    if (s->top_p <= 0.0f || s->top_p >= 1.0f) *out_token = smp_mult(s, coin);
    else *out_token = smp_topp(s, coin);
    return SKIM_OK;
}
