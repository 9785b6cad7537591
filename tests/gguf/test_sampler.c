/* test_sampler.c - the generator, argmax, and greedy / temperature / top-p sampling, and
 * what a seed fixes. */
#include "gguf_test.h"

#include <math.h>

static void test_rng(void) {
    /* xorshift64* from seed 42, values computed independently (Python, 64-bit wrap). */
    static const uint32_t want[4] = {1456360119u, 3359763283u, 3393612768u, 4054632243u};
    uint64_t state = 42;
    for (int i = 0; i < 4; i++) CHECK(skim_rng_u32(&state) == want[i]);
    state = 7;
    for (int i = 0; i < 1000; i++) {
        float f = skim_rng_f32(&state);
        CHECK(f >= 0.0f && f < 1.0f);
    }
}

static void test_argmax(void) {
    const float a[] = {1.0f, 3.0f, -2.0f, 3.0f};
    CHECK(skim_sample_argmax(a, 4) == 1); /* first on ties */
    const float b[] = {NAN, 0.5f, NAN, 2.0f};
    CHECK(skim_sample_argmax(b, 4) == 3);
    const float c[] = {NAN, NAN};
    CHECK(skim_sample_argmax(c, 2) == 0);
    CHECK(skim_sample_argmax(a, 0) == -1 && skim_sample_argmax(NULL, 3) == -1);
}

static void histogram(const skim_sampler_desc *d, const float *logits, int32_t n, int draws,
                      int *counts) {
    skim_sampler *s = NULL;
    CHECK_STATUS(skim_sampler_create(d, n, &s), SKIM_OK);
    memset(counts, 0, sizeof(int) * (size_t)n);
    for (int i = 0; i < draws; i++) {
        int32_t tok = -1;
        CHECK_STATUS(skim_sampler_sample(s, logits, &tok), SKIM_OK);
        CHECK(tok >= 0 && tok < n);
        counts[tok]++;
    }
    skim_sampler_destroy(s);
}

static void test_sampling(void) {
    const float logits[3] = {logf(0.1f), logf(0.2f), logf(0.7f)};
    float copy[3];
    memcpy(copy, logits, sizeof copy);
    int counts[3];
    const int draws = 20000;
    skim_sampler_desc d;
    memset(&d, 0, sizeof d);
    histogram(&d, logits, 3, 10, counts); /* greedy */
    CHECK(counts[2] == 10);
    d.temperature = 1.0f;
    d.seed = 1234;
    histogram(&d, logits, 3, draws, counts);
    CHECK(fabs(counts[0] / (double)draws - 0.1) < 0.015);
    CHECK(fabs(counts[1] / (double)draws - 0.2) < 0.015);
    CHECK(memcmp(copy, logits, sizeof copy) == 0); /* logits not modified */
    int again[3];
    histogram(&d, logits, 3, draws, again); /* same seed, same draws */
    CHECK(memcmp(counts, again, sizeof counts) == 0);
    d.top_p = 0.5f; /* cutoff (1 - 0.5) / 2 = 0.25: only token 2 */
    histogram(&d, logits, 3, 1000, counts);
    CHECK(counts[2] == 1000);
    d.top_p = 0.85f; /* nucleus {2, 1}, mass 0.9: token 1 with probability 2/9 */
    histogram(&d, logits, 3, draws, counts);
    CHECK(counts[0] == 0);
    CHECK(fabs(counts[1] / (double)draws - 2.0 / 9.0) < 0.015);
    d.temperature = 1e-3f; /* nearly greedy */
    d.top_p = 0.0f;
    histogram(&d, logits, 3, 100, counts);
    CHECK(counts[2] == 100);
    const float one = 5.0f;
    d.top_p = 0.9f;
    d.temperature = 1.0f;
    histogram(&d, &one, 1, 10, counts);
    CHECK(counts[0] == 10);
}

/* Temperature T samples softmax(logits / T): from probabilities p, p^(1/T) renormalised.
 * The expected shares are computed here from p, not taken from the sampler. */
static void test_temperature(void) {
    const double p[3] = {0.1, 0.2, 0.7};
    const float logits[3] = {logf(0.1f), logf(0.2f), logf(0.7f)};
    const float temps[2] = {0.5f, 2.0f};
    const int draws = 20000;
    for (int k = 0; k < 2; k++) {
        double q[3], sum = 0.0;
        for (int i = 0; i < 3; i++) sum += q[i] = pow(p[i], 1.0 / temps[k]);
        skim_sampler_desc d;
        memset(&d, 0, sizeof d);
        d.temperature = temps[k];
        d.seed = 99;
        int counts[3];
        histogram(&d, logits, 3, draws, counts);
        for (int i = 0; i < 3; i++) {
            double share = counts[i] / (double)draws, want = q[i] / sum;
            if (fabs(share - want) >= 0.015) {
                fprintf(stderr, "temperature %g: token %d drawn %.4f, expected %.4f\n",
                        temps[k], i, share, want);
            }
            CHECK(fabs(share - want) < 0.015);
        }
    }
}

/* A seed fixes the sequence: set_seed replays it; another seed draws another one. */
static void test_seeds(void) {
    const float logits[4] = {0.0f, 0.1f, 0.2f, 0.3f};
    skim_sampler_desc d;
    memset(&d, 0, sizeof d);
    d.temperature = 1.0f;
    d.top_p = 0.95f;
    d.seed = 5;
    skim_sampler *a = NULL, *b = NULL;
    CHECK_STATUS(skim_sampler_create(&d, 4, &a), SKIM_OK);
    d.seed = 6;
    CHECK_STATUS(skim_sampler_create(&d, 4, &b), SKIM_OK);
    int32_t first[64], again[64], other[64];
    for (int i = 0; i < 64; i++) CHECK_STATUS(skim_sampler_sample(a, logits, &first[i]), SKIM_OK);
    skim_sampler_set_seed(a, 5);
    for (int i = 0; i < 64; i++) CHECK_STATUS(skim_sampler_sample(a, logits, &again[i]), SKIM_OK);
    for (int i = 0; i < 64; i++) CHECK_STATUS(skim_sampler_sample(b, logits, &other[i]), SKIM_OK);
    CHECK(memcmp(first, again, sizeof first) == 0);
    CHECK(memcmp(first, other, sizeof first) != 0); /* 64 near-uniform draws of 4 */
    skim_sampler_destroy(a);
    skim_sampler_destroy(b);
}

static void test_misuse(void) {
    skim_sampler *s = NULL;
    skim_sampler_desc d;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(skim_sampler_create(&d, 0, &s), SKIM_ERR_INVALID_ARG);
    d.temperature = -1.0f;
    CHECK_STATUS(skim_sampler_create(&d, 3, &s), SKIM_ERR_INVALID_ARG);
    d.temperature = NAN;
    CHECK_STATUS(skim_sampler_create(&d, 3, &s), SKIM_ERR_INVALID_ARG);
    d.temperature = 1.0f;
    d.top_p = INFINITY;
    CHECK_STATUS(skim_sampler_create(&d, 3, &s), SKIM_ERR_INVALID_ARG);
    CHECK(s == NULL);
    test_alloc ta = {0, 0, 0, 0};
    d.top_p = 0.0f;
    d.allocator = test_allocator(&ta);
    CHECK_STATUS(skim_sampler_create(&d, 3, &s), SKIM_ERR_OUT_OF_MEMORY);
    CHECK_STATUS(skim_sampler_create(NULL, 3, &s), SKIM_OK);
    int32_t tok;
    CHECK_STATUS(skim_sampler_sample(s, NULL, &tok), SKIM_ERR_INVALID_ARG);
    skim_sampler_set_seed(s, 0);
    skim_sampler_destroy(s);
    skim_sampler_destroy(NULL);
}

int main(void) {
    test_rng();
    test_argmax();
    test_sampling();
    test_temperature();
    test_seeds();
    test_misuse();
    printf("sampler: ok\n");
    return 0;
}
