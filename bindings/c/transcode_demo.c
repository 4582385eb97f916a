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

#include "wav_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FRAME = 160, WIDE_FRAME = 480 };

static int write_wav(const char *dir, const char *name, int format, uint32_t rate, const void *data, size_t count) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (wav_write(path, format, rate, data, count) != 0) return -1;
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
    size_t count = wav_read(argv[1], &caller, &format);
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
