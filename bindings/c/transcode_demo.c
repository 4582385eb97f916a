/* SPDX-License-Identifier: MIT */
/*
 * transcode_demo: what `make run` runs until the bridge server exists. It takes a caller
 * recording (8 kHz WAV: μ-law, A-law or PCM16) through libaudiobridge's C ABI in 20 ms frames,
 * the way a host's media thread would:
 *
 *   caller → decode → 8k→24k (the agent's rate) → 24k→8k → μ-law    (what the round trip costs)
 *   caller → μ-law → A-law (direct transcoding)
 *
 * and writes <out-dir>/caller-24k.wav, caller-alaw.wav and caller-roundtrip-ulaw.wav.
 *
 *   transcode_demo <input.wav> <out-dir>
 */
#include <audiobridge.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WAV_PCM = 1, WAV_ALAW = 6, WAV_ULAW = 7, FRAME = 160, WIDE_FRAME = 480 };

static uint32_t le32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Reads an 8 kHz mono WAV as PCM16. Returns the sample count, or 0 on error. */
static size_t read_wav(const char *path, int16_t **samples, int *format) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) { perror(path); return 0; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *file = malloc((size_t)size);
    if (fread(file, 1, (size_t)size, f) != (size_t)size) { fclose(f); free(file); return 0; }
    fclose(f);
    if (size < 12 || memcmp(file, "RIFF", 4) != 0 || memcmp(file + 8, "WAVE", 4) != 0) {
        fprintf(stderr, "%s: not a RIFF/WAVE file\n", path);
        free(file);
        return 0;
    }
    int channels = 0, bits = 0;
    uint32_t rate = 0;
    size_t count = 0;
    *format = 0;
    for (long at = 12; at + 8 <= size;) {
        uint32_t chunk = le32(file + at + 4);
        const unsigned char *body = file + at + 8;
        if ((long)chunk > size - at - 8) break;
        if (memcmp(file + at, "fmt ", 4) == 0 && chunk >= 16) {
            *format = le16(body);
            channels = le16(body + 2);
            rate = le32(body + 4);
            bits = le16(body + 14);
        } else if (memcmp(file + at, "data", 4) == 0 && *format != 0) {
            if (channels != 1 || rate != 8000) {
                fprintf(stderr, "%s: need 8 kHz mono, got %u Hz × %d\n", path, rate, channels);
                break;
            }
            count = (*format == WAV_PCM && bits == 16) ? chunk / 2 : chunk;
            *samples = malloc(count * sizeof **samples);
            if (*format == WAV_ULAW) ab_ulaw_decode(body, count, *samples);
            else if (*format == WAV_ALAW) ab_alaw_decode(body, count, *samples);
            else if (*format == WAV_PCM && bits == 16) for (size_t i = 0; i < count; i++) (*samples)[i] = (int16_t)le16(body + 2 * i);
            else { fprintf(stderr, "%s: unsupported WAV format %d/%d bits\n", path, *format, bits); count = 0; }
            break;
        }
        at += 8 + chunk + (chunk & 1);
    }
    free(file);
    return count;
}

static void put16(FILE *f, uint16_t v) { fputc(v & 0xFF, f); fputc(v >> 8, f); }
static void put32(FILE *f, uint32_t v) { put16(f, (uint16_t)(v & 0xFFFF)); put16(f, (uint16_t)(v >> 16)); }

static int write_wav(const char *dir, const char *name, int format, uint32_t rate, const void *data, size_t count) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) { perror(path); return -1; }
    uint16_t bytes_per_sample = format == WAV_PCM ? 2 : 1;
    uint32_t data_bytes = (uint32_t)(count * bytes_per_sample);
    fwrite("RIFF", 1, 4, f); put32(f, 36 + data_bytes); fwrite("WAVEfmt ", 1, 8, f);
    put32(f, 16); put16(f, (uint16_t)format); put16(f, 1); put32(f, rate); put32(f, rate * bytes_per_sample);
    put16(f, bytes_per_sample); put16(f, (uint16_t)(8 * bytes_per_sample));
    fwrite("data", 1, 4, f); put32(f, data_bytes);
    if (format == WAV_PCM) for (size_t i = 0; i < count; i++) put16(f, (uint16_t)((const int16_t *)data)[i]);
    else fwrite(data, 1, count, f);
    fclose(f);
    printf("  wrote %s (%zu samples at %u Hz)\n", path, count, rate);
    return 0;
}

static int fail(const char *what, int status) {
    fprintf(stderr, "%s: %s\n", what, ab_strerror(status));
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s <input.wav> <out-dir>\n", argv[0]); return 2; }
    if (ab_abi_version() != AB_ABI_VERSION) { fprintf(stderr, "libaudiobridge ABI %d, header %d\n", ab_abi_version(), AB_ABI_VERSION); return 1; }
    printf("libaudiobridge %s (ABI %d)\n", ab_version_string(), ab_abi_version());

    int16_t *caller = NULL;
    int format = 0;
    size_t count = read_wav(argv[1], &caller, &format);
    if (count == 0) return 1;
    size_t frames = count / FRAME;
    count = frames * FRAME;
    printf("  read %s: %zu samples, %zu frames of 20 ms (%s)\n", argv[1], count, frames,
           format == WAV_ULAW ? "mu-law" : format == WAV_ALAW ? "A-law" : "PCM16");

    ab_resampler *up = NULL, *down = NULL;
    int status;
    if ((status = ab_resampler_create(8000, 24000, AB_RESAMPLER_DEFAULT_QUALITY, &up)) != AB_OK) return fail("ab_resampler_create", status);
    if ((status = ab_resampler_create(24000, 8000, AB_RESAMPLER_DEFAULT_QUALITY, &down)) != AB_OK) return fail("ab_resampler_create", status);

    uint8_t *ulaw = malloc(count), *alaw = malloc(count), *roundtrip_ulaw = malloc(count);
    int16_t *wide = malloc(3 * count * sizeof *wide), *roundtrip = malloc(count * sizeof *roundtrip);
    size_t wide_count = 0, roundtrip_count = 0;

    /* The per-frame work a media thread does; no allocation inside this loop. */
    for (size_t f = 0; f < frames; f++) {
        const int16_t *frame = caller + f * FRAME;
        ab_ulaw_encode(frame, FRAME, ulaw + f * FRAME);
        ab_ulaw_to_alaw(ulaw + f * FRAME, FRAME, alaw + f * FRAME);

        size_t in = FRAME, out = WIDE_FRAME + 2;
        if ((status = ab_resampler_process(up, frame, &in, wide + wide_count, &out)) != AB_OK) return fail("upsample", status);
        size_t down_in = out, down_out = FRAME + 2;
        if ((status = ab_resampler_process(down, wide + wide_count, &down_in, roundtrip + roundtrip_count, &down_out)) != AB_OK) return fail("downsample", status);
        wide_count += out;
        roundtrip_count += down_out;
    }
    ab_ulaw_encode(roundtrip, roundtrip_count, roundtrip_ulaw);

    uint32_t up_latency = 0, down_latency = 0;
    ab_resampler_latency(up, &up_latency, NULL);
    ab_resampler_latency(down, NULL, &down_latency);
    size_t delay = up_latency + down_latency;
    double signal = 0, noise = 0;
    for (size_t i = 0; i + delay < roundtrip_count; i++) {
        double x = caller[i], e = roundtrip[i + delay] - x;
        signal += x * x;
        noise += e * e;
    }
    printf("  8k->24k->8k at quality %d: %zu -> %zu -> %zu samples, delay %zu samples (%.1f ms), SNR %.1f dB\n"
           "  (the filters pass up to about 3.7 kHz: speech energy above that counts as error)\n",
           AB_RESAMPLER_DEFAULT_QUALITY, count, wide_count, roundtrip_count, delay, delay / 8.0,
           noise > 0 ? 10 * log10(signal / noise) : INFINITY);

    int written = write_wav(argv[2], "caller-24k.wav", WAV_PCM, 24000, wide, wide_count) == 0 &&
                  write_wav(argv[2], "caller-alaw.wav", WAV_ALAW, 8000, alaw, count) == 0 &&
                  write_wav(argv[2], "caller-roundtrip-ulaw.wav", WAV_ULAW, 8000, roundtrip_ulaw, roundtrip_count) == 0;

    ab_resampler_destroy(up);
    ab_resampler_destroy(down);
    free(caller); free(ulaw); free(alaw); free(roundtrip_ulaw); free(wide); free(roundtrip);
    return written ? 0 : 1;
}
