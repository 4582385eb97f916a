/* SPDX-License-Identifier: MIT */
/*
 * abi_check: tests libaudiobridge through its C header, the way a C host uses it.
 *
 *   abi_check <vectors-dir> <path-to-libaudiobridge.so>
 *
 * Checks version calls, status strings, G.711 against the ITU-T G.191 vectors (all 65,536
 * inputs and 256 codes), argument validation, the resampler (streaming equals one piece,
 * errors at creation), and that the library also loads with dlopen. Ends with the line
 * "abi_check: N passed, M failed" and exits non-zero if anything failed.
 */
#include <audiobridge.h>

#include "check.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *read_file(const char *dir, const char *name, size_t expected_size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    unsigned char *data = malloc(expected_size + 1);
    size_t got = fread(data, 1, expected_size + 1, f);
    fclose(f);
    if (got != expected_size) {
        fprintf(stderr, "%s: expected %zu bytes, got %zu\n", path, expected_size, got);
        exit(2);
    }
    return data;
}

static void check_library_calls(void) {
    CHECK(ab_abi_version() == AB_ABI_VERSION);
    CHECK(ab_version() == ((AB_VERSION_MAJOR << 16) | (AB_VERSION_MINOR << 8) | AB_VERSION_PATCH));
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", AB_VERSION_MAJOR, AB_VERSION_MINOR, AB_VERSION_PATCH);
    CHECK(strcmp(ab_version_string(), expected) == 0);

    CHECK(strcmp(ab_strerror(AB_OK), "ok") == 0);
    const int codes[] = {AB_E_INVALID_ARGUMENT, AB_E_UNSUPPORTED_SAMPLE_RATE, AB_E_UNSUPPORTED_QUALITY,
                         AB_E_OUT_OF_MEMORY, AB_E_BUFFER_TOO_SMALL, AB_E_INTERNAL, AB_E_WRONG_FRAME_SIZE,
                         AB_E_UNSUPPORTED_CODEC, AB_E_INVALID_FRAME_DURATION, AB_E_ABI_MISMATCH,
                         AB_E_INVALID_STATE, AB_E_WOULD_BLOCK, AB_E_PROTOCOL};
    const size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *text = ab_strerror(codes[i]);
        CHECK(text != NULL && strlen(text) > 5 && strcmp(text, "unknown status code") != 0);
        for (size_t j = 0; j < i; j++) CHECK(strcmp(text, ab_strerror(codes[j])) != 0);
    }
    CHECK(strcmp(ab_strerror(-9999), "unknown status code") == 0);
    CHECK(strcmp(ab_strerror(12345), "unknown status code") == 0);
}

static void check_g711(const char *vectors) {
    unsigned char *ulaw_encode = read_file(vectors, "ulaw_encode.bin", 65536);
    unsigned char *alaw_encode = read_file(vectors, "alaw_encode.bin", 65536);
    unsigned char *ulaw_decode_raw = read_file(vectors, "ulaw_decode.bin", 512);
    unsigned char *alaw_decode_raw = read_file(vectors, "alaw_decode.bin", 512);
    int16_t ulaw_decode[256], alaw_decode[256];
    for (int c = 0; c < 256; c++) {
        ulaw_decode[c] = (int16_t)(uint16_t)(ulaw_decode_raw[2 * c] | ulaw_decode_raw[2 * c + 1] << 8);
        alaw_decode[c] = (int16_t)(uint16_t)(alaw_decode_raw[2 * c] | alaw_decode_raw[2 * c + 1] << 8);
    }

    int16_t *samples = malloc(65536 * sizeof *samples);
    unsigned char *codes = malloc(65536);
    for (int i = 0; i < 65536; i++) samples[i] = (int16_t)(uint16_t)i;

    CHECK(ab_ulaw_encode(samples, 65536, codes) == AB_OK);
    CHECK(memcmp(codes, ulaw_encode, 65536) == 0);
    CHECK(ab_alaw_encode(samples, 65536, codes) == AB_OK);
    CHECK(memcmp(codes, alaw_encode, 65536) == 0);

    uint8_t all_codes[256], transcoded[256];
    int16_t decoded[256];
    for (int c = 0; c < 256; c++) all_codes[c] = (uint8_t)c;
    CHECK(ab_ulaw_decode(all_codes, 256, decoded) == AB_OK);
    CHECK(memcmp(decoded, ulaw_decode, sizeof decoded) == 0);
    CHECK(ab_alaw_decode(all_codes, 256, decoded) == AB_OK);
    CHECK(memcmp(decoded, alaw_decode, sizeof decoded) == 0);

    /* Transcoding equals decode-then-encode under the vectors, code for code. */
    int ulaw_to_alaw_mismatches = 0, alaw_to_ulaw_mismatches = 0;
    CHECK(ab_ulaw_to_alaw(all_codes, 256, transcoded) == AB_OK);
    for (int c = 0; c < 256; c++)
        if (transcoded[c] != alaw_encode[(uint16_t)ulaw_decode[c]]) ulaw_to_alaw_mismatches++;
    CHECK(ab_alaw_to_ulaw(all_codes, 256, transcoded) == AB_OK);
    for (int c = 0; c < 256; c++)
        if (transcoded[c] != ulaw_encode[(uint16_t)alaw_decode[c]]) alaw_to_ulaw_mismatches++;
    CHECK(ulaw_to_alaw_mismatches == 0);
    CHECK(alaw_to_ulaw_mismatches == 0);

    /* Bad arguments are errors, never crashes; a zero count accepts NULL. */
    CHECK(ab_ulaw_encode(NULL, 160, codes) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_ulaw_encode(samples, 160, NULL) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_alaw_decode(NULL, 1, decoded) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_ulaw_to_alaw(all_codes, 1, NULL) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_ulaw_decode(NULL, 0, NULL) == AB_OK);
    CHECK(ab_alaw_to_ulaw(NULL, 0, NULL) == AB_OK);
    CHECK(ab_ulaw_encode(samples, (size_t)-1, codes) == AB_E_INVALID_ARGUMENT);

    free(samples);
    free(codes);
    free(ulaw_encode);
    free(alaw_encode);
    free(ulaw_decode_raw);
    free(alaw_decode_raw);
}

/* Resamples `in` through a new resampler in chunks of `chunk` samples; returns samples written. */
static size_t resample_in_chunks(uint32_t from, uint32_t to, const int16_t *in, size_t count, size_t chunk, int16_t *out, size_t capacity) {
    ab_resampler *r = NULL;
    if (ab_resampler_create(from, to, AB_RESAMPLER_DEFAULT_QUALITY, &r) != AB_OK) return 0;
    size_t written = 0;
    for (size_t start = 0; start < count; start += chunk) {
        size_t in_samples = count - start < chunk ? count - start : chunk;
        size_t out_samples = capacity - written;
        size_t expected_in = in_samples;
        if (ab_resampler_process(r, in + start, &in_samples, out + written, &out_samples) != AB_OK || in_samples != expected_in) {
            ab_resampler_destroy(r);
            return 0;
        }
        written += out_samples;
    }
    ab_resampler_destroy(r);
    return written;
}

static void check_resampler(void) {
    ab_resampler *r = (ab_resampler *)(intptr_t)1;
    CHECK(ab_resampler_create(11025, 8000, 5, &r) == AB_E_UNSUPPORTED_SAMPLE_RATE && r == NULL);
    CHECK(ab_resampler_create(8000, 0, 5, &r) == AB_E_UNSUPPORTED_SAMPLE_RATE && r == NULL);
    CHECK(ab_resampler_create(8000, 24000, 11, &r) == AB_E_UNSUPPORTED_QUALITY && r == NULL);
    CHECK(ab_resampler_create(8000, 24000, -1, &r) == AB_E_UNSUPPORTED_QUALITY && r == NULL);
    CHECK(ab_resampler_create(8000, 24000, 5, NULL) == AB_E_INVALID_ARGUMENT);

    /* One second of a 1 kHz tone, 8 kHz → 24 kHz: 20 ms chunks give exactly the one-piece output. */
    enum { IN = 8000, CAP = 3 * IN + 64 };
    static int16_t tone[IN], whole[CAP], chunked[CAP];
    for (int n = 0; n < IN; n++) tone[n] = (int16_t)(10000.0 * sin(2.0 * 3.14159265358979 * 1000.0 * n / 8000.0));
    size_t whole_count = resample_in_chunks(8000, 24000, tone, IN, IN, whole, CAP);
    size_t chunked_count = resample_in_chunks(8000, 24000, tone, IN, 160, chunked, CAP);
    CHECK(whole_count > 3 * IN - 200 && whole_count <= 3 * IN);
    CHECK(chunked_count == whole_count);
    CHECK(memcmp(whole, chunked, whole_count * sizeof(int16_t)) == 0);

    /* The upsampled tone keeps its level (peak near 10000 after the filter settles). */
    int peak = 0;
    for (size_t i = 1000; i < whole_count; i++) peak = abs(whole[i]) > peak ? abs(whole[i]) : peak;
    CHECK(peak > 9500 && peak < 10500);

    CHECK(ab_resampler_create(24000, 8000, 5, &r) == AB_OK && r != NULL);
    uint32_t in_latency = 0, out_latency = 0;
    CHECK(ab_resampler_latency(r, &in_latency, &out_latency) == AB_OK);
    CHECK(in_latency > 0 && out_latency > 0 && in_latency == 3 * out_latency);
    CHECK(ab_resampler_latency(r, NULL, NULL) == AB_OK);
    size_t max_out = 0;
    CHECK(ab_resampler_max_output(r, 480, &max_out) == AB_OK && max_out >= 160 && max_out <= 162);
    CHECK(ab_resampler_max_output(r, 480, NULL) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_resampler_max_output(r, (size_t)-1, &max_out) == AB_E_INVALID_ARGUMENT);

    int16_t in[480] = {0}, out[200];
    size_t in_samples = 480, out_samples = 200;
    CHECK(ab_resampler_process(r, in, &in_samples, out, &out_samples) == AB_OK && in_samples == 480 && out_samples == 160);
    in_samples = 480;
    out_samples = 200;
    CHECK(ab_resampler_process(r, NULL, &in_samples, out, &out_samples) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_resampler_process(r, in, NULL, out, &out_samples) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_resampler_process(r, in, &in_samples, out, NULL) == AB_E_INVALID_ARGUMENT);
    in_samples = 0;
    out_samples = 0;
    CHECK(ab_resampler_process(r, NULL, &in_samples, NULL, &out_samples) == AB_OK && in_samples == 0 && out_samples == 0);
    CHECK(ab_resampler_reset(r) == AB_OK);
    ab_resampler_destroy(r);

    /* NULL handles are errors, and destroying NULL is a no-op. */
    in_samples = 480;
    out_samples = 200;
    CHECK(ab_resampler_process(NULL, in, &in_samples, out, &out_samples) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_resampler_reset(NULL) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_resampler_latency(NULL, &in_latency, &out_latency) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_resampler_max_output(NULL, 1, &max_out) == AB_E_INVALID_ARGUMENT);
    ab_resampler_destroy(NULL);
}

/* A host that loads the library at run time (as Asterisk and FreeSWITCH load modules). */
static void check_dlopen(const char *library) {
    void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    CHECK(handle != NULL);
    if (handle == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return;
    }
    /* ISO C has no object-to-function pointer cast; POSIX guarantees the representations match. */
    int (*abi_version)(void) = NULL;
    int (*ulaw_encode)(const int16_t *, size_t, uint8_t *) = NULL;
    void *symbol = dlsym(handle, "ab_abi_version");
    memcpy(&abi_version, &symbol, sizeof abi_version);
    symbol = dlsym(handle, "ab_ulaw_encode");
    memcpy(&ulaw_encode, &symbol, sizeof ulaw_encode);
    CHECK(abi_version != NULL && ulaw_encode != NULL);
    if (abi_version != NULL && ulaw_encode != NULL) {
        int16_t sample = 1000;
        uint8_t code = 0;
        CHECK(abi_version() == AB_ABI_VERSION);
        CHECK(ulaw_encode(&sample, 1, &code) == AB_OK && code == 0xCE);
    }
    /* Only the C ABI is visible: no Swift symbol leaks out. */
    CHECK(dlsym(handle, "swift_retain") == NULL);
    CHECK(dlclose(handle) == 0);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <vectors-dir> <libaudiobridge.so>\n", argv[0]);
        return 2;
    }
    check_library_calls();
    check_g711(argv[1]);
    check_resampler();
    check_dlopen(argv[2]);
    return FINISH("abi_check");
}
