/* SPDX-License-Identifier: MIT */
/*
 * audiobridge.h — the C contract of libaudiobridge.
 *
 * AudioBridge connects a live phone call (8 kHz G.711, 20 ms frames) to an AI voice agent.
 * This header is the whole public C API; it is plain C99 with <stdint.h>/<stddef.h> and also
 * compiles as C++.
 *
 * Conventions
 *  - Every symbol starts with `ab_` (macros and constants with `AB_`).
 *  - Every fallible function returns an `int` status: 0 (`AB_OK`) or a negative `AB_E_*` code;
 *    `ab_strerror` describes any code. Results come back through out-parameters.
 *  - Objects are opaque handles with a create/destroy pair. Passing NULL where a handle or
 *    buffer is required returns `AB_E_INVALID_ARGUMENT`; nothing in the library traps or aborts
 *    on bad input from the host.
 *  - Units are in the names: `_samples`, `_hz`, `_ms`. Samples are signed 16-bit native-endian
 *    mono PCM ("slin"); G.711 codes are one byte per sample.
 *  - Direction words: "uplink" is caller → agent, "downlink" is agent → caller, seen from the
 *    engine.
 *  - Each function says which thread may call it and whether it is REALTIME-SAFE: a
 *    realtime-safe function never allocates, locks, blocks, makes a system call or logs, so a
 *    host may call it from its 20 ms media thread.
 *
 * Versioning
 *  - `AB_ABI_VERSION` changes only on an incompatible change; the shared object's SONAME is
 *    libaudiobridge.so.<AB_ABI_VERSION>. A host checks `ab_abi_version() == AB_ABI_VERSION` at
 *    load time. Functions and status codes are only ever added, never renumbered.
 */
#ifndef AUDIOBRIDGE_H
#define AUDIOBRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Library -------------------------------------------------------------------------------- */

/** The ABI this header describes. */
#define AB_ABI_VERSION 1

/** The library version this header ships with, as major/minor/patch. */
#define AB_VERSION_MAJOR 0
#define AB_VERSION_MINOR 1
#define AB_VERSION_PATCH 0

/** Status codes. 0 is success; errors are negative and stable. */
enum {
    AB_OK = 0,
    AB_E_INVALID_ARGUMENT = -1,       /* NULL pointer, size out of range, or a bad value */
    AB_E_UNSUPPORTED_SAMPLE_RATE = -2, /* a rate other than 8000, 16000, 24000, 48000 Hz */
    AB_E_UNSUPPORTED_QUALITY = -3,    /* a resampler quality outside 0..10 */
    AB_E_OUT_OF_MEMORY = -4,
    AB_E_BUFFER_TOO_SMALL = -5,
    AB_E_INTERNAL = -6                /* a library AudioBridge relies on failed unexpectedly */
};

/** The library's version packed as (major << 16) | (minor << 8) | patch.
 *  Any thread. REALTIME-SAFE. */
uint32_t ab_version(void);

/** The library's version as a static NUL-terminated string such as "0.1.0".
 *  Any thread. REALTIME-SAFE. */
const char *ab_version_string(void);

/** The ABI the loaded library implements; compare with AB_ABI_VERSION.
 *  Any thread. REALTIME-SAFE. */
int ab_abi_version(void);

/** A static NUL-terminated English description of a status code ("ok" for 0, and
 *  "unknown status code" for a code this library does not know). Never NULL.
 *  Any thread. REALTIME-SAFE. */
const char *ab_strerror(int status);

/* ---- G.711 ---------------------------------------------------------------------------------- */
/*
 * G.711 μ-law (PCMU) and A-law (PCMA), bit-exact with ITU-T G.191 (negative samples quantised by
 * one's complement, so -1 encodes to μ-law 0x7F; no zero trap). μ-law decodes to ±32124, A-law
 * to ±32256. Each function converts `count` samples; `in` and `out` must not overlap, and may
 * be NULL only when `count` is 0. Returns AB_OK or AB_E_INVALID_ARGUMENT.
 * Any thread. REALTIME-SAFE.
 */
int ab_ulaw_encode(const int16_t *in, size_t count, uint8_t *out);
int ab_ulaw_decode(const uint8_t *in, size_t count, int16_t *out);
int ab_alaw_encode(const int16_t *in, size_t count, uint8_t *out);
int ab_alaw_decode(const uint8_t *in, size_t count, int16_t *out);
/** Direct transcoding; equal code for code to decoding and re-encoding. */
int ab_ulaw_to_alaw(const uint8_t *in, size_t count, uint8_t *out);
int ab_alaw_to_ulaw(const uint8_t *in, size_t count, uint8_t *out);

/* ---- Resampler ------------------------------------------------------------------------------ */
/*
 * A streaming mono PCM16 resampler (SpeexDSP). Filter state carries over calls, so audio fed in
 * 20 ms chunks comes out exactly as if fed in one piece. One resampler serves one stream on one
 * thread at a time.
 */
typedef struct ab_resampler ab_resampler;

/** The default quality (0 = fastest … 10 = best). */
#define AB_RESAMPLER_DEFAULT_QUALITY 4

/** Creates a resampler from `in_rate_hz` to `out_rate_hz` (each 8000, 16000, 24000 or 48000)
 *  at `quality` (0..10) and stores it in `*out`. All checks happen here, never at process time.
 *  Returns AB_OK, AB_E_INVALID_ARGUMENT (out is NULL), AB_E_UNSUPPORTED_SAMPLE_RATE,
 *  AB_E_UNSUPPORTED_QUALITY or AB_E_OUT_OF_MEMORY; on error `*out` is set to NULL.
 *  Control thread (allocates). Not realtime-safe. */
int ab_resampler_create(uint32_t in_rate_hz, uint32_t out_rate_hz, int quality, ab_resampler **out);

/** Resamples. On entry `*in_samples` is how many samples `in` holds and `*out_samples` how many
 *  `out` can take; on return they are how many were consumed and produced. Unconsumed input is
 *  the caller's to pass again. Size `out` with ab_resampler_max_output: then all input is
 *  consumed. Returns AB_OK or AB_E_INVALID_ARGUMENT (NULL pointers; `in`/`out` may be NULL
 *  only with a count of 0).
 *  The thread that owns the resampler. REALTIME-SAFE. */
int ab_resampler_process(ab_resampler *resampler, const int16_t *in, size_t *in_samples,
                         int16_t *out, size_t *out_samples);

/** The largest number of output samples one ab_resampler_process call with `in_samples` input
 *  samples can produce, in `*out_samples`. Any thread. REALTIME-SAFE. */
int ab_resampler_max_output(const ab_resampler *resampler, size_t in_samples, size_t *out_samples);

/** The delay the filter adds, in input samples and in output samples (either pointer may be
 *  NULL). Any thread. REALTIME-SAFE. */
int ab_resampler_latency(const ab_resampler *resampler, uint32_t *input_samples, uint32_t *output_samples);

/** Clears the filter history so the resampler can serve an unrelated stream.
 *  The thread that owns the resampler. REALTIME-SAFE. */
int ab_resampler_reset(ab_resampler *resampler);

/** Destroys a resampler; NULL is ignored. Control thread. Not realtime-safe. */
void ab_resampler_destroy(ab_resampler *resampler);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* AUDIOBRIDGE_H */
