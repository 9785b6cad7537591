/* pool.c - a small thread pool: persistent workers created with the backend, one job at
 * a time, and a barrier that spins briefly and then sleeps (the machines we run on are
 * often oversubscribed, where a pure spin barrier stalls). */
#include "cpu-int.h"

struct skim_cpu_pool {
    skim_allocator alloc;
    int n; /* threads, the caller included */
    skim_thread *threads;
    int n_started;
    skim_mutex run_mu; /* serialises jobs of different plans */
    skim_mutex mu;
    skim_cond cv_job, cv_done, cv_bar;
    uint64_t job_gen;
    int done;
    bool quit;
    skim_cpu_job job;
    void *arg;
    volatile int32_t arrived; /* skim_atomic_*32 */
    volatile int32_t bar_gen;
};

typedef struct worker_arg {
    skim_cpu_pool *pool;
    int ith;
} worker_arg;

static void worker(void *p) {
    skim_cpu_pool *pool = ((worker_arg *)p)->pool;
    int ith = ((worker_arg *)p)->ith;
    uint64_t seen = 0;
    for (;;) {
        skim_mutex_lock(&pool->mu);
        while (!pool->quit && pool->job_gen == seen) {
            skim_cond_wait(&pool->cv_job, &pool->mu);
        }
        if (pool->quit) {
            skim_mutex_unlock(&pool->mu);
            return;
        }
        seen = pool->job_gen;
        skim_cpu_job job = pool->job;
        void *arg = pool->arg;
        skim_mutex_unlock(&pool->mu);
        job(arg, ith, pool->n);
        skim_mutex_lock(&pool->mu);
        if (++pool->done == pool->n - 1) {
            skim_cond_signal(&pool->cv_done);
        }
        skim_mutex_unlock(&pool->mu);
    }
}

static void stop_workers(skim_cpu_pool *pool) {
    skim_mutex_lock(&pool->mu);
    pool->quit = true;
    skim_cond_broadcast(&pool->cv_job);
    skim_mutex_unlock(&pool->mu);
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
        skim_mutex_lock(&pool->mu);
        pool->job = job;
        pool->arg = arg;
        pool->done = 0;
        pool->job_gen++;
        skim_cond_broadcast(&pool->cv_job);
        skim_mutex_unlock(&pool->mu);
    }
    job(arg, 0, pool->n);
    if (pool->n > 1) {
        skim_mutex_lock(&pool->mu);
        while (pool->done < pool->n - 1) {
            skim_cond_wait(&pool->cv_done, &pool->mu);
        }
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
