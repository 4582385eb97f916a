/* SPDX-License-Identifier: MIT */
/* Minimal WAV input/output for the example programs: 8 kHz mono PCM16, μ-law or A-law in
 * (decoded to PCM16 with libaudiobridge), PCM16 or G.711 out. Header-only, static functions. */
#ifndef AUDIOBRIDGE_WAV_IO_H
#define AUDIOBRIDGE_WAV_IO_H
#include <audiobridge.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WAV_PCM = 1, WAV_ALAW = 6, WAV_ULAW = 7 };

static uint32_t wav_le32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t wav_le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Reads an 8 kHz mono WAV as PCM16 into a malloc'd `*samples`; `*format` gets WAV_PCM, WAV_ULAW
 * or WAV_ALAW. Returns the sample count, or 0 (with a message) if the file is not one of those. */
static size_t wav_read(const char *path, int16_t **samples, int *format) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) { perror(path); return 0; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *file = malloc(size > 0 ? (size_t)size : 1);
    size_t got = fread(file, 1, (size_t)size, f);
    fclose(f);
    size_t count = 0;
    int channels = 0, bits = 0;
    uint32_t rate = 0;
    *format = 0;
    if (got == (size_t)size && size >= 12 && memcmp(file, "RIFF", 4) == 0 && memcmp(file + 8, "WAVE", 4) == 0) {
        for (long at = 12; at + 8 <= size;) {
            uint32_t chunk = wav_le32(file + at + 4);
            const unsigned char *body = file + at + 8;
            if ((long)chunk > size - at - 8) break;
            if (memcmp(file + at, "fmt ", 4) == 0 && chunk >= 16) {
                *format = wav_le16(body); channels = wav_le16(body + 2); rate = wav_le32(body + 4); bits = wav_le16(body + 14);
            } else if (memcmp(file + at, "data", 4) == 0 && channels == 1 && rate == 8000) {
                count = *format == WAV_PCM && bits == 16 ? chunk / 2 : (*format == WAV_ULAW || *format == WAV_ALAW) && bits == 8 ? chunk : 0;
                *samples = malloc(count * sizeof **samples + 1);
                if (*format == WAV_ULAW) ab_ulaw_decode(body, count, *samples);
                else if (*format == WAV_ALAW) ab_alaw_decode(body, count, *samples);
                else for (size_t i = 0; i < count; i++) (*samples)[i] = (int16_t)wav_le16(body + 2 * i);
                break;
            }
            at += 8 + chunk + (chunk & 1);
        }
    }
    free(file);
    if (count == 0) fprintf(stderr, "%s: need an 8 kHz mono WAV, PCM16, mu-law or A-law\n", path);
    return count;
}

static void wav_put16(FILE *f, uint16_t v) { fputc(v & 0xFF, f); fputc(v >> 8, f); }
static void wav_put32(FILE *f, uint32_t v) { wav_put16(f, (uint16_t)(v & 0xFFFF)); wav_put16(f, (uint16_t)(v >> 16)); }

/* Writes `count` samples: int16_t for WAV_PCM, one byte each for WAV_ULAW/WAV_ALAW. 0 or -1. */
static int wav_write(const char *path, int format, uint32_t rate, const void *data, size_t count) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) { perror(path); return -1; }
    uint16_t bytes_per_sample = format == WAV_PCM ? 2 : 1;
    uint32_t data_bytes = (uint32_t)(count * bytes_per_sample);
    fwrite("RIFF", 1, 4, f); wav_put32(f, 36 + data_bytes); fwrite("WAVEfmt ", 1, 8, f);
    wav_put32(f, 16); wav_put16(f, (uint16_t)format); wav_put16(f, 1); wav_put32(f, rate); wav_put32(f, rate * bytes_per_sample);
    wav_put16(f, bytes_per_sample); wav_put16(f, (uint16_t)(8 * bytes_per_sample));
    fwrite("data", 1, 4, f); wav_put32(f, data_bytes);
    if (format == WAV_PCM) for (size_t i = 0; i < count; i++) wav_put16(f, (uint16_t)((const int16_t *)data)[i]);
    else fwrite(data, 1, count, f);
    fclose(f);
    return 0;
}
#endif
