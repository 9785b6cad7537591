/* test_common.h - helpers shared by the core tests: a deterministic RNG, filling,
 * normalised mean squared error, guard bytes, failure reporting. */
#ifndef SKIM_TEST_COMMON_H
#define SKIM_TEST_COMMON_H

#include "skim.h"
#include "skim-backend.h"
#include "skim-cpu.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* ---------------------------------------------------------------- failures */

/* Failures counted so far by t_fail (a test's main returns t_failures != 0). */
extern int t_failures;
/* Where t_fail prints (NULL: stdout). */
extern FILE *t_out;
/* Prints "FAIL file:line: message" to t_out and counts the failure. */
void t_fail(const char *file, int line, const char *fmt, ...)
#if defined(__MINGW32__) /* C99 printf there (__USE_MINGW_ANSI_STDIO), not msvcrt's */
    __attribute__((format(gnu_printf, 3, 4)))
#elif defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
#define CHECK(cond, ...)                                    \
    do {                                                    \
        if (!(cond)) t_fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)
/* Checks that a call returned SKIM_OK; on failure prints the status and `extra`. */
#define CHECK_OK(call, extra)                                                          \
    do {                                                                               \
        skim_status st_ = (call);                                                      \
        if (st_ != SKIM_OK)                                                            \
            t_fail(__FILE__, __LINE__, "%s -> %s (%s)", #call, skim_status_str(st_), \
                   (extra) ? (const char *)(extra) : "");                            \
    } while (0)

/* ---------------------------------------------------------------- random numbers */

/* splitmix64: small, fast and the same on every platform. */
typedef struct trng {
    uint64_t s;
} trng;

void trng_seed(trng *r, uint64_t seed);
uint64_t trng_next(trng *r);
/* Uniform in [lo, hi). */
float trng_uniform(trng *r, float lo, float hi);
/* Uniform integer in [lo, hi] (inclusive). */
int trng_int(trng *r, int lo, int hi);
void fill_uniform(trng *r, float *dst, size_t n, float lo, float hi);

/* ---------------------------------------------------------------- errors */

/* sum (out - ref)^2 / sum ref^2 (ggml's test-backend-ops measure). When ref is all zero
 * the plain sum of squares is returned. A NaN or infinity in out that ref does not have
 * at the same place gives INFINITY. */
double nmse_f32(const float *out, const double *ref, size_t n);

/* ---------------------------------------------------------------- guard bytes */

#define GUARD_BYTES 64
#define GUARD_FILL 0xA5
/* n bytes with GUARD_BYTES of GUARD_FILL on each side; the user region starts filled
 * with 0x5A. NULL on failure. */
void *guard_alloc(size_t n);
/* True when both guard regions are intact. */
bool guard_ok(const void *p, size_t n);
void guard_free(void *p);

/* Reads an F32 / I32 / F16 tensor of the plan into a guarded buffer, checks the guards,
 * and converts to floats (F16, F32) or copies int32 words (I32). Returns false (with a
 * failure recorded, naming `what`) when the read or the guards fail. dst holds
 * skim_tensor_nelements(t) entries. */
bool read_f32(skim_plan *p, const skim_tensor *t, float *dst, const char *what);
bool read_i32(skim_plan *p, const skim_tensor *t, int32_t *dst, const char *what);

/* Converts any tensor data (not I32) of n elements to doubles via skim_dequantize. */
bool to_double(skim_type type, const void *src, double *dst, int64_t n);

/* The CPU backend's kernel cap for the tests, from the environment variable
 * SKIM_TEST_CPU_ISA: "portable", "avx2", unset or empty: the best (an unknown value gives
 * -1, which skim_backend_create_cpu refuses, so the test fails). */
skim_cpu_isa test_cpu_isa(void);
/* A CPU backend of n_threads at test_cpu_isa(); NULL (a failure recorded) when refused. */
skim_backend *test_cpu_backend(int n_threads);

/* Seconds from a monotonic clock. */
double t_now(void);

#endif /* SKIM_TEST_COMMON_H */
