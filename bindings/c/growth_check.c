/* SPDX-License-Identifier: MIT */
/* The header's "How structs grow" rule and the log handler, checked against the library as a host
 * built against an older or a newer header would use it: library-filled structs (ab_event,
 * ab_rtp_stats) passed at their first version's size and larger, host-filled ones
 * (ab_engine_config, ab_rtp_config, ab_transport_ops) at sizes the library does not know; the
 * log handler's messages, levels, and silence on the media thread. Then the RTP endpoint's RTCP
 * counter and a loss fraction that reading does not reset.
 * Build: cc growth_check.c $(pkg-config --cflags --libs audiobridge) */
#include <audiobridge.h>
#include <stddef.h>
#include <string.h>

#include "check.h"

/* ---- The log handler's record of what it was given ---- */

static int log_calls, log_levels[4];
static char last_message[512];

static void record_log(void *user, int level, const char *message) {
    CHECK(user == (void *)&log_calls);
    log_calls++;
    if (level >= 0 && level < 4) log_levels[level]++;
    snprintf(last_message, sizeof last_message, "%s", message);
}

static void reset_log(void) {
    log_calls = 0;
    memset(log_levels, 0, sizeof log_levels);
    last_message[0] = 0;
}

/* ---- ab_event ---- */

/* A host built against a newer header: its ab_event is larger; the bytes past ours stay its own. */
typedef struct {
    ab_event event;
    unsigned char newer_fields[24];
} newer_event;

static int callback_struct_size;
static int t_send(void *user, const void *audio, size_t bytes) { (void)user; (void)audio; (void)bytes; return 0; }
static void t_event(void *user, const ab_event *event) { (void)user; callback_struct_size = (int)event->struct_size; }
static void t_close(void *user) { (void)user; }

static void check_events(ab_engine *engine) {
    ab_session *session = NULL;
    CHECK(ab_session_create(engine, NULL, &session) == AB_OK);
    CHECK(ab_session_caller_dtmf(session, '5') == AB_OK);

    /* A struct_size below the first version's: refused, and the event stays queued. */
    ab_event event;
    memset(&event, 0, sizeof event);
    CHECK(ab_session_poll_event(session, &event) == AB_E_ABI_MISMATCH);
    event.struct_size = (uint32_t)offsetof(ab_event, sequence);
    CHECK(ab_session_poll_event(session, &event) == AB_E_ABI_MISMATCH);

    /* A larger struct: ours is written, struct_size says how much, the rest is untouched. */
    newer_event newer;
    memset(&newer, 0xAA, sizeof newer);
    newer.event.struct_size = sizeof newer;
    CHECK(ab_session_poll_event(session, &newer.event) == 1);
    CHECK(newer.event.struct_size == sizeof(ab_event));
    CHECK(newer.event.kind == AB_EVENT_DTMF && newer.event.digit == '5');
    int untouched = 1;
    for (size_t i = 0; i < sizeof newer.newer_fields; i++) untouched &= newer.newer_fields[i] == 0xAA;
    CHECK(untouched);

    /* The struct is reused without setting struct_size again. */
    CHECK(ab_session_caller_dtmf(session, '6') == AB_OK);
    CHECK(ab_session_poll_event(session, &newer.event) == 1 && newer.event.digit == '6');
    CHECK(ab_session_poll_event(session, &newer.event) == 0);

    /* A callback's event carries the size valid. */
    ab_transport_ops ops;
    memset(&ops, 0, sizeof ops);
    ops.struct_size = sizeof ops;
    ops.abi_version = AB_ABI_VERSION;
    ops.send_audio = t_send;
    ops.on_event = t_event;
    ops.close = t_close;
    CHECK(ab_session_attach_transport(session, &ops) == AB_OK);
    CHECK(ab_session_caller_dtmf(session, '7') == AB_OK);
    for (int i = 0; i < 50 && callback_struct_size == 0; i++) CHECK(ab_engine_service(engine) == AB_OK);
    CHECK(callback_struct_size == (int)sizeof(ab_event));
    CHECK(ab_session_detach_transport(session) == AB_OK);

    /* A transport ops struct from a newer header (larger) is refused: the library cannot call
       callbacks it does not know. */
    unsigned char larger_ops[sizeof ops + 16];
    memset(larger_ops, 0, sizeof larger_ops);
    memcpy(larger_ops, &ops, sizeof ops);
    ((ab_transport_ops *)(void *)larger_ops)->struct_size = sizeof larger_ops;
    reset_log();
    CHECK(ab_session_attach_transport(session, (const ab_transport_ops *)(const void *)larger_ops) == AB_E_ABI_MISMATCH);
    CHECK(log_levels[AB_LOG_ERROR] == 1 && strstr(last_message, "ab_transport_ops") != NULL);
    ab_session_destroy(session);
}

/* ---- Host-filled configs ---- */

static void check_configs(void) {
    ab_engine_config engine_config;
    CHECK(ab_engine_config_init(&engine_config) == AB_OK);
    unsigned char larger[sizeof engine_config + 8];
    memset(larger, 0, sizeof larger);
    memcpy(larger, &engine_config, sizeof engine_config);
    ((ab_engine_config *)(void *)larger)->struct_size = sizeof larger;
    ab_engine *engine = NULL;
    reset_log();
    CHECK(ab_engine_create((const ab_engine_config *)(const void *)larger, &engine) == AB_E_ABI_MISMATCH && engine == NULL);
    CHECK(log_levels[AB_LOG_ERROR] == 1 && strstr(last_message, "ab_engine_config") != NULL && strstr(last_message, "struct_size") != NULL);

    ab_rtp_config rtp_config;
    CHECK(ab_rtp_config_init(&rtp_config) == AB_OK);
    CHECK(rtp_config.struct_size == sizeof rtp_config && rtp_config.abi_version == AB_ABI_VERSION);
    CHECK(rtp_config.payload_type == 0 && rtp_config.telephone_event_pt == 101);
    CHECK(ab_engine_create(NULL, &engine) == AB_OK);
    ab_session *session = NULL;
    CHECK(ab_session_create(engine, NULL, &session) == AB_OK);
    ab_rtp *rtp = NULL;
    ab_rtp_config wrong = rtp_config;
    wrong.abi_version = AB_ABI_VERSION + 1;
    CHECK(ab_rtp_create(session, &wrong, &rtp) == AB_E_ABI_MISMATCH && rtp == NULL);
    wrong = rtp_config;
    wrong.struct_size = sizeof wrong + 8;
    CHECK(ab_rtp_create(session, &wrong, &rtp) == AB_E_ABI_MISMATCH && rtp == NULL);
    /* 118 is Asterisk's 16 kHz slin: never the default, and not a μ-law type. */
    wrong = rtp_config;
    wrong.payload_type = 118;
    reset_log();
    CHECK(ab_rtp_create(session, &wrong, &rtp) == AB_E_UNSUPPORTED_CODEC && rtp == NULL);
    CHECK(strstr(last_message, "payload_type 118") != NULL);
    ab_session_destroy(session);

    /* A slin16 session takes Asterisk's 8 kHz slin type, the header's default for it. */
    ab_session_config slin;
    ab_session_config_init(&slin);
    slin.phone_codec = AB_CODEC_SLIN16;
    CHECK(ab_session_create(engine, &slin, &session) == AB_OK);
    ab_rtp_config slin_rtp = rtp_config;
    slin_rtp.payload_type = AB_RTP_SLIN_DEFAULT_PT;
    CHECK(ab_rtp_create(session, &slin_rtp, &rtp) == AB_OK && rtp != NULL);
    ab_rtp_destroy(rtp);
    ab_session_destroy(session);
    ab_engine_destroy(engine);
}

/* ---- The log handler ---- */

static void check_log_handler(ab_engine *engine) {
    CHECK(ab_set_log_handler(record_log, &log_calls, 7) == AB_E_INVALID_ARGUMENT);
    CHECK(ab_set_log_handler(record_log, &log_calls, -1) == AB_E_INVALID_ARGUMENT);

    /* A refused config names its field. */
    CHECK(ab_set_log_handler(record_log, &log_calls, AB_LOG_DEBUG) == AB_OK);
    ab_session_config config;
    ab_session_config_init(&config);
    config.frame_ms = 25;
    ab_session *session = NULL;
    reset_log();
    CHECK(ab_session_create(engine, &config, &session) == AB_E_INVALID_FRAME_DURATION && session == NULL);
    CHECK(log_calls == 1 && log_levels[AB_LOG_ERROR] == 1 && strstr(last_message, "frame duration 25 ms") != NULL);
    ab_session_config_init(&config);
    config.hangover_ms = 5000;
    reset_log();
    CHECK(ab_session_create(engine, &config, &session) == AB_E_INVALID_ARGUMENT);
    CHECK(strstr(last_message, "hangover (ms) 5000") != NULL);
    reset_log();
    CHECK(ab_session_attach_agent(NULL, "echo") == AB_E_INVALID_ARGUMENT);
    CHECK(log_calls == 0);

    /* Lifecycle at INFO; an unknown agent at ERROR. */
    reset_log();
    CHECK(ab_session_create(engine, NULL, &session) == AB_OK);
    CHECK(log_levels[AB_LOG_INFO] == 1 && strstr(last_message, "session created") != NULL);
    reset_log();
    CHECK(ab_session_attach_agent(session, "no-such-agent") == AB_E_INVALID_ARGUMENT);
    CHECK(log_levels[AB_LOG_ERROR] == 1 && strstr(last_message, "no-such-agent") != NULL);

    /* The media thread's functions never log, not even on bad input. */
    reset_log();
    unsigned char frame[160], short_frame[7];
    memset(frame, 0xFF, sizeof frame);
    size_t written = 0;
    ab_event event = {.struct_size = sizeof(ab_event)};
    for (int i = 0; i < 100; i++) {
        CHECK(ab_session_write_caller(session, frame, sizeof frame) == AB_OK);
        CHECK(ab_session_write_caller(session, short_frame, sizeof short_frame) == AB_E_WRONG_FRAME_SIZE);
        CHECK(ab_session_read_caller(session, frame, sizeof frame, &written) == AB_OK);
        CHECK(ab_session_read_caller(session, frame, 3, &written) == AB_E_BUFFER_TOO_SMALL);
        CHECK(ab_session_caller_dtmf(session, 'x') == AB_E_INVALID_ARGUMENT);
        while (ab_session_poll_event(session, &event) == 1) {}
    }
    CHECK(log_calls == 0);

    /* A level filter, then no handler at all. */
    CHECK(ab_set_log_handler(record_log, &log_calls, AB_LOG_ERROR) == AB_OK);
    ab_session_destroy(session);
    reset_log();
    CHECK(ab_session_create(engine, NULL, &session) == AB_OK);
    CHECK(log_calls == 0);
    CHECK(ab_set_log_handler(NULL, NULL, AB_LOG_DEBUG) == AB_OK);
    CHECK(ab_session_attach_agent(session, "no-such-agent") == AB_E_INVALID_ARGUMENT);
    CHECK(log_calls == 0);
    ab_session_destroy(session);
    CHECK(ab_set_log_handler(record_log, &log_calls, AB_LOG_DEBUG) == AB_OK);
}

/* ---- ab_rtp_stats: sizes, RTCP, the loss fraction ---- */

static size_t rtp_packet(unsigned char *out, uint16_t seq, uint32_t ts) {
    const unsigned char header[12] = {0x80, 0x00, (unsigned char)(seq >> 8), (unsigned char)seq,
                                      (unsigned char)(ts >> 24), (unsigned char)(ts >> 16), (unsigned char)(ts >> 8), (unsigned char)ts,
                                      0x0B, 0xAD, 0xCA, 0xFE};
    memcpy(out, header, sizeof header);
    memset(out + 12, 0xFF, 160);
    return 172;
}

static void check_rtp_stats(ab_engine *engine) {
    ab_session *session = NULL;
    CHECK(ab_session_create(engine, NULL, &session) == AB_OK);
    ab_rtp_config config;
    ab_rtp_config_init(&config);
    ab_rtp *rtp = NULL;
    CHECK(ab_rtp_create(session, &config, &rtp) == AB_OK);

    /* 10 s of packets, every tenth lost, and three RTCP receiver reports (rtcp-mux). */
    unsigned char packet[AB_RTP_MAX_PACKET], out[AB_RTP_MAX_PACKET];
    const unsigned char rtcp[8] = {0x80, 201, 0x00, 0x01, 0x0B, 0xAD, 0xCA, 0xFE};
    size_t written = 0;
    uint64_t now = 1000000;
    for (int i = 0; i < 500; i++, now += 20000) {
        if (i % 10 != 5) CHECK(ab_rtp_receive(rtp, packet, rtp_packet(packet, (uint16_t)i, (uint32_t)i * 160u), now) == AB_OK);
        if (i % 150 == 0) CHECK(ab_rtp_receive(rtp, rtcp, sizeof rtcp, now) == AB_OK);
        CHECK(ab_rtp_tick(rtp, now, out, sizeof out, &written) == AB_OK);
    }

    ab_rtp_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = (uint32_t)offsetof(ab_rtp_stats, resynchronisations);
    CHECK(ab_rtp_get_stats(rtp, &stats) == AB_E_ABI_MISMATCH);

    /* The first version's size: everything before rtcp_packets written, rtcp_packets untouched. */
    memset(&stats, 0xAA, sizeof stats);
    stats.struct_size = (uint32_t)offsetof(ab_rtp_stats, rtcp_packets);
    CHECK(ab_rtp_get_stats(rtp, &stats) == AB_OK);
    CHECK(stats.struct_size == offsetof(ab_rtp_stats, rtcp_packets));
    CHECK(stats.rtcp_packets == 0xAAAAAAAAAAAAAAAAull);
    CHECK(stats.packets_received == 450 && stats.unknown_payload_type == 0 && stats.malformed == 0);

    /* The whole struct: RTCP counted, not taken for audio. */
    stats.struct_size = sizeof stats;
    CHECK(ab_rtp_get_stats(rtp, &stats) == AB_OK && stats.struct_size == sizeof stats);
    CHECK(stats.rtcp_packets == 4);
    /* 1 in 10 lost: 25.6/256; reading again gives the same (no reset on read). */
    CHECK(stats.fraction_lost >= 25 && stats.fraction_lost <= 26);
    uint32_t first_reading = stats.fraction_lost;
    CHECK(ab_rtp_get_stats(rtp, &stats) == AB_OK && stats.fraction_lost == first_reading);

    ab_rtp_destroy(rtp);
    ab_session_destroy(session);
}

int main(void) {
    CHECK(ab_set_log_handler(record_log, &log_calls, AB_LOG_DEBUG) == AB_OK);
    check_configs();
    ab_engine_config engine_config;
    ab_engine_config_init(&engine_config);
    engine_config.own_thread = 0;
    ab_engine *engine = NULL;
    CHECK(ab_engine_create(&engine_config, &engine) == AB_OK);
    check_events(engine);
    check_log_handler(engine);
    check_rtp_stats(engine);
    ab_engine_destroy(engine);
    CHECK(ab_set_log_handler(NULL, NULL, AB_LOG_ERROR) == AB_OK);
    return FINISH("growth_check");
}
