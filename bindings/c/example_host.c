/* SPDX-License-Identifier: MIT */
/*
 * example_host: a small C host in the role of an Asterisk channel. It reads a caller recording
 * (8 kHz mono WAV: μ-law, A-law or PCM16), feeds it to a session 20 ms at a time as the
 * channel's media thread would, writes what the caller hears to a WAV, and prints every event.
 *
 *   example_host <caller.wav> <heard.wav> [AGENT]
 *
 * AGENT is a built-in agent ("echo" — the default —, "tone", "tone:HZ:MS", "wav:PATH") or
 * "c-beep", an agent written here in C against ab_transport_ops: it answers each utterance
 * with a short beep. The caller says the recording, pauses 2 s, says it again (talking over the
 * agent's answer: a barge-in), then stays silent 10 s so the agent can finish.
 *
 * A real host runs media frames on its own clock and lets the engine's I/O thread service the
 * agent; this example steps both itself (own_thread = 0, ab_engine_service between frames) so
 * its output is the same on every run.
 */
#include <audiobridge.h>

#include "wav_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FRAME = 160 };

/* ---- "c-beep": an agent in C ---------------------------------------------------------------- */

typedef struct {
    int16_t beep[24000 * 3 / 10]; /* 300 ms at 24 kHz */
    size_t offset;                /* bytes of the beep already taken */
    uint64_t item, next_item;
    int playing;
    size_t uplink_bytes;
} beep_agent;

static int beep_send(void *user, const void *audio, size_t bytes) {
    (void)audio;
    ((beep_agent *)user)->uplink_bytes += bytes;
    return 0;
}

static void beep_event(void *user, const ab_event *event) {
    beep_agent *a = user;
    if (event->kind == AB_EVENT_SPEECH_STOPPED) { a->item = ++a->next_item; a->offset = 0; a->playing = 1; }
    if (event->kind == AB_EVENT_BARGE_IN && event->item == a->item) a->playing = 0;
}

static void beep_poll(void *user, ab_session *session) {
    beep_agent *a = user;
    if (!a->playing) return;
    size_t accepted = 0;
    ab_session_write_downlink(session, a->item, (const uint8_t *)a->beep + a->offset, sizeof a->beep - a->offset, &accepted);
    a->offset += accepted;
    if (a->offset == sizeof a->beep && ab_session_end_item(session, a->item) == AB_OK) a->playing = 0;
}

static void beep_close(void *user) { printf("c-beep: closed after %zu bytes of caller audio\n", ((beep_agent *)user)->uplink_bytes); }

/* ---- the host ------------------------------------------------------------------------------- */

static const char *event_name(uint32_t kind) {
    switch (kind) {
    case AB_EVENT_SPEECH_STARTED: return "speech_started";
    case AB_EVENT_SPEECH_STOPPED: return "speech_stopped";
    case AB_EVENT_BARGE_IN: return "barge_in";
    case AB_EVENT_PLAYOUT_STARTED: return "playout_started";
    case AB_EVENT_PLAYOUT_FINISHED: return "playout_finished";
    case AB_EVENT_DTMF: return "dtmf";
    case AB_EVENT_TRANSPORT_CONNECTED: return "transport_connected";
    case AB_EVENT_TRANSPORT_DISCONNECTED: return "transport_disconnected";
    case AB_EVENT_TRANSPORT_ERROR: return "transport_error";
    case AB_EVENT_UPLINK_OVERFLOW: return "uplink_overflow";
    case AB_EVENT_EVENTS_DROPPED: return "events_dropped";
    case AB_EVENT_BARGE_IN_PENDING: return "barge_in_pending";
    case AB_EVENT_BARGE_IN_RESUMED: return "barge_in_resumed";
    default: return "unknown";
    }
}

static int fail(const char *what, int status) {
    fprintf(stderr, "%s: %s\n", what, ab_strerror(status));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) { fprintf(stderr, "usage: %s <caller.wav> <heard.wav> [echo|tone[:HZ[:MS]]|wav:PATH|c-beep]\n", argv[0]); return 2; }
    const char *agent = argc == 4 ? argv[3] : "echo";
    if (ab_abi_version() != AB_ABI_VERSION) { fprintf(stderr, "ABI mismatch\n"); return 1; }

    int16_t *caller = NULL;
    int caller_format = 0;
    size_t caller_samples = wav_read(argv[1], &caller, &caller_format);
    if (caller_samples == 0) return 1;
    /* recording, 2 s pause, recording again, 10 s of silence */
    size_t second_start = caller_samples + 16000;
    size_t frames = (second_start + caller_samples) / FRAME + 500;

    ab_engine_config engine_config;
    ab_engine_config_init(&engine_config);
    engine_config.own_thread = 0;
    ab_engine *engine = NULL;
    ab_session *session = NULL;
    int status;
    if ((status = ab_engine_create(&engine_config, &engine)) != AB_OK) return fail("ab_engine_create", status);
    ab_session_config config;
    ab_session_config_init(&config); /* μ-law, 20 ms; agent PCM16 at 24 kHz */
    if ((status = ab_session_create(engine, &config, &session)) != AB_OK) return fail("ab_session_create", status);

    static beep_agent beeper;
    if (strcmp(agent, "c-beep") == 0) {
        for (size_t n = 0; n < sizeof beeper.beep / sizeof beeper.beep[0]; n++)
            beeper.beep[n] = (int16_t)(8000 * sin(2 * 3.14159265358979 * 880 * (double)n / 24000));
        ab_transport_ops ops;
        memset(&ops, 0, sizeof ops);
        ops.struct_size = sizeof ops;
        ops.abi_version = AB_ABI_VERSION;
        ops.user = &beeper;
        ops.send_audio = beep_send;
        ops.on_event = beep_event;
        ops.poll = beep_poll;
        ops.close = beep_close;
        status = ab_session_attach_transport(session, &ops);
    } else {
        status = ab_session_attach_agent(session, agent);
    }
    if (status != AB_OK) return fail(agent, status);

    size_t frame_bytes = 0;
    ab_session_frame_bytes(session, &frame_bytes);
    uint8_t *heard = malloc(frames * frame_bytes);
    uint8_t frame[FRAME];
    int16_t pcm[FRAME];
    unsigned counts[16] = {0};

    for (size_t f = 0; f < frames; f++) {
        /* The channel's media thread: one frame in, one frame out. */
        for (size_t i = 0; i < FRAME; i++) {
            size_t at = f * FRAME + i;
            pcm[i] = at < caller_samples ? caller[at]
                   : at >= second_start && at < second_start + caller_samples ? caller[at - second_start] : 0;
        }
        ab_ulaw_encode(pcm, FRAME, frame);
        size_t written = 0;
        if ((status = ab_session_write_caller(session, frame, frame_bytes)) != AB_OK) return fail("write_caller", status);
        ab_engine_service(engine); /* the I/O side's turn */
        if ((status = ab_session_read_caller(session, heard + f * frame_bytes, frame_bytes, &written)) != AB_OK) return fail("read_caller", status);

        ab_event event = {.struct_size = sizeof(ab_event)};
        while (ab_session_poll_event(session, &event) == 1) {
            counts[event.kind < 16 ? event.kind : 0]++;
            printf("t=%6llums %-22s", (unsigned long long)event.timestamp_ms, event_name(event.kind));
            if (event.item) printf(" item=%llu", (unsigned long long)event.item);
            if (event.kind == AB_EVENT_BARGE_IN || event.kind == AB_EVENT_PLAYOUT_FINISHED) printf(" heard=%ums", event.heard_ms);
            if (event.kind == AB_EVENT_DTMF) printf(" digit=%c", event.digit);
            if (event.kind == AB_EVENT_TRANSPORT_ERROR) printf(" code=%d (%s)", event.code, ab_strerror(event.code));
            printf("\n");
        }
    }

    ab_session_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    ab_session_get_stats(session, &stats);
    ab_session_destroy(session);
    ab_engine_destroy(engine);
    if (wav_write(argv[2], WAV_ULAW, 8000, heard, frames * frame_bytes) != 0) return 1;
    printf("summary: agent=%s frames=%llu speech=%u barge_ins=%u items_finished=%u underruns=%llu uplink_dropped=%llu events_dropped=%llu heard=%s\n",
           agent, (unsigned long long)stats.frames_in, counts[AB_EVENT_SPEECH_STARTED], counts[AB_EVENT_BARGE_IN],
           counts[AB_EVENT_PLAYOUT_FINISHED], (unsigned long long)stats.underrun_frames,
           (unsigned long long)stats.uplink_dropped_samples, (unsigned long long)stats.events_dropped, argv[2]);
    free(caller);
    free(heard);
    return 0;
}
