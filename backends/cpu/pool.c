/* pool.c - a small thread pool: persistent workers created with the backend, one job at
 * a time, and a barrier that spins briefly and then sleeps (the machines we run on are
 * often oversubscribed, where a pure spin barrier stalls).
 *
 * The hand-off of a job spins too, then sleeps. A worker that finished a job polls for the
 * next one for up to SPIN_NS before it sleeps on the condition variable, and the caller
 * polls for the workers' completion the same way: decode runs one small graph after
 * another, and waking a sleeping thread costs tens of microseconds (far more in a virtual
 * machine, where the wake-up is an interrupt to another virtual CPU) - measured on a
 * 2-core KVM guest as about 70 us per run of a 4096 x 4096 matvec at 2 threads. Polling
 * yields the core every 64 rounds, so an oversubscribed machine still makes progress. */
#include "cpu-int.h"

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <intrin.h>
#endif

#define SPIN_NS 200000u /* how long a poll lasts before it sleeps: 0.2 ms */

struct skim_cpu_pool {
    skim_allocator alloc;
    int n; /* threads, the caller included */
    skim_thread *threads;
    int n_started;
    skim_mutex run_mu; /* serialises jobs of different plans */
    skim_mutex mu;
    skim_cond cv_job, cv_done, cv_bar;
    int sleepers;      /* workers asleep on cv_job (mu) */
    bool caller_waits; /* the caller asleep on cv_done (mu) */
    skim_cpu_job job;
    void *arg;
    volatile int32_t job_gen; /* skim_atomic_*32: bumped once per job (wraps) */
    volatile int32_t done;    /* workers finished with the current job */
    volatile int32_t quit;
    volatile int32_t arrived;
    volatile int32_t bar_gen;
};

typedef struct worker_arg {
    skim_cpu_pool *pool;
    int ith;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#elif defined(__GNUC__) && defined(__aarch64__)
    __asm__ __volatile__("yield");
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
    _mm_pause();
#endif
}

/* Polls *p until it differs from v (want_change) or equals v (!want_change), for up to
 * SPIN_NS; true when it got there. */
static bool poll32(const volatile int32_t *p, int32_t v, bool want_change) {
    uint64_t t0 = 0;
    for (uint32_t i = 1;; i++) {
        if ((skim_atomic_load32(p) != v) == want_change) {
            return true;
        }
        cpu_relax();
        if ((i & 63) == 0) {
            uint64_t t = skim_time_ns();
            if (t0 == 0) {
                t0 = t;
            } else if (t - t0 > SPIN_NS) {
                return false;
            }
            skim_thread_yield();
        }
    }
}

static void worker(void *p) {
    skim_cpu_pool *pool = ((worker_arg *)p)->pool;
    int ith = ((worker_arg *)p)->ith;
    int32_t seen = 0;
    for (;;) {
        if (!poll32(&pool->job_gen, seen, true)) {
            skim_mutex_lock(&pool->mu);
            pool->sleepers++;
            while (skim_atomic_load32(&pool->job_gen) == seen) {
                skim_cond_wait(&pool->cv_job, &pool->mu);
            }
            pool->sleepers--;
            skim_mutex_unlock(&pool->mu);
        }
        seen = skim_atomic_load32(&pool->job_gen);
        if (skim_atomic_load32(&pool->quit)) {
            return;
        }
        /* job and arg were written before job_gen (sequentially consistent store) */
        pool->job(pool->arg, ith, pool->n);
        if (skim_atomic_fetch_add32(&pool->done, 1) == pool->n - 2) {
            skim_mutex_lock(&pool->mu);
            if (pool->caller_waits) {
                skim_cond_signal(&pool->cv_done);
            }
            skim_mutex_unlock(&pool->mu);
        }
    }
}

/* Hands job and arg to the workers (the caller holds run_mu, or is the destroyer). */
static void publish(skim_cpu_pool *pool, skim_cpu_job job, void *arg, bool quit) {
    pool->job = job;
    pool->arg = arg;
    skim_atomic_store32(&pool->done, 0);
    if (quit) {
        skim_atomic_store32(&pool->quit, 1);
    }
    skim_mutex_lock(&pool->mu);
    int32_t g = skim_atomic_load32(&pool->job_gen);
    skim_atomic_store32(&pool->job_gen, g == INT32_MAX ? 0 : g + 1);
    if (pool->sleepers > 0) {
        skim_cond_broadcast(&pool->cv_job);
    }
    skim_mutex_unlock(&pool->mu);
}

static void stop_workers(skim_cpu_pool *pool) {
    publish(pool, NULL, NULL, true);
    for (int i = 0; i < pool->n_started; i++) {
        skim_thread_join(&pool->threads[i]);
    }
}

void skim_cpu_pool_destroy(skim_cpu_pool *pool) {
    if (!pool) {
        return;
    }
    stop_workers(pool);
    skim_cond_destroy(&pool->cv_job);
    skim_cond_destroy(&pool->cv_done);
    skim_cond_destroy(&pool->cv_bar);
    skim_mutex_destroy(&pool->mu);
    skim_mutex_destroy(&pool->run_mu);
    skim_allocator a = pool->alloc;
    /* worker args live right after the thread handles */
    skim_free(&a, pool->threads);
    skim_free(&a, pool);
}

skim_status skim_cpu_pool_create(const skim_allocator *a, int n_threads, skim_cpu_pool **out) {
    skim_cpu_pool *pool = skim_calloc(a, 1, sizeof *pool);
    if (!pool) {
        return SKIM_ERR_OUT_OF_MEMORY;
    }
    pool->alloc = *a;
    pool->n = n_threads;
    size_t nw = (size_t)(n_threads - 1);
    void *mem = skim_calloc(a, nw + 1, sizeof(skim_thread) + sizeof(worker_arg));
    if (!mem) {
        skim_free(a, pool);
        return SKIM_ERR_OUT_OF_MEMORY;
    }
    pool->threads = mem;
    worker_arg *wa = (worker_arg *)(void *)((char *)mem + (nw + 1) * sizeof(skim_thread));
    if (!skim_mutex_init(&pool->mu) || !skim_mutex_init(&pool->run_mu) ||
        !skim_cond_init(&pool->cv_job) || !skim_cond_init(&pool->cv_done) ||
        !skim_cond_init(&pool->cv_bar)) {
        skim_free(a, mem);
        skim_free(a, pool);
        return SKIM_ERR_UNSUPPORTED;
    }
    skim_atomic_store32(&pool->arrived, 0);
    skim_atomic_store32(&pool->bar_gen, 0);
    for (size_t i = 0; i < nw; i++) {
        wa[i].pool = pool;
        wa[i].ith = (int)i + 1;
        if (!skim_thread_create(&pool->threads[i], worker, &wa[i])) {
            skim_cpu_pool_destroy(pool);
            return SKIM_ERR_UNSUPPORTED;
        }
        pool->n_started++;
    }
    *out = pool;
    return SKIM_OK;
}

int skim_cpu_pool_size(const skim_cpu_pool *pool) {
    return pool->n;
}

void skim_cpu_pool_run(skim_cpu_pool *pool, skim_cpu_job job, void *arg) {
    skim_mutex_lock(&pool->run_mu);
    if (pool->n > 1) {
        publish(pool, job, arg, false);
    }
    job(arg, 0, pool->n);
    if (pool->n > 1 && !poll32(&pool->done, pool->n - 1, false)) {
        skim_mutex_lock(&pool->mu);
        pool->caller_waits = true;
        while (skim_atomic_load32(&pool->done) < pool->n - 1) {
            skim_cond_wait(&pool->cv_done, &pool->mu);
        }
        pool->caller_waits = false;
        skim_mutex_unlock(&pool->mu);
    }
    skim_mutex_unlock(&pool->run_mu);
}

void skim_cpu_pool_barrier(skim_cpu_pool *pool) {
    if (pool->n <= 1) {
        return;
    }
    int32_t gen = skim_atomic_load32(&pool->bar_gen);
    if (skim_atomic_fetch_add32(&pool->arrived, 1) == pool->n - 1) {
        skim_atomic_store32(&pool->arrived, 0);
        skim_mutex_lock(&pool->mu);
        skim_atomic_store32(&pool->bar_gen, gen == INT32_MAX ? 0 : gen + 1);
        skim_cond_broadcast(&pool->cv_bar);
        skim_mutex_unlock(&pool->mu);
        return;
    }
    for (int i = 0; i < 2000; i++) {
        if (skim_atomic_load32(&pool->bar_gen) != gen) {
            return;
        }
        if ((i & 63) == 63) {
            skim_thread_yield();
        }
    }
    skim_mutex_lock(&pool->mu);
    while (skim_atomic_load32(&pool->bar_gen) == gen) {
        skim_cond_wait(&pool->cv_bar, &pool->mu);
    }
    skim_mutex_unlock(&pool->mu);
}
