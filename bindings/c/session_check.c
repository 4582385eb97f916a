/* SPDX-License-Identifier: MIT */
/*
 * session_check: the session C ABI as a host uses it — configuration structs, the per-frame
 * calls, the agent side, events, statistics, host transports and built-in agents, and every
 * kind of bad input (each must return its error and leave the session working).
 *
 *   session_check
 *
 * Ends with "session_check: N passed, M failed".
 */
#include <audiobridge.h>

#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

enum { FRAME = 160 };

static ab_session *make_session(ab_engine *engine, uint32_t codec, uint32_t agent_rate) {
    ab_session_config config;
    ab_session_config_init(&config);
    /* The checks queue a whole 3 s answer at once, where a host offers the rest again under
       back-pressure: room for it (the default is 2 s). */
    config.playout_capacity_ms = 5000;
    config.phone_codec = codec;
    config.agent_rate_hz = agent_rate;
    ab_session *session = NULL;
    int status = ab_session_create(engine, &config, &session);
    if (status != AB_OK) fprintf(stderr, "ab_session_create: %s\n", ab_strerror(status));
    return session;
}

/* One frame both ways with slin16: the caller says `caller` (NULL: silence), `heard` gets the frame. */
static void step(ab_session *session, const int16_t *caller, int16_t *heard) {
    static const int16_t silence[FRAME];
    size_t written = 0;
    CHECK(ab_session_write_caller(session, caller ? caller : silence, sizeof silence) == AB_OK);
    CHECK(ab_session_read_caller(session, heard, FRAME * sizeof(int16_t), &written) == AB_OK && written == FRAME * sizeof(int16_t));
}

static void tone(int16_t *out, size_t count, double amplitude, double frequency, double rate, size_t offset) {
    for (size_t n = 0; n < count; n++) out[n] = (int16_t)(amplitude * sin(2 * 3.14159265358979 * frequency * (double)(n + offset) / rate));
}

static void check_configuration(ab_engine *engine) {
    ab_session_config config;
    CHECK(ab_session_config_init(NULL) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_config_init(&config) == AB_OK);
    CHECK(config.struct_size == sizeof config && config.abi_version == AB_ABI_VERSION);
    CHECK(config.phone_codec == AB_CODEC_ULAW && config.frame_ms == 20 && config.agent_rate_hz == 24000);
    CHECK(config.resampler_quality == AB_RESAMPLER_DEFAULT_QUALITY && config.playout_capacity_ms == 2000 && config.uplink_capacity_ms == 500);

    ab_session *session = (ab_session *)(intptr_t)1;
    ab_session_config bad = config;
    bad.struct_size = 8;
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_ABI_MISMATCH && session == NULL);
    bad = config;
    bad.abi_version = 99;
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_ABI_MISMATCH);
    bad = config;
    bad.phone_codec = 7;
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_UNSUPPORTED_CODEC);
    bad = config;
    bad.agent_format = 9;
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_UNSUPPORTED_CODEC);
    bad = config;
    bad.frame_ms = 25;
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_INVALID_FRAME_DURATION);
    bad = config;
    bad.agent_rate_hz = 44100;
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_UNSUPPORTED_SAMPLE_RATE);
    bad = config;
    bad.resampler_quality = 42;
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_UNSUPPORTED_QUALITY);
    bad = config;
    bad.playout_capacity_ms = 0xFFFFFFFFu;
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_INVALID_ARGUMENT);
    bad = config;
    bad.threshold_db = NAN;
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_INVALID_ARGUMENT);
    bad = config;
    bad.agent_talking_extra_db = INFINITY;
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_INVALID_ARGUMENT);
    bad = config;
    bad.hangover_ms = 2000;  /* over 1,260 ms */
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_INVALID_ARGUMENT);
    CHECK(config.min_speech_ms == 100 && config.hangover_ms == 200 && config.agent_talking_extra_db == 2.0f);

    /* A 0.1 host's config ends before agent_talking_extra_db: still accepted, the rest defaulted.
       The bytes after it are garbage here, and must not be read. */
    unsigned char old_layout[sizeof config];
    memset(old_layout, 0xFF, sizeof old_layout);
    ab_session_config v1 = config;
    v1.struct_size = (uint32_t)offsetof(ab_session_config, agent_talking_extra_db);
    memcpy(old_layout, &v1, offsetof(ab_session_config, agent_talking_extra_db));
    session = NULL;
    CHECK(ab_session_create(engine, (const ab_session_config *)(const void *)old_layout, &session) == AB_OK && session != NULL);
    ab_session_destroy(session);
    /* A config from before pause-then-commit ends before barge_in_mode: accepted likewise. */
    ab_session_config v2 = config;
    v2.struct_size = (uint32_t)offsetof(ab_session_config, barge_in_mode);
    memset(old_layout, 0xFF, sizeof old_layout);
    memcpy(old_layout, &v2, offsetof(ab_session_config, barge_in_mode));
    session = NULL;
    CHECK(ab_session_create(engine, (const ab_session_config *)(const void *)old_layout, &session) == AB_OK && session != NULL);
    ab_session_destroy(session);
    CHECK(config.barge_in_mode == AB_BARGE_IN_MODE_PAUSE && config.confirm_ms == 240 && config.max_pause_ms == 1000);
    bad = config;
    bad.barge_in_mode = 2;
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_INVALID_ARGUMENT);
    bad = config;
    bad.max_pause_ms = bad.confirm_ms - 1;
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_INVALID_ARGUMENT);
    bad = config;
    bad.struct_size = (uint32_t)offsetof(ab_session_config, confirm_ms);  /* no such version */
    CHECK(ab_session_create(engine, &bad, &session) == AB_E_ABI_MISMATCH);
    CHECK(ab_session_create(NULL, &config, &session) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_create(engine, &config, NULL) == AB_E_INVALID_ARGUMENT);

    CHECK(ab_session_create(engine, NULL, &session) == AB_OK && session != NULL);
    size_t frame_bytes = 0;
    CHECK(ab_session_frame_bytes(session, &frame_bytes) == AB_OK && frame_bytes == 160);
    ab_session_destroy(session);
    ab_session_destroy(NULL);
}

/* Agent talks, caller talks over it: barge-in with the exact heard position; the session and
 * every call keep working through bad input. */
static void check_playout_and_barge_in(ab_engine *engine) {
    ab_session *session = make_session(engine, AB_CODEC_SLIN16, 8000);
    if (session == NULL) { CHECK(0); return; }
    int16_t heard[FRAME], caller[FRAME];
    static int16_t agent[8000 * 3];
    tone(agent, 8000 * 3, 6000, 440, 8000, 0);

    size_t accepted = 0;
    CHECK(ab_session_write_downlink(session, 11, agent, sizeof agent, &accepted) == AB_OK && accepted == sizeof agent);
    CHECK(ab_session_end_item(session, 11) == AB_OK);
    for (int f = 0; f < 10; f++) step(session, NULL, heard);
    CHECK(memcmp(heard, agent + 9 * FRAME, sizeof heard) == 0);

    /* Bad input in the middle of the call: errors, and nothing changes. */
    CHECK(ab_session_write_caller(session, caller, 100) == AB_E_WRONG_FRAME_SIZE);
    CHECK(ab_session_write_caller(session, caller, (size_t)-1) == AB_E_WRONG_FRAME_SIZE);
    CHECK(ab_session_write_caller(session, NULL, 320) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_write_caller(NULL, caller, 320) == AB_E_INVALID_ARGUMENT);
    size_t written = 0;
    CHECK(ab_session_read_caller(session, heard, 100, &written) == AB_E_BUFFER_TOO_SMALL && written == 0);
    CHECK(ab_session_read_caller(session, NULL, 320, &written) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_read_caller(session, heard, 320, NULL) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_write_downlink(session, 0, agent, 320, &accepted) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_write_downlink(session, 11, NULL, 320, &accepted) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_write_downlink(session, 11, agent, 320, NULL) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_caller_dtmf(session, 'x') == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_caller_dtmf(session, '#') == AB_OK);
    CHECK(ab_session_poll_event(session, NULL) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_end_item(session, 0) == AB_E_INVALID_ARGUMENT);

    /* The agent talks on for a second (the detector learns the line), then the caller talks
       over it: playout pauses at the onset, and the barge-in is committed once the speech has
       lasted the confirmation time (240 ms). */
    for (int f = 0; f < 40; f++) step(session, NULL, heard);
    int barge_ins = 0, speech = 0, dtmf = 0, started = 0, pauses = 0;
    ab_event event = {.struct_size = sizeof(ab_event)}, cut, pause;
    memset(&cut, 0, sizeof cut);
    memset(&pause, 0, sizeof pause);
    for (int f = 0; f < 30; f++) {
        tone(caller, FRAME, 12000, 300, 8000, (size_t)f * FRAME);
        step(session, caller, heard);
    }
    while (ab_session_poll_event(session, &event) == 1) {
        if (event.kind == AB_EVENT_BARGE_IN) { barge_ins++; cut = event; }
        if (event.kind == AB_EVENT_BARGE_IN_PENDING) { pauses++; pause = event; }
        if (event.kind == AB_EVENT_SPEECH_STARTED) speech++;
        if (event.kind == AB_EVENT_DTMF && event.digit == '#') dtmf++;
        if (event.kind == AB_EVENT_PLAYOUT_STARTED && event.item == 11) started++;
    }
    CHECK(started == 1 && speech == 1 && dtmf == 1 && barge_ins == 1 && pauses == 1);
    CHECK(cut.item == 11 && cut.code == AB_BARGE_IN_CALLER_SPEECH && pause.item == 11);
    /* Heard: every frame before the pausing frame, plus the 8 ms fade; nothing during the pause. */
    CHECK(pause.heard_samples == (pause.timestamp_ms / 20 - 1) * FRAME + 64);
    CHECK(cut.heard_samples == pause.heard_samples);
    CHECK(cut.timestamp_ms >= pause.timestamp_ms + 220 && cut.timestamp_ms <= pause.timestamp_ms + 280);
    CHECK(cut.heard_ms == cut.heard_samples / 8);
    int16_t zeros[FRAME] = {0};
    CHECK(memcmp(heard, zeros, sizeof heard) == 0);

    /* The agent side was told too. */
    int agent_cut = 0;
    while (ab_session_poll_agent_event(session, &event) == 1)
        if (event.kind == AB_EVENT_BARGE_IN && event.item == 11 && event.heard_samples == cut.heard_samples) agent_cut++;
    CHECK(agent_cut == 1);

    ab_session_stats stats;
    memset(&stats, 0, sizeof stats);
    CHECK(ab_session_get_stats(session, &stats) == AB_E_ABI_MISMATCH);
    stats.struct_size = sizeof stats;
    CHECK(ab_session_get_stats(session, &stats) == AB_OK);
    CHECK(stats.struct_size == sizeof stats);
    CHECK(stats.barge_ins == 1 && stats.frames_in == 80 && stats.frames_out == 80);
    CHECK(stats.barge_in_pauses == 1 && stats.barge_in_resumes == 0);
    /* A host built against the first header passes a smaller struct: what fits is written. */
    ab_session_stats first;
    memset(&first, 0xEE, sizeof first);
    first.struct_size = (uint32_t)offsetof(ab_session_stats, barge_in_pauses);
    CHECK(ab_session_get_stats(session, &first) == AB_OK);
    CHECK(first.struct_size == offsetof(ab_session_stats, barge_in_pauses) && first.frames_in == 80);
    CHECK(first.barge_in_pauses == 0xEEEEEEEEEEEEEEEEull);  /* not written: beyond its size */
    CHECK(ab_session_confirm_barge_in(session) == AB_OK && ab_session_confirm_barge_in(NULL) == AB_E_INVALID_ARGUMENT);
    CHECK(stats.downlink_discarded_samples == 8000 * 3 - cut.heard_samples);
    CHECK(stats.buffer_bytes > 0 && stats.buffer_bytes <= 512 * 1024);

    /* An interrupt from another thread's point of view: nothing playing, nothing reported. */
    CHECK(ab_session_interrupt(session) == AB_OK);
    CHECK(ab_session_interrupt(NULL) == AB_E_INVALID_ARGUMENT);
    step(session, NULL, heard);
    CHECK(ab_session_poll_event(session, &event) == 0);
    ab_session_destroy(session);
}

/* A host transport: callbacks in order, uplink delivered, downlink pushed from poll. */
typedef struct {
    char calls[64];
    int ncalls;
    size_t uplink_bytes;
    int barge_ins;
    int pushed;
    ab_session *session;
} host_transport;

static void note(host_transport *t, char c) { if (t->ncalls < 63) t->calls[t->ncalls++] = c; }
static void t_attached(void *user, ab_session *s) { host_transport *t = user; t->session = s; note(t, 'A'); }
static int t_send(void *user, const void *audio, size_t bytes) { host_transport *t = user; (void)audio; t->uplink_bytes += bytes; return 0; }
static void t_event(void *user, const ab_event *e) { host_transport *t = user; if (e->kind == AB_EVENT_BARGE_IN) t->barge_ins++; }
static void t_poll(void *user, ab_session *s) {
    host_transport *t = user;
    if (!t->pushed) {
        static int16_t hello[2400];
        tone(hello, 2400, 5000, 600, 24000, 0);
        size_t accepted = 0;
        if (ab_session_write_downlink(s, 5, hello, sizeof hello, &accepted) == AB_OK && accepted == sizeof hello &&
            ab_session_end_item(s, 5) == AB_OK)
            t->pushed = 1;
    }
}
static void t_close(void *user) { note(user, 'C'); }
static void t_detached(void *user) { note(user, 'D'); }

static void check_host_transport(void) {
    ab_engine_config engine_config;
    ab_engine_config_init(&engine_config);
    engine_config.own_thread = 0; /* serviced by hand: deterministic */
    ab_engine *engine = NULL;
    CHECK(ab_engine_create(&engine_config, &engine) == AB_OK);
    ab_session *session = make_session(engine, AB_CODEC_ULAW, 24000);
    if (session == NULL) { CHECK(0); return; }

    host_transport t;
    memset(&t, 0, sizeof t);
    ab_transport_ops ops;
    memset(&ops, 0, sizeof ops);
    ops.struct_size = sizeof ops;
    ops.abi_version = AB_ABI_VERSION;
    ops.user = &t;
    ops.attached = t_attached;
    ops.send_audio = t_send;
    ops.on_event = t_event;
    ops.poll = t_poll;
    ops.close = t_close;
    ops.detached = t_detached;

    ab_transport_ops incomplete = ops;
    incomplete.send_audio = NULL;
    CHECK(ab_session_attach_transport(session, &incomplete) == AB_E_INVALID_ARGUMENT);
    ab_transport_ops wrong_size = ops;
    wrong_size.struct_size = 4;
    CHECK(ab_session_attach_transport(session, &wrong_size) == AB_E_ABI_MISMATCH);
    CHECK(ab_session_attach_transport(session, &ops) == AB_OK);
    CHECK(ab_session_attach_transport(session, &ops) == AB_E_INVALID_STATE);
    CHECK(ab_session_attach_agent(session, "echo") == AB_E_INVALID_STATE);
    CHECK(t.ncalls == 1 && t.calls[0] == 'A' && t.session == session);

    uint8_t caller[FRAME], heard[FRAME];
    memset(caller, 0xFF, sizeof caller);
    int played = 0, finished = 0, connected = 0;
    for (int f = 0; f < 10; f++) {
        size_t written = 0;
        CHECK(ab_session_write_caller(session, caller, sizeof caller) == AB_OK);
        CHECK(ab_engine_service(engine) == AB_OK);
        CHECK(ab_session_read_caller(session, heard, sizeof heard, &written) == AB_OK);
        for (int i = 0; i < FRAME; i++) if (heard[i] != 0xFF) { played++; break; }
        ab_event event = {.struct_size = sizeof(ab_event)};
        while (ab_session_poll_event(session, &event) == 1) {
            if (event.kind == AB_EVENT_PLAYOUT_FINISHED && event.item == 5 && event.heard_samples >= 798 && event.heard_samples <= 802) finished++;
            if (event.kind == AB_EVENT_TRANSPORT_CONNECTED) connected++;
        }
    }
    CHECK(t.uplink_bytes == 10 * 480 * 2); /* 20 ms at 24 kHz PCM16 per frame */
    CHECK(played >= 5 && finished == 1 && connected == 1);
    CHECK(ab_session_detach_transport(session) == AB_OK);
    CHECK(ab_session_detach_transport(session) == AB_E_INVALID_STATE);
    CHECK(t.ncalls == 3 && t.calls[1] == 'C' && t.calls[2] == 'D');
    CHECK(ab_engine_service(engine) == AB_OK);
    CHECK(t.ncalls == 3);

    /* Built-in agents by name. */
    CHECK(ab_session_attach_agent(session, "bogus") == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_attach_agent(session, "tone:abc") == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_attach_agent(session, "wav:/nonexistent/file.wav") == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_attach_agent(session, NULL) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_session_attach_agent(session, "tone:1000:300") == AB_OK);
    CHECK(ab_session_detach_transport(session) == AB_OK);
    CHECK(ab_session_attach_agent(session, "echo") == AB_OK);
    ab_session_destroy(session); /* detaches the echo agent */
    CHECK(ab_engine_service(NULL) == AB_E_INVALID_ARGUMENT);
    ab_engine_destroy(engine);
    ab_engine_destroy(NULL);
}

/* The agent side's hang-up and transfer requests: each comes as an event once everything the
 * agent wrote before it has been heard (its request id for a transfer); a barge-in that cuts
 * the goodbye first cancels them. */
static void check_call_control_requests(ab_engine *engine) {
    ab_session *session = make_session(engine, AB_CODEC_SLIN16, 8000);
    if (session == NULL) { CHECK(0); return; }
    int16_t heard[FRAME];
    static int16_t goodbye[8000];
    tone(goodbye, 8000, 6000, 440, 8000, 0);
    size_t accepted = 0;
    CHECK(ab_session_write_downlink(session, 1, goodbye, sizeof goodbye, &accepted) == AB_OK && accepted == sizeof goodbye);
    CHECK(ab_session_request_transfer(session, 77) == AB_OK);
    CHECK(ab_session_request_hangup(session) == AB_OK);
    CHECK(ab_session_request_hangup(NULL) == AB_E_INVALID_ARGUMENT);
    int transfer_frame = -1, hangup_frame = -1;
    uint64_t transfer_request = 0;
    ab_event event = {.struct_size = sizeof(ab_event)};
    for (int f = 1; f <= 60; f++) {
        step(session, NULL, heard);
        while (ab_session_poll_event(session, &event) == 1) {
            if (event.kind == AB_EVENT_TRANSFER_REQUESTED) { transfer_frame = f; transfer_request = event.item; }
            if (event.kind == AB_EVENT_HANGUP_REQUESTED) hangup_frame = f;
        }
    }
    /* One second of audio is 50 frames: both requests come with its last sample, not before. */
    CHECK(transfer_frame == 50 && transfer_request == 77);
    CHECK(hangup_frame == 50);

    /* Cut before the goodbye ends: no request survives. */
    CHECK(ab_session_write_downlink(session, 2, goodbye, sizeof goodbye, &accepted) == AB_OK);
    CHECK(ab_session_request_hangup(session) == AB_OK);
    for (int f = 0; f < 10; f++) step(session, NULL, heard);
    CHECK(ab_session_interrupt(session) == AB_OK);
    int hangups = 0, barge_ins = 0;
    for (int f = 0; f < 60; f++) {
        step(session, NULL, heard);
        while (ab_session_poll_event(session, &event) == 1) {
            hangups += event.kind == AB_EVENT_HANGUP_REQUESTED;
            barge_ins += event.kind == AB_EVENT_BARGE_IN;
        }
    }
    CHECK(barge_ins == 1 && hangups == 0);
    ab_session_destroy(session);
}

int main(void) {
    ab_engine *engine = NULL;
    CHECK(ab_engine_create(NULL, &engine) == AB_OK && engine != NULL);
    CHECK(ab_engine_create(NULL, NULL) == AB_E_INVALID_ARGUMENT);
    ab_engine_config bad;
    ab_engine_config_init(&bad);
    bad.tick_ms = 0;
    ab_engine *other = NULL;
    CHECK(ab_engine_create(&bad, &other) == AB_E_INVALID_ARGUMENT && other == NULL);
    check_configuration(engine);
    check_playout_and_barge_in(engine);
    check_call_control_requests(engine);
    ab_engine_destroy(engine);
    check_host_transport();
    return FINISH("session_check");
}
