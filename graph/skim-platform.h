/* skim-platform.h - what skim needs from the operating system, behind one internal
 * interface: threads, mutexes, condition variables, atomic counters, a monotonic clock and
 * read-only file mapping. graph/platform_posix.c implements it with pthreads and mmap (every
 * system but Windows), graph/platform_win32.c with Win32 threads, SRW locks, condition
 * variables and file mappings. Nothing else in the library calls the OS for these, so a port
 * is one file. The atomics are compiler builtins (GCC, Clang) or MSVC's Interlocked
 * intrinsics: no <stdatomic.h>, which MSVC has only behind an experimental switch.
 *
 * Standalone (no other internal header), so that models/ can include it too. Not installed. */
#ifndef SKIM_PLATFORM_H
#define SKIM_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef SKIM_HIDDEN
#  if defined(__GNUC__) && !defined(_WIN32)
#    define SKIM_HIDDEN __attribute__((visibility("hidden")))
#  else
#    define SKIM_HIDDEN
#  endif
#endif

/* SKIM_INTERNAL marks the internal interface across the library boundary: the core's
 * functions that the backends and the models library call (these, and the ones so marked in
 * skim-impl.h). They have default visibility, so that the split shared libraries
 * (libskim-core.so and libskim-cpu.so, libskim-vulkan.so, libskim-models.so beside it) can
 * export them from the core under the version node SKIM_INTERNAL_0.1 (cmake/skim_shared.cmake
 * lists them from these headers); libskim.so and static links keep them local. No public
 * header declares them, and their signatures may change with any version. */
#if defined(__GNUC__) && !defined(_WIN32)
#  define SKIM_INTERNAL __attribute__((visibility("default")))
#else
#  define SKIM_INTERNAL
#endif

#if defined(_WIN32)
/* Storage for the Win32 objects, which are pointer-sized (SRWLOCK, CONDITION_VARIABLE) or
 * handles, so that this header needs no <windows.h>. */
typedef struct skim_mutex { void *p; } skim_mutex;
typedef struct skim_cond { void *p; } skim_cond;
typedef struct skim_thread { void *h; void (*fn)(void *); void *arg; } skim_thread;
#else
#  include <pthread.h>
typedef struct skim_mutex { pthread_mutex_t m; } skim_mutex;
typedef struct skim_cond { pthread_cond_t c; } skim_cond;
typedef struct skim_thread { pthread_t t; void (*fn)(void *); void *arg; } skim_thread;
#endif

/* ---------------------------------------------------------------- threads */

/* Each returns true on success. A thread runs fn(arg); *t must stay where it is until
 * skim_thread_join returns. */
SKIM_INTERNAL bool skim_thread_create(skim_thread *t, void (*fn)(void *), void *arg);
SKIM_INTERNAL void skim_thread_join(skim_thread *t);
SKIM_INTERNAL void skim_thread_yield(void);

SKIM_INTERNAL bool skim_mutex_init(skim_mutex *m);
SKIM_INTERNAL void skim_mutex_destroy(skim_mutex *m);
SKIM_INTERNAL void skim_mutex_lock(skim_mutex *m);
SKIM_INTERNAL void skim_mutex_unlock(skim_mutex *m);

SKIM_INTERNAL bool skim_cond_init(skim_cond *c);
SKIM_INTERNAL void skim_cond_destroy(skim_cond *c);
SKIM_INTERNAL void skim_cond_wait(skim_cond *c, skim_mutex *m);
SKIM_INTERNAL void skim_cond_signal(skim_cond *c);
SKIM_INTERNAL void skim_cond_broadcast(skim_cond *c);

/* Nanoseconds of a monotonic clock (differences only). */
SKIM_INTERNAL uint64_t skim_time_ns(void);

/* ---------------------------------------------------------------- atomics */

/* Sequentially consistent loads, stores and fetch-adds on 32-bit counters, relaxed
 * fetch-adds and loads on 64-bit ones (accounting). */
#if defined(__GNUC__) || defined(__clang__)
static inline int32_t skim_atomic_load32(const volatile int32_t *p) {
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}
static inline void skim_atomic_store32(volatile int32_t *p, int32_t v) {
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}
static inline int32_t skim_atomic_fetch_add32(volatile int32_t *p, int32_t v) {
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static inline uint64_t skim_atomic_fetch_add64(volatile uint64_t *p, uint64_t v) {
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
static inline uint64_t skim_atomic_load64(const volatile uint64_t *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
#elif defined(_MSC_VER)
#  include <intrin.h>
static inline int32_t skim_atomic_load32(const volatile int32_t *p) {
    return (int32_t)_InterlockedOr((volatile long *)p, 0);
}
static inline void skim_atomic_store32(volatile int32_t *p, int32_t v) {
    _InterlockedExchange((volatile long *)p, (long)v);
}
static inline int32_t skim_atomic_fetch_add32(volatile int32_t *p, int32_t v) {
    return (int32_t)_InterlockedExchangeAdd((volatile long *)p, (long)v);
}
static inline uint64_t skim_atomic_fetch_add64(volatile uint64_t *p, uint64_t v) {
    return (uint64_t)_InterlockedExchangeAdd64((volatile __int64 *)p, (__int64)v);
}
static inline uint64_t skim_atomic_load64(const volatile uint64_t *p) {
    return (uint64_t)_InterlockedOr64((volatile __int64 *)p, 0);
}
#else
#  error "skim-platform.h: no atomics for this compiler (GCC, Clang and MSVC are known)"
#endif

/* ---------------------------------------------------------------- files */

/* An open file for reading. */
typedef struct skim_file { intptr_t h; } skim_file;

typedef enum skim_file_status {
    SKIM_FILE_OK = 0,
    SKIM_FILE_CANNOT_OPEN,   /* missing, no permission, ... (*os_err: errno or GetLastError) */
    SKIM_FILE_NOT_REGULAR,   /* a folder, a pipe, a device */
    SKIM_FILE_TOO_LARGE,     /* larger than the address space */
} skim_file_status;

/* Opens path (UTF-8 on Windows) and returns its size; *os_err gets the system's code. */
SKIM_INTERNAL skim_file_status skim_file_open(const char *path, skim_file *f, size_t *size,
                                            int *os_err);
/* Reads up to n bytes from the start (retrying short reads); returns the bytes read. */
SKIM_INTERNAL size_t skim_file_read_all(skim_file f, void *dst, size_t n);
/* Maps the first size bytes (size > 0) read-only; NULL when the system cannot. The mapping
 * outlives skim_file_close. */
SKIM_INTERNAL const void *skim_file_map(skim_file f, size_t size);
SKIM_INTERNAL void skim_file_unmap(const void *p, size_t size);
SKIM_INTERNAL void skim_file_close(skim_file f);

#endif
