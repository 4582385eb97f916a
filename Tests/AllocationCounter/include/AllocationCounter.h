// SPDX-License-Identifier: MIT
// Counts heap and mutex calls made by the calling thread while counting is on. Linked into the
// test executable, it interposes malloc, calloc, realloc, free, posix_memalign, aligned_alloc,
// memalign and pthread_mutex_lock/trylock for the whole process, and forwards each to libc.
#ifndef AUDIOBRIDGE_ALLOCATION_COUNTER_H
#define AUDIOBRIDGE_ALLOCATION_COUNTER_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t allocations;   /* malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign */
    uint64_t frees;         /* free (of a non-NULL pointer) */
    uint64_t mutex_locks;   /* pthread_mutex_lock and pthread_mutex_trylock */
} ab_allocation_counts;

/** Starts counting on this thread, from zero. */
void ab_counting_start(void);
/** Stops counting on this thread and returns what was counted since the start. */
ab_allocation_counts ab_counting_stop(void);
/** Bytes of heap in use now (glibc mallinfo2): the whole process, other threads included. */
size_t ab_heap_in_use(void);
/** Starts counting the heap bytes this thread allocates minus those it frees (usable sizes). */
void ab_thread_bytes_start(void);
/** Stops, and returns the net bytes since the start; -1 when not interposed (sanitizers). */
int64_t ab_thread_bytes_stop(void);
/** True when this process's malloc really is the counter's (the interposition took effect). */
int ab_counting_is_interposed(void);

#endif
