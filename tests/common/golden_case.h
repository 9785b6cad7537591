/* golden_case.h - one golden case: a small context with inputs, weights and parameters
 * whose data the case owns, the tensors to check and their references; run on every
 * backend in skip mode, outputs read through guard bytes. */
#ifndef SKIM_TEST_GOLDEN_CASE_H
#define SKIM_TEST_GOLDEN_CASE_H

#include "test_common.h"

#define TC_MAX_IN 16
#define TC_MAX_EXP 8
#define TC_MAX_KEEP 64

typedef enum { TC_F32 = 0, TC_I32, TC_SEL } tc_kind;

typedef struct tc_expect {
    tc_kind kind;
    const skim_tensor *t;
    bool output;      /* put in the graph's outputs */
    double *ref;      /* TC_F32: reference values (compared: the first n_valid) */
    int32_t *iref;    /* TC_I32: exact values (n_valid) */
    int64_t n_valid;
    int32_t *counts;  /* TC_SEL: groups counts, groups*capacity indices */
    int32_t *idx;
    int64_t nan_count;/* TC_SEL: NaN scores kept; -1: not checked */
    double tol;
    /* TC_F32: rows whose bytes must equal the bytes of pass_src rows (pass-through). */
    const float *pass_src;
    const unsigned char *pass_rows; /* per row: 1 = bit-exact */
    int64_t row_len;
} tc_expect;

typedef struct tc {
    char label[192];
    skim_context *ctx;
    int n_in;
    skim_tensor *in[TC_MAX_IN];
    void *in_data[TC_MAX_IN];
    int n_par;
    skim_tensor *par[4];
    int32_t par_val[4];
    int n_exp;
    tc_expect exp[TC_MAX_EXP];
    int n_keep;
    void *keep[TC_MAX_KEEP];
    skim_status expect_build; /* SKIM_OK unless the case expects a build error */
    skim_status expect_run;
    skim_plan_mode mode;
    bool soft_view;           /* a view input the op may reject with NOT_CONTIGUOUS */
} tc;

void tc_begin(tc *c, const char *fmt, ...)
#if defined(__MINGW32__) /* C99 printf there (__USE_MINGW_ANSI_STDIO), not msvcrt's */
    __attribute__((format(gnu_printf, 2, 3)))
#elif defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Memory freed with the case. */
void *tc_alloc(tc *c, size_t size);
/* An input with random uniform data in [lo, hi) (F32), or given data (copied). */
skim_tensor *tc_input_f32(tc *c, trng *r, int n_dims, const int64_t *ne, float lo, float hi,
                          float **data);
skim_tensor *tc_input(tc *c, skim_type type, int n_dims, const int64_t *ne, const void *data);
/* A weight of `type` from floats (quantised); *ref gets the dequantised values. */
skim_tensor *tc_weight(tc *c, skim_type type, int n_dims, const int64_t *ne, const float *src,
                       double **ref);
skim_tensor *tc_param(tc *c, int32_t min, int32_t max, int32_t def, int32_t value);
/* Expectations; arrays are copied. */
tc_expect *tc_expect_f32(tc *c, const skim_tensor *t, const double *ref, int64_t n_valid, double tol);
void tc_expect_i32(tc *c, const skim_tensor *t, const int32_t *ref, int64_t n);
void tc_expect_sel(tc *c, const skim_tensor *sel, const int32_t *counts, const int32_t *idx,
                   int64_t nan_count);
/* Builds, plans and runs on every backend of the list and checks. Frees the case.
 * Returns the failures it found. */
int tc_run(tc *c, skim_backend **backends, int n_backends);
/* How many (case, backend) runs tc_run has made so far in this process. */
extern int tc_n_runs;

#endif
