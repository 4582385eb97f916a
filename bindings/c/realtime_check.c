/* SPDX-License-Identifier: MIT */
/*
 * realtime_check: the realtime contract through the C ABI, counted for real. This program
 * defines malloc, calloc, realloc, free, memalign, aligned_alloc, posix_memalign and
 * pthread_mutex_lock/trylock itself, so every call libaudiobridge makes to them lands here
 * (executable symbols come first in the dynamic linker's lookup) and is counted on the
 * calling thread. It runs 100,000 full-duplex session frames — agent items, caller speech,
 * barge-ins, interrupts, DTMF, events — and requires zero of each on the per-frame calls and
 * the agent-side calls. A control run with one deliberate malloc per frame must count them.
 * Then 100,000 frames of RTP through ab_rtp: two SRTP endpoints back to back, packets lost,
 * digits sent and received, every media-thread call counted.
 *
 *   realtime_check
 */
#define _GNU_SOURCE
#include <audiobridge.h>

#include "check.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread int counting;
static __thread unsigned long allocations, frees, locks;

void *malloc(size_t n) { if (counting) allocations++; return __libc_malloc(n); }
void *calloc(size_t n, size_t s) { if (counting) allocations++; return __libc_calloc(n, s); }
void *realloc(void *p, size_t n) { if (counting) allocations++; return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { if (counting) allocations++; return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { if (counting) allocations++; return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    if (counting) allocations++;
    void *p = __libc_memalign(a, n);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}
void free(void *p) { if (p != NULL && counting) frees++; __libc_free(p); }

static int (*real_lock)(pthread_mutex_t *);
static int (*real_trylock)(pthread_mutex_t *);
int pthread_mutex_lock(pthread_mutex_t *m) {
    if (counting) locks++;
    if (real_lock == NULL) *(void **)&real_lock = dlsym(RTLD_NEXT, "pthread_mutex_lock");
    return real_lock(m);
}
int pthread_mutex_trylock(pthread_mutex_t *m) {
    if (counting) locks++;
    if (real_trylock == NULL) *(void **)&real_trylock = dlsym(RTLD_NEXT, "pthread_mutex_trylock");
    return real_trylock(m);
}

enum { FRAME = 160, FRAMES = 100000 };

static uint8_t quiet[FRAME], talking[FRAME], heard[FRAME], uplink[4096];
static int16_t agent_audio[24000]; /* 1 s at 24 kHz */

/* One full-duplex frame with everything a call does around it. */
static int frame(ab_session *s, int i, int deliberate_malloc, unsigned long *barge_ins) {
    size_t n = 0;
    int status = AB_OK;
    if (i % 100 == 0) {
        status |= ab_session_write_downlink(s, (uint64_t)i + 1, agent_audio, sizeof agent_audio, &n);
        status |= ab_session_end_item(s, (uint64_t)i + 1);
    }
    if (i % 1000 == 500) status |= ab_session_interrupt(s);
    if (i % 1000 == 700) status |= ab_session_caller_dtmf(s, '5');
    if (i % 1000 == 800) status |= ab_session_request_transfer(s, (uint64_t)i) | ab_session_request_hangup(s);
    /* A short sound (a pause that resumes), then real talk (a pause that commits). */
    int speaking = (i % 100 >= 10 && i % 100 < 17) || (i % 100 >= 30 && i % 100 < 45);
    status |= ab_session_write_caller(s, speaking ? talking : quiet, FRAME);
    status |= ab_session_read_caller(s, heard, sizeof heard, &n);
    do { status |= ab_session_read_uplink(s, uplink, sizeof uplink, &n); } while (n > 0);
    ab_event event = {.struct_size = sizeof(ab_event)};
    while (ab_session_poll_event(s, &event) == 1) if (event.kind == AB_EVENT_BARGE_IN) (*barge_ins)++;
    while (ab_session_poll_agent_event(s, &event) == 1) {}
    if (deliberate_malloc) {
        void *volatile p = malloc(32);
        free(p);
    }
    return status;
}

static void run(int deliberate_malloc) {
    ab_engine_config engine_config;
    ab_engine_config_init(&engine_config);
    engine_config.own_thread = 0;
    ab_engine *engine = NULL;
    ab_session *s = NULL;
    CHECK(ab_engine_create(&engine_config, &engine) == AB_OK);
    /* Creation allocates inside the library: proof that its malloc calls reach this counter. */
    allocations = 0;
    counting = 1;
    CHECK(ab_session_create(engine, NULL, &s) == AB_OK);
    counting = 0;
    CHECK(allocations > 10);
    if (s == NULL) return;

    unsigned long barge_ins = 0;
    int status = AB_OK;
    for (int i = 0; i < 200; i++) status |= frame(s, i, 0, &barge_ins); /* the loop's own warm-up */
    allocations = frees = locks = 0;
    barge_ins = 0;
    counting = 1;
    for (int i = 200; i < 200 + FRAMES; i++) status |= frame(s, i, deliberate_malloc, &barge_ins);
    counting = 0;
    CHECK(status == AB_OK);

    if (deliberate_malloc) {
        CHECK(allocations == FRAMES && frees == FRAMES);
    } else {
        printf("realtime_check: %d frames through the C ABI: %lu allocations, %lu frees, %lu mutex locks, %lu barge-ins\n",
               FRAMES, allocations, frees, locks, barge_ins);
        CHECK(allocations == 0);
        CHECK(frees == 0);
        CHECK(locks == 0);
        CHECK(barge_ins >= FRAMES / 100 * 9 / 10 - 2);
        ab_session_stats stats;
        stats.struct_size = sizeof stats;
        CHECK(ab_session_get_stats(s, &stats) == AB_OK);
        printf("realtime_check: %llu pauses, %llu of them resumed\n",
               (unsigned long long)stats.barge_in_pauses, (unsigned long long)stats.barge_in_resumes);
        CHECK(stats.barge_in_resumes >= FRAMES / 100 * 9 / 10 - 2);
    }
    ab_session_destroy(s);
    ab_engine_destroy(engine);
}

/* Two sessions, each behind an SRTP endpoint, A's packets into B (every 7th lost) and B's into
 * A; A's agent talks, A sends a digit now and then. Counted: the media thread's ab_rtp_* calls. */
static void run_rtp(void) {
    ab_engine_config engine_config;
    ab_engine_config_init(&engine_config);
    engine_config.own_thread = 0;
    ab_engine *engine = NULL;
    ab_session *a = NULL, *b = NULL;
    ab_rtp *rtp_a = NULL, *rtp_b = NULL;
    CHECK(ab_engine_create(&engine_config, &engine) == AB_OK);
    CHECK(ab_session_create(engine, NULL, &a) == AB_OK);
    CHECK(ab_session_create(engine, NULL, &b) == AB_OK);
    ab_rtp_config config;
    ab_rtp_config_init(&config);
    config.srtp_profile = AB_SRTP_AES128_CM_HMAC_SHA1_80;
    config.srtp_send_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";
    config.srtp_receive_key = "HRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgEA";
    CHECK(ab_rtp_create(a, &config, &rtp_a) == AB_OK);
    config.srtp_send_key = "HRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgEA";
    config.srtp_receive_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";
    CHECK(ab_rtp_create(b, &config, &rtp_b) == AB_OK);
    if (rtp_a == NULL || rtp_b == NULL) return;

    static uint8_t to_b[AB_RTP_MAX_PACKET], to_a[AB_RTP_MAX_PACKET];
    int status = AB_OK;
    for (int i = 0; i < 200 + FRAMES; i++) {
        if (i == 200) {
            allocations = frees = locks = 0;
            counting = 1;
        }
        uint64_t now = (uint64_t)i * 20000u;
        size_t n = 0, length_b = 0, length_a = 0;
        if (i % 100 == 0) {
            status |= ab_session_write_downlink(a, (uint64_t)i + 1, agent_audio, sizeof agent_audio, &n);
            status |= ab_session_end_item(a, (uint64_t)i + 1);
        }
        if (i % 500 == 250) status |= ab_rtp_send_digit(rtp_a, '3', 60);
        status |= ab_rtp_tick(rtp_a, now, to_b, sizeof to_b, &length_b);
        if (i % 7 != 0) status |= ab_rtp_receive(rtp_b, to_b, length_b, now);
        status |= ab_rtp_tick(rtp_b, now, to_a, sizeof to_a, &length_a);
        status |= ab_rtp_receive(rtp_a, to_a, length_a, now);
        do { status |= ab_session_read_uplink(b, uplink, sizeof uplink, &n); } while (n > 0);
        do { status |= ab_session_read_uplink(a, uplink, sizeof uplink, &n); } while (n > 0);
        ab_event event = {.struct_size = sizeof(ab_event)};
        while (ab_session_poll_event(a, &event) == 1) {}
        while (ab_session_poll_event(b, &event) == 1) {}
        while (ab_session_poll_agent_event(a, &event) == 1) {}
        while (ab_session_poll_agent_event(b, &event) == 1) {}
    }
    counting = 0;
    CHECK(status == AB_OK);
    ab_rtp_stats stats;
    stats.struct_size = sizeof stats;
    CHECK(ab_rtp_get_stats(rtp_b, &stats) == AB_OK);
    printf("realtime_check: %d RTP frames (SRTP, 1 in 7 lost, DTMF) through ab_rtp: %lu allocations, %lu frees, %lu mutex locks; "
           "%llu packets taken, %llu frames concealed, %llu digits\n", FRAMES, allocations, frees, locks,
           (unsigned long long)stats.packets_received, (unsigned long long)stats.frames_concealed, (unsigned long long)stats.digits_received);
    CHECK(allocations == 0);
    CHECK(frees == 0);
    CHECK(locks == 0);
    CHECK(stats.packets_received > FRAMES * 8 / 10);
    CHECK(stats.frames_concealed > FRAMES / 10);
    /* A host built against a later header passes a larger struct: this version's part is
     * written, the rest left alone, struct_size says how much; a smaller one is refused. */
    struct { ab_rtp_stats stats; uint64_t later[4]; } grown;
    memset(&grown, 0xEE, sizeof grown);
    grown.stats.struct_size = sizeof grown;
    CHECK(ab_rtp_get_stats(rtp_b, &grown.stats) == AB_OK);
    CHECK(grown.stats.struct_size == sizeof(ab_rtp_stats) && grown.stats.packets_received == stats.packets_received);
    CHECK(grown.later[0] == 0xEEEEEEEEEEEEEEEEull && grown.later[3] == 0xEEEEEEEEEEEEEEEEull);
    ab_rtp_stats small;
    small.struct_size = (uint32_t)offsetof(ab_rtp_stats, resynchronisations);
    CHECK(ab_rtp_get_stats(rtp_b, &small) == AB_E_ABI_MISMATCH);
    CHECK(stats.digits_received >= FRAMES / 500 - 1);
    ab_rtp_destroy(rtp_a);
    ab_rtp_destroy(rtp_b);
    ab_session_destroy(a);
    ab_session_destroy(b);
    ab_engine_destroy(engine);
}

/* The library's stateless calls, first thing in a fresh process (before any engine or session
 * exists): G.711 in every direction, then a resampler's processing (its creation allocates and
 * is not counted). */
static void run_stateless(void) {
    int16_t pcm[FRAME], back[FRAME], wide[3 * FRAME + 8];
    uint8_t codes[FRAME], other[FRAME];
    for (int i = 0; i < FRAME; i++) pcm[i] = (int16_t)(9000 * sin(i * 0.3));
    int status = 0;
    counting = 1; /* from the process's very first call into the library */
    allocations = frees = locks = 0;
    for (int round = 0; round < 1000; round++) {
        status |= ab_ulaw_encode(pcm, FRAME, codes);
        status |= ab_ulaw_decode(codes, FRAME, back);
        status |= ab_ulaw_to_alaw(codes, FRAME, other);
        status |= ab_alaw_decode(other, FRAME, back);
        status |= ab_alaw_encode(pcm, FRAME, other);
        status |= ab_alaw_to_ulaw(other, FRAME, codes);
    }
    counting = 0;
    printf("G.711 before any engine, the first call included: %lu allocations, %lu frees, %lu locks over 6,000 calls\n", allocations, frees, locks);
    CHECK(status == AB_OK);
    CHECK(allocations == 0 && frees == 0 && locks == 0);

    ab_resampler *up = NULL;
    CHECK(ab_resampler_create(8000, 24000, 4, &up) == AB_OK);
    size_t produced_total = 0;
    counting = 1;
    allocations = frees = locks = 0;
    for (int round = 0; round < 1000; round++) {
        size_t in = FRAME, out = sizeof wide / sizeof wide[0];
        status |= ab_resampler_process(up, pcm, &in, wide, &out);
        produced_total += out;
    }
    counting = 0;
    printf("resampler: %lu allocations, %lu frees, %lu locks over 1,000 frames (%zu samples out)\n", allocations, frees, locks, produced_total);
    CHECK(status == AB_OK);
    CHECK(allocations == 0 && frees == 0 && locks == 0);
    CHECK(produced_total > 1000 * 3 * FRAME - 100);
    ab_resampler_destroy(up);
}

int main(void) {
    run_stateless();
    for (int i = 0; i < 24000; i++) agent_audio[i] = (int16_t)(5000 * sin(i * 0.05));
    int16_t pcm[FRAME] = {0};
    ab_ulaw_encode(pcm, FRAME, quiet);
    for (int i = 0; i < FRAME; i++) pcm[i] = (int16_t)(12000 * sin(2 * 3.14159265358979 * 300 * i / 8000.0));
    ab_ulaw_encode(pcm, FRAME, talking);
    run(1); /* the counter sees what is there */
    run(0); /* and the media path has nothing */
    run_rtp();
    return FINISH("realtime_check");
}
