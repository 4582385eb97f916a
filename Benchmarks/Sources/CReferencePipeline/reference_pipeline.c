/* SPDX-License-Identifier: MIT */
#include "reference_pipeline.h"

#include <speex/speex_resampler.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* G.711 μ-law by tables: 256 entries to decode, 65,536 to encode (the classic fast path). */
static int16_t ulaw_to_linear[256];
static uint8_t linear_to_ulaw[65536];

static int16_t ulaw_decode_formula(uint8_t code) {
    int c = (uint8_t)~code;
    int magnitude = ((((c & 0x0F) << 3) + 0x84) << ((c >> 4) & 7)) - 0x84;
    return (int16_t)((c & 0x80) ? -magnitude : magnitude);
}

static uint8_t ulaw_encode_formula(int16_t sample) {
    int x = sample, magnitude = ((x < 0 ? ~x : x) >> 2) + 33, segment = 1;
    if (magnitude > 0x1FFF) magnitude = 0x1FFF;
    for (int i = magnitude >> 6; i != 0; i >>= 1) segment++;
    int code = ((8 - segment) << 4) | (0x0F - ((magnitude >> segment) & 0x0F));
    return (uint8_t)(x < 0 ? code : code | 0x80);
}

static void build_tables(void) {
    static int built;
    if (built) return;
    for (int c = 0; c < 256; c++) ulaw_to_linear[c] = ulaw_decode_formula((uint8_t)c);
    for (int i = 0; i < 65536; i++) linear_to_ulaw[i] = ulaw_encode_formula((int16_t)(uint16_t)i);
    built = 1;
}

void reference_ulaw_decode(const uint8_t *in, int count, int16_t *out) {
    for (int i = 0; i < count; i++) out[i] = ulaw_to_linear[in[i]];
}

void reference_ulaw_encode(const int16_t *in, int count, uint8_t *out) {
    for (int i = 0; i < count; i++) out[i] = linear_to_ulaw[(uint16_t)in[i]];
}

/* A single-producer single-consumer ring with acquire/release positions, power-of-two size. */
enum { RING_CAPACITY = 4096, RING_MASK = RING_CAPACITY - 1 };
typedef struct {
    _Alignas(128) atomic_size_t read;
    _Alignas(128) atomic_size_t write;
    int16_t slots[RING_CAPACITY];
} ring;

static int ring_write(ring *r, const int16_t *data, int count) {
    size_t w = atomic_load_explicit(&r->write, memory_order_relaxed);
    size_t free_slots = RING_CAPACITY - (w - atomic_load_explicit(&r->read, memory_order_acquire));
    size_t n = (size_t)count < free_slots ? (size_t)count : free_slots;
    size_t start = w & RING_MASK, first = n < RING_CAPACITY - start ? n : RING_CAPACITY - start;
    memcpy(r->slots + start, data, first * sizeof *data);
    memcpy(r->slots, data + first, (n - first) * sizeof *data);
    atomic_store_explicit(&r->write, w + n, memory_order_release);
    return (int)n;
}

static int ring_read(ring *r, int16_t *data, int count) {
    size_t rd = atomic_load_explicit(&r->read, memory_order_relaxed);
    size_t readable = atomic_load_explicit(&r->write, memory_order_acquire) - rd;
    size_t n = (size_t)count < readable ? (size_t)count : readable;
    size_t start = rd & RING_MASK, first = n < RING_CAPACITY - start ? n : RING_CAPACITY - start;
    memcpy(data, r->slots + start, first * sizeof *data);
    memcpy(data + first, r->slots, (n - first) * sizeof *data);
    atomic_store_explicit(&r->read, rd + n, memory_order_release);
    return (int)n;
}

struct reference_pipeline {
    SpeexResamplerState *up, *down;
    ring uplink, downlink;
    int16_t narrow[160], wide[482], agent[480];
};

reference_pipeline *reference_pipeline_create(int quality) {
    build_tables();
    reference_pipeline *p = aligned_alloc(128, (sizeof *p + 127) / 128 * 128);
    if (p == NULL) return NULL;
    memset(p, 0, sizeof *p);
    int error = 0;
    p->up = speex_resampler_init(1, 8000, 24000, quality, &error);
    p->down = speex_resampler_init(1, 24000, 8000, quality, &error);
    if (p->up == NULL || p->down == NULL) {
        reference_pipeline_destroy(p);
        return NULL;
    }
    return p;
}

void reference_pipeline_destroy(reference_pipeline *p) {
    if (p == NULL) return;
    if (p->up) speex_resampler_destroy(p->up);
    if (p->down) speex_resampler_destroy(p->down);
    free(p);
}

int reference_pipeline_process_frame(reference_pipeline *p, const uint8_t *caller, uint8_t *heard) {
    reference_ulaw_decode(caller, 160, p->narrow);
    spx_uint32_t in = 160, out = 482;
    speex_resampler_process_int(p->up, 0, p->narrow, &in, p->wide, &out);
    ring_write(&p->uplink, p->wide, (int)out);

    int from_caller = ring_read(&p->uplink, p->agent, 480);
    ring_write(&p->downlink, p->agent, from_caller);

    int to_caller = ring_read(&p->downlink, p->wide, 482);
    in = (spx_uint32_t)to_caller;
    out = 160;
    speex_resampler_process_int(p->down, 0, p->wide, &in, p->narrow, &out);
    reference_ulaw_encode(p->narrow, (int)out, heard);
    return (int)out;
}
