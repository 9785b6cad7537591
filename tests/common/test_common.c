#define _POSIX_C_SOURCE 200809L
#include "test_common.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int t_failures = 0;
FILE *t_out = NULL;

void t_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    const char *base = strrchr(file, '/');
    FILE *o = t_out ? t_out : stdout;
    fprintf(o, "FAIL %s:%d: ", base ? base + 1 : file, line);
    va_start(ap, fmt);
    vfprintf(o, fmt, ap);
    va_end(ap);
    fprintf(o, "\n");
    fflush(o);
    t_failures++;
}

void trng_seed(trng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 1; }

uint64_t trng_next(trng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float trng_uniform(trng *r, float lo, float hi) {
    double u = (double)(trng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(lo + (hi - lo) * u);
}

int trng_int(trng *r, int lo, int hi) {
    uint64_t span = (uint64_t)((int64_t)hi - lo + 1);
    return lo + (int)(trng_next(r) % span);
}

void fill_uniform(trng *r, float *dst, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) dst[i] = trng_uniform(r, lo, hi);
}

double nmse_f32(const float *out, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double o = out[i], r = ref[i];
        if (isnan(r) || isinf(r)) {
            /* Non-finite expectations must be matched exactly. */
            if (isnan(r) ? !isnan(o) : o != r) return INFINITY;
            continue;
        }
        if (!isfinite(o)) return INFINITY;
        num += (o - r) * (o - r);
        den += r * r;
    }
    return den > 0 ? num / den : num;
}

void *guard_alloc(size_t n) {
    unsigned char *b = malloc(n + 2 * GUARD_BYTES);
    if (!b) return NULL;
    memset(b, GUARD_FILL, GUARD_BYTES);
    memset(b + GUARD_BYTES, 0x5A, n);
    memset(b + GUARD_BYTES + n, GUARD_FILL, GUARD_BYTES);
    return b + GUARD_BYTES;
}

bool guard_ok(const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p - GUARD_BYTES;
    for (size_t i = 0; i < GUARD_BYTES; i++)
        if (b[i] != GUARD_FILL || b[GUARD_BYTES + n + i] != GUARD_FILL) return false;
    return true;
}

void guard_free(void *p) {
    if (p) free((unsigned char *)p - GUARD_BYTES);
}

static void *read_guarded(skim_plan *p, const skim_tensor *t, const char *what) {
    size_t nb = skim_tensor_nbytes(t);
    void *buf = guard_alloc(nb);
    if (!buf) {
        t_fail(__FILE__, __LINE__, "%s: out of memory", what);
        return NULL;
    }
    skim_status s = skim_plan_get_output(p, t, buf, nb);
    if (s != SKIM_OK) {
        t_fail(__FILE__, __LINE__, "%s: get_output -> %s: %s", what, skim_status_str(s),
               skim_plan_error(p));
        guard_free(buf);
        return NULL;
    }
    if (!guard_ok(buf, nb)) {
        t_fail(__FILE__, __LINE__, "%s: get_output wrote outside the %zu bytes asked", what, nb);
        guard_free(buf);
        return NULL;
    }
    return buf;
}

bool read_f32(skim_plan *p, const skim_tensor *t, float *dst, const char *what) {
    int64_t n = skim_tensor_nelements(t);
    skim_type ty = skim_tensor_type(t);
    if (ty != SKIM_TYPE_F32 && ty != SKIM_TYPE_F16) {
        t_fail(__FILE__, __LINE__, "%s: type %s is not F32/F16", what, skim_type_name(ty));
        return false;
    }
    void *buf = read_guarded(p, t, what);
    if (!buf) return false;
    bool ok = true;
    if (ty == SKIM_TYPE_F32)
        memcpy(dst, buf, (size_t)n * sizeof(float));
    else
        ok = skim_dequantize(ty, buf, dst, n);
    guard_free(buf);
    if (!ok) t_fail(__FILE__, __LINE__, "%s: dequantize failed", what);
    return ok;
}

bool read_i32(skim_plan *p, const skim_tensor *t, int32_t *dst, const char *what) {
    if (skim_tensor_type(t) != SKIM_TYPE_I32) {
        t_fail(__FILE__, __LINE__, "%s: type %s is not I32", what,
               skim_type_name(skim_tensor_type(t)));
        return false;
    }
    void *buf = read_guarded(p, t, what);
    if (!buf) return false;
    memcpy(dst, buf, (size_t)skim_tensor_nelements(t) * sizeof(int32_t));
    guard_free(buf);
    return true;
}

bool to_double(skim_type type, const void *src, double *dst, int64_t n) {
    float *f = malloc((size_t)n * sizeof(float) + 1);
    if (!f) return false;
    bool ok = skim_dequantize(type, src, f, n);
    for (int64_t i = 0; ok && i < n; i++) dst[i] = f[i];
    free(f);
    return ok;
}

double t_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

skim_backend *test_cpu_backend(int n_threads) {
    skim_cpu_desc d = {0};
    d.n_threads = n_threads;
    d.max_isa = test_cpu_isa();
    skim_backend *be = NULL;
    skim_status s = skim_backend_create_cpu(&d, &be);
    CHECK(s == SKIM_OK, "cpu backend with %d threads -> %s", n_threads, skim_status_str(s));
    return s == SKIM_OK ? be : NULL;
}

skim_cpu_isa test_cpu_isa(void) {
    const char *e = getenv("SKIM_TEST_CPU_ISA");
    if (!e || !*e) return SKIM_CPU_ISA_BEST;
    if (strcmp(e, "portable") == 0) return SKIM_CPU_ISA_PORTABLE;
    if (strcmp(e, "avx2") == 0) return SKIM_CPU_ISA_AVX2;
    if (strcmp(e, "avx512") == 0) return SKIM_CPU_ISA_AVX512;
    return (skim_cpu_isa)-1;
}
