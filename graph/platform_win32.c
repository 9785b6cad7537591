/* platform_win32.c - skim-platform.h on Windows (MinGW-w64 and MSVC): Win32 threads,
 * slim reader/writer locks, condition variables, QueryPerformanceCounter and file mappings.
 * Paths are UTF-8 and opened as wide strings, so that any file name works. */
#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include "skim-platform.h"

#include <windows.h>
#include <process.h>
#include <stdlib.h>

_Static_assert(sizeof(SRWLOCK) == sizeof(void *), "skim_mutex holds an SRWLOCK");
_Static_assert(sizeof(CONDITION_VARIABLE) == sizeof(void *), "skim_cond holds a CONDITION_VARIABLE");

static unsigned __stdcall thread_main(void *p) {
    skim_thread *t = p;
    t->fn(t->arg);
    return 0;
}

bool skim_thread_create(skim_thread *t, void (*fn)(void *), void *arg) {
    t->fn = fn;
    t->arg = arg;
    /* _beginthreadex, not CreateThread: the C runtime's per-thread state is set up. */
    uintptr_t h = _beginthreadex(NULL, 0, thread_main, t, 0, NULL);
    t->h = (void *)h;
    return h != 0;
}

void skim_thread_join(skim_thread *t) {
    WaitForSingleObject((HANDLE)t->h, INFINITE);
    CloseHandle((HANDLE)t->h);
}

void skim_thread_yield(void) {
    SwitchToThread();
}

bool skim_mutex_init(skim_mutex *m) {
    InitializeSRWLock((PSRWLOCK)&m->p);
    return true;
}
void skim_mutex_destroy(skim_mutex *m) {
    (void)m; /* an SRW lock holds no resources */
}
void skim_mutex_lock(skim_mutex *m) {
    AcquireSRWLockExclusive((PSRWLOCK)&m->p);
}
void skim_mutex_unlock(skim_mutex *m) {
    ReleaseSRWLockExclusive((PSRWLOCK)&m->p);
}

bool skim_cond_init(skim_cond *c) {
    InitializeConditionVariable((PCONDITION_VARIABLE)&c->p);
    return true;
}
void skim_cond_destroy(skim_cond *c) {
    (void)c;
}
void skim_cond_wait(skim_cond *c, skim_mutex *m) {
    SleepConditionVariableSRW((PCONDITION_VARIABLE)&c->p, (PSRWLOCK)&m->p, INFINITE, 0);
}
void skim_cond_signal(skim_cond *c) {
    WakeConditionVariable((PCONDITION_VARIABLE)&c->p);
}
void skim_cond_broadcast(skim_cond *c) {
    WakeAllConditionVariable((PCONDITION_VARIABLE)&c->p);
}

uint64_t skim_time_ns(void) {
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&c);
    uint64_t fq = (uint64_t)f.QuadPart, t = (uint64_t)c.QuadPart;
    return t / fq * 1000000000u + t % fq * 1000000000u / fq;
}

skim_file_status skim_file_open(const char *path, skim_file *f, size_t *size, int *os_err) {
    *os_err = 0;
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, NULL, 0);
    wchar_t *w = n > 0 ? malloc((size_t)n * sizeof *w) : NULL;
    if (!w || MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, w, n) != n) {
        *os_err = w ? (int)GetLastError() : (int)ERROR_NOT_ENOUGH_MEMORY;
        free(w);
        return SKIM_FILE_CANNOT_OPEN;
    }
    HANDLE h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE) {
        *os_err = (int)GetLastError();
        return SKIM_FILE_CANNOT_OPEN;
    }
    LARGE_INTEGER sz;
    if (GetFileType(h) != FILE_TYPE_DISK || !GetFileSizeEx(h, &sz) || sz.QuadPart < 0) {
        CloseHandle(h);
        return SKIM_FILE_NOT_REGULAR;
    }
    if ((uint64_t)sz.QuadPart > (uint64_t)SIZE_MAX) {
        CloseHandle(h);
        return SKIM_FILE_TOO_LARGE;
    }
    f->h = (intptr_t)h;
    *size = (size_t)sz.QuadPart;
    return SKIM_FILE_OK;
}

size_t skim_file_read_all(skim_file f, void *dst, size_t n) {
    size_t got = 0;
    while (got < n) {
        DWORD chunk = n - got > 0x40000000u ? 0x40000000u : (DWORD)(n - got), r = 0;
        if (!ReadFile((HANDLE)f.h, (char *)dst + got, chunk, &r, NULL) || r == 0) break;
        got += r;
    }
    return got;
}

const void *skim_file_map(skim_file f, size_t size) {
    HANDLE m = CreateFileMappingW((HANDLE)f.h, NULL, PAGE_READONLY, 0, 0, NULL);
    if (!m) return NULL;
    void *p = MapViewOfFile(m, FILE_MAP_READ, 0, 0, size);
    CloseHandle(m); /* the view keeps the mapping alive */
    return p;
}

void skim_file_unmap(const void *p, size_t size) {
    (void)size;
    UnmapViewOfFile(p);
}

void skim_file_close(skim_file f) {
    CloseHandle((HANDLE)f.h);
}
#else
typedef int skim_platform_win32_unused; /* ISO C: a translation unit is not empty */
#endif
