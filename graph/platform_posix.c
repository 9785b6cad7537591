/* platform_posix.c - skim-platform.h on POSIX systems (Linux, Android, macOS, the BSDs):
 * pthreads, clock_gettime and mmap. graph/platform_win32.c is the Windows one. */
#if !defined(_WIN32)
#if !defined(_POSIX_C_SOURCE)
#  define _POSIX_C_SOURCE 200809L
#endif
#include "skim-platform.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void *thread_main(void *p) {
    skim_thread *t = p;
    t->fn(t->arg);
    return NULL;
}

bool skim_thread_create(skim_thread *t, void (*fn)(void *), void *arg) {
    t->fn = fn;
    t->arg = arg;
    return pthread_create(&t->t, NULL, thread_main, t) == 0;
}

void skim_thread_join(skim_thread *t) {
    pthread_join(t->t, NULL);
}

void skim_thread_yield(void) {
    sched_yield();
}

bool skim_mutex_init(skim_mutex *m) {
    return pthread_mutex_init(&m->m, NULL) == 0;
}
void skim_mutex_destroy(skim_mutex *m) {
    pthread_mutex_destroy(&m->m);
}
void skim_mutex_lock(skim_mutex *m) {
    pthread_mutex_lock(&m->m);
}
void skim_mutex_unlock(skim_mutex *m) {
    pthread_mutex_unlock(&m->m);
}

bool skim_cond_init(skim_cond *c) {
    return pthread_cond_init(&c->c, NULL) == 0;
}
void skim_cond_destroy(skim_cond *c) {
    pthread_cond_destroy(&c->c);
}
void skim_cond_wait(skim_cond *c, skim_mutex *m) {
    pthread_cond_wait(&c->c, &m->m);
}
void skim_cond_signal(skim_cond *c) {
    pthread_cond_signal(&c->c);
}
void skim_cond_broadcast(skim_cond *c) {
    pthread_cond_broadcast(&c->c);
}

uint64_t skim_time_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

skim_file_status skim_file_open(const char *path, skim_file *f, size_t *size, int *os_err) {
    *os_err = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *os_err = errno;
        return SKIM_FILE_CANNOT_OPEN;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return SKIM_FILE_NOT_REGULAR;
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return SKIM_FILE_TOO_LARGE;
    }
    f->h = fd;
    *size = (size_t)st.st_size;
    return SKIM_FILE_OK;
}

size_t skim_file_read_all(skim_file f, void *dst, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read((int)f.h, (char *)dst + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

const void *skim_file_map(skim_file f, size_t size) {
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, (int)f.h, 0);
    return m == MAP_FAILED ? NULL : m;
}

void skim_file_unmap(const void *p, size_t size) {
    munmap((void *)(uintptr_t)p, size);
}

void skim_file_close(skim_file f) {
    close((int)f.h);
}
#else
typedef int skim_platform_posix_unused; /* ISO C: a translation unit is not empty */
#endif
