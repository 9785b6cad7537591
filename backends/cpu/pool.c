/* pool.c - a small thread pool: persistent workers created with the backend, one job at
 * a time, and a barrier that spins briefly and then sleeps (the machines we run on are
 * often oversubscribed, where a pure spin barrier stalls). */
#include "cpu-int.h"

#include <sched.h>

struct skim_cpu_pool {
    skim_allocator alloc;
    int n; /* threads, the caller included */
    pthread_t *threads;
    int n_started;
    pthread_mutex_t run_mu; /* serialises jobs of different plans */
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_done, cv_bar;
    uint64_t job_gen;
    int done;
    bool quit;
    skim_cpu_job job;
    void *arg;
    atomic_int arrived;
    atomic_uint bar_gen;
};

typedef struct worker_arg {
    skim_cpu_pool *pool;
    int ith;
} worker_arg;

static void *worker(void *p) {
    skim_cpu_pool *pool = ((worker_arg *)p)->pool;
    int ith = ((worker_arg *)p)->ith;
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        while (!pool->quit && pool->job_gen == seen) {
            pthread_cond_wait(&pool->cv_job, &pool->mu);
        }
        if (pool->quit) {
            pthread_mutex_unlock(&pool->mu);
            return NULL;
        }
        seen = pool->job_gen;
        skim_cpu_job job = pool->job;
        void *arg = pool->arg;
        pthread_mutex_unlock(&pool->mu);
        job(arg, ith, pool->n);
        pthread_mutex_lock(&pool->mu);
        if (++pool->done == pool->n - 1) {
            pthread_cond_signal(&pool->cv_done);
        }
        pthread_mutex_unlock(&pool->mu);
    }
}

static void stop_workers(skim_cpu_pool *pool) {
    pthread_mutex_lock(&pool->mu);
    pool->quit = true;
    pthread_cond_broadcast(&pool->cv_job);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < pool->n_started; i++) {
        pthread_join(pool->threads[i], NULL);
    }
}

void skim_cpu_pool_destroy(skim_cpu_pool *pool) {
    if (!pool) {
        return;
    }
    stop_workers(pool);
    pthread_cond_destroy(&pool->cv_job);
    pthread_cond_destroy(&pool->cv_done);
    pthread_cond_destroy(&pool->cv_bar);
    pthread_mutex_destroy(&pool->mu);
    pthread_mutex_destroy(&pool->run_mu);
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
    void *mem = skim_calloc(a, nw + 1, sizeof(pthread_t) + sizeof(worker_arg));
    if (!mem) {
        skim_free(a, pool);
        return SKIM_ERR_OUT_OF_MEMORY;
    }
    pool->threads = mem;
    worker_arg *wa = (worker_arg *)(void *)((char *)mem + (nw + 1) * sizeof(pthread_t));
    if (pthread_mutex_init(&pool->mu, NULL) || pthread_mutex_init(&pool->run_mu, NULL) ||
        pthread_cond_init(&pool->cv_job, NULL) || pthread_cond_init(&pool->cv_done, NULL) ||
        pthread_cond_init(&pool->cv_bar, NULL)) {
        skim_free(a, mem);
        skim_free(a, pool);
        return SKIM_ERR_UNSUPPORTED;
    }
    atomic_init(&pool->arrived, 0);
    atomic_init(&pool->bar_gen, 0u);
    for (size_t i = 0; i < nw; i++) {
        wa[i].pool = pool;
        wa[i].ith = (int)i + 1;
        if (pthread_create(&pool->threads[i], NULL, worker, &wa[i]) != 0) {
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
    pthread_mutex_lock(&pool->run_mu);
    if (pool->n > 1) {
        pthread_mutex_lock(&pool->mu);
        pool->job = job;
        pool->arg = arg;
        pool->done = 0;
        pool->job_gen++;
        pthread_cond_broadcast(&pool->cv_job);
        pthread_mutex_unlock(&pool->mu);
    }
    job(arg, 0, pool->n);
    if (pool->n > 1) {
        pthread_mutex_lock(&pool->mu);
        while (pool->done < pool->n - 1) {
            pthread_cond_wait(&pool->cv_done, &pool->mu);
        }
        pthread_mutex_unlock(&pool->mu);
    }
    pthread_mutex_unlock(&pool->run_mu);
}

void skim_cpu_pool_barrier(skim_cpu_pool *pool) {
    if (pool->n <= 1) {
        return;
    }
    unsigned gen = atomic_load(&pool->bar_gen);
    if (atomic_fetch_add(&pool->arrived, 1) == pool->n - 1) {
        atomic_store(&pool->arrived, 0);
        pthread_mutex_lock(&pool->mu);
        atomic_fetch_add(&pool->bar_gen, 1u);
        pthread_cond_broadcast(&pool->cv_bar);
        pthread_mutex_unlock(&pool->mu);
        return;
    }
    for (int i = 0; i < 2000; i++) {
        if (atomic_load(&pool->bar_gen) != gen) {
            return;
        }
        if ((i & 63) == 63) {
            sched_yield();
        }
    }
    pthread_mutex_lock(&pool->mu);
    while (atomic_load(&pool->bar_gen) == gen) {
        pthread_cond_wait(&pool->cv_bar, &pool->mu);
    }
    pthread_mutex_unlock(&pool->mu);
}
