/* bench_vulkan.h - what the benchmark's files share. */
#ifndef BENCH_VULKAN_H
#define BENCH_VULKAN_H

#include "skim-backend.h"
#include "skim.h"

#include <stdbool.h>

/* Seconds on a monotonic clock. */
double bench_now(void);
/* One timed run of p in seconds; -1 (and a message on stderr) on error. */
double bench_timed_run(skim_plan *p);
/* The median of t[0..n) (sorts t). */
double bench_median(double *t, int n);

/* The decode benchmark (decode.c) on each backend of be; small: a narrower, shallower
 * stack that runs in a few minutes on lavapipe. */
void bench_decode(skim_backend **be, int n_be, bool small, int reps);

/* The selection producers at n = 4096 and 65536 candidates (sel.c), microseconds per run. */
void bench_producers(skim_backend **be, int n_be, int reps);

#endif
