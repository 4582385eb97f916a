// SPDX-License-Identifier: MIT
// See include/AllocationCounter.h. The allocator functions forward to glibc's __libc_* entry
// points (no dlsym inside malloc, so no recursion); pthread_mutex_lock is found with
// dlsym(RTLD_NEXT) on first use. The counters are thread-local, so other threads of the test
// runner do not disturb a measurement.
#define _GNU_SOURCE
#include "AllocationCounter.h"
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

// Sanitizers intercept the allocator themselves; a second interposer bypassing theirs crashes
// the process. Under a sanitizer (make test-tsan runs the rings only) nothing is interposed and
// ab_counting_is_interposed() says so.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define AB_UNDER_SANITIZER 1
#endif
#endif

static __thread int counting;
static __thread ab_allocation_counts counts;
static __thread int measuring;
static __thread int64_t thread_bytes;
static volatile int interposed_malloc_seen;

#ifndef AB_UNDER_SANITIZER
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static int (*real_mutex_lock)(pthread_mutex_t *);
static int (*real_mutex_trylock)(pthread_mutex_t *);

// Resolved on first use: shared libraries' constructors (the Swift runtime's among them) lock
// mutexes before this file's constructors would run. dlsym does not call pthread_mutex_lock.
static void resolve_real_functions(void) {
    real_mutex_lock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
    real_mutex_trylock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_trylock");
}

static inline void count_allocation(void) {
    interposed_malloc_seen = 1;
    if (counting) counts.allocations++;
}

/* Net bytes of this thread while measuring: what it gets minus what it gives back. */
static inline void *measured(void *p) {
    if (measuring && p != NULL) thread_bytes += (int64_t)malloc_usable_size(p);
    return p;
}

void *malloc(size_t size) { count_allocation(); return measured(__libc_malloc(size)); }
void *calloc(size_t n, size_t size) { count_allocation(); return measured(__libc_calloc(n, size)); }
void *realloc(void *p, size_t size) {
    count_allocation();
    if (measuring && p != NULL) thread_bytes -= (int64_t)malloc_usable_size(p);
    return measured(__libc_realloc(p, size));
}
void *memalign(size_t alignment, size_t size) { count_allocation(); return measured(__libc_memalign(alignment, size)); }
void *aligned_alloc(size_t alignment, size_t size) { count_allocation(); return measured(__libc_memalign(alignment, size)); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    count_allocation();
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *p = measured(__libc_memalign(alignment, size));
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}

void free(void *p) {
    if (p != NULL && counting) counts.frees++;
    if (p != NULL && measuring) thread_bytes -= (int64_t)malloc_usable_size(p);
    __libc_free(p);
}

int pthread_mutex_lock(pthread_mutex_t *m) {
    if (counting) counts.mutex_locks++;
    if (real_mutex_lock == NULL) resolve_real_functions();
    return real_mutex_lock(m);
}

int pthread_mutex_trylock(pthread_mutex_t *m) {
    if (counting) counts.mutex_locks++;
    if (real_mutex_trylock == NULL) resolve_real_functions();
    return real_mutex_trylock(m);
}
#endif /* AB_UNDER_SANITIZER */

void ab_counting_start(void) {
    counts = (ab_allocation_counts){0, 0, 0};
    counting = 1;
}

ab_allocation_counts ab_counting_stop(void) {
    counting = 0;
    return counts;
}

int ab_counting_is_interposed(void) {
    interposed_malloc_seen = 0;
    void *volatile p = malloc(16);  /* resolved through the PLT like any caller's */
    free(p);
    return interposed_malloc_seen;
}

void ab_thread_bytes_start(void) {
    thread_bytes = 0;
    measuring = 1;
}

int64_t ab_thread_bytes_stop(void) {
    measuring = 0;
#ifdef AB_UNDER_SANITIZER
    return -1;
#else
    return thread_bytes;
#endif
}

size_t ab_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd; /* small chunks + mmapped large ones */
}
