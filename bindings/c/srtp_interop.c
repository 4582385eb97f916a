/* SPDX-License-Identifier: MIT */
/* SRTP interoperability with libsrtp2 (the library Asterisk and FreeSWITCH use): packets libsrtp2
 * protects are accepted by libaudiobridge and the other way round, for both profiles, across a
 * sequence-number rollover; a tampered packet is refused. Then a whole ab_rtp endpoint: its
 * SRTP output is read by libsrtp2, and libsrtp2's packets become the session's caller audio.
 * Replays are refused across SSRC changes.
 * Build: cc srtp_interop.c $(pkg-config --cflags --libs audiobridge libsrtp2) */
#include <audiobridge.h>
#include <srtp2/srtp.h>
#include <string.h>

#include "check.h"

/* Key‖salt 00 01 … 1d and 1d 1c … 00, raw for libsrtp2 and as SDES base64 for libaudiobridge. */
static const char *const key_forward = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";
static const char *const key_backward = "HRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgEA";
static unsigned char raw_forward[30], raw_backward[30];

static srtp_t libsrtp_session(const unsigned char *key, int profile, int inbound) {
    srtp_policy_t policy;
    memset(&policy, 0, sizeof policy);
    if (profile == AB_SRTP_AES128_CM_HMAC_SHA1_80) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    } else {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy.rtp);
    }
    srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
    policy.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
    policy.key = (unsigned char *)key;
    policy.window_size = 128;
    srtp_t session = NULL;
    CHECK(srtp_create(&session, &policy) == srtp_err_status_ok);
    return session;
}

/* An RTP packet: PCMU, sequence `seq`, timestamp `ts`, a payload that depends on `seq`.
 * Returns its length. */
static int make_packet(unsigned char *out, uint16_t seq, uint32_t ts, uint32_t ssrc) {
    unsigned char header[12] = {0x80, 0x00, (unsigned char)(seq >> 8), (unsigned char)seq,
                                (unsigned char)(ts >> 24), (unsigned char)(ts >> 16), (unsigned char)(ts >> 8), (unsigned char)ts,
                                (unsigned char)(ssrc >> 24), (unsigned char)(ssrc >> 16), (unsigned char)(ssrc >> 8), (unsigned char)ssrc};
    memcpy(out, header, 12);
    for (int i = 0; i < 160; i++) out[12 + i] = (unsigned char)(seq * 7 + i);
    return 172;
}

static void interoperate(int profile) {
    int tag = profile == AB_SRTP_AES128_CM_HMAC_SHA1_80 ? 10 : 4;
    srtp_t their_sender = libsrtp_session(raw_forward, profile, 0);
    srtp_t their_receiver = libsrtp_session(raw_backward, profile, 1);
    ab_srtp *our_receiver = NULL, *our_sender = NULL;
    CHECK(ab_srtp_create(profile, key_forward, &our_receiver) == AB_OK);
    CHECK(ab_srtp_create(profile, key_backward, &our_sender) == AB_OK);
    int accepted = 0, returned = 0, same = 0;
    for (int i = 0; i < 300; i++) {
        uint16_t seq = (uint16_t)(65400 + i); /* wraps after 136 packets */
        unsigned char plain[200], packet[200];
        int length = make_packet(plain, seq, (uint32_t)i * 160u, 0x11223344u);

        /* libsrtp2 → libaudiobridge */
        memcpy(packet, plain, (size_t)length);
        int protected_length = length;
        CHECK(srtp_protect(their_sender, packet, &protected_length) == srtp_err_status_ok);
        CHECK(protected_length == length + tag);
        size_t out = 0;
        if (ab_srtp_unprotect(our_receiver, packet, (size_t)protected_length, &out) == AB_OK) accepted++;
        if (out == (size_t)length && memcmp(packet, plain, out) == 0) same++;

        /* libaudiobridge → libsrtp2 */
        length = make_packet(plain, seq, (uint32_t)i * 160u, 0x55667788u);
        memcpy(packet, plain, (size_t)length);
        CHECK(ab_srtp_protect(our_sender, packet, (size_t)length, sizeof packet, &out) == AB_OK);
        int their_length = (int)out;
        if (srtp_unprotect(their_receiver, packet, &their_length) == srtp_err_status_ok && their_length == length && memcmp(packet, plain, (size_t)length) == 0) returned++;
    }
    CHECK(accepted == 300);
    CHECK(same == 300);
    CHECK(returned == 300);

    /* A flipped bit in a libsrtp2 packet: refused, buffer untouched. */
    unsigned char packet[200], copy[200];
    int length = make_packet(packet, 700, 0, 0x11223344u);
    CHECK(srtp_protect(their_sender, packet, &length) == srtp_err_status_ok);
    packet[40] ^= 0x01;
    memcpy(copy, packet, (size_t)length);
    size_t out = 0;
    CHECK(ab_srtp_unprotect(our_receiver, packet, (size_t)length, &out) == AB_E_PROTOCOL);
    CHECK(memcmp(copy, packet, (size_t)length) == 0);

    ab_srtp_destroy(our_receiver);
    ab_srtp_destroy(our_sender);
    srtp_dealloc(their_sender);
    srtp_dealloc(their_receiver);
}

/* A peer that changes SSRC (a transfer, a re-INVITE, a media server switching streams) and a
 * replay of the first stream afterwards: libsrtp2 protects both streams; the first stream's
 * packets are refused when replayed, before and after the change, while its new packets, and
 * the second stream's, are taken. Then more streams than the receiver keeps windows for. */
static void replays_across_ssrc_changes(void) {
    int profile = AB_SRTP_AES128_CM_HMAC_SHA1_80;
    srtp_t their_sender = libsrtp_session(raw_forward, profile, 0);
    ab_srtp *our_receiver = NULL;
    CHECK(ab_srtp_create(profile, key_forward, &our_receiver) == AB_OK);
    enum { streams = 12, per_stream = 20 };
    static unsigned char sent[streams][per_stream][200];
    static int sent_length[streams][per_stream];
    for (int s = 0; s < streams; s++) {
        for (int i = 0; i < per_stream; i++) {
            sent_length[s][i] = make_packet(sent[s][i], (uint16_t)(1000 * s + i), (uint32_t)i * 160u, 0x5000u + (uint32_t)s);
            CHECK(srtp_protect(their_sender, sent[s][i], &sent_length[s][i]) == srtp_err_status_ok);
        }
    }
    unsigned char packet[200];
    size_t out = 0;
#define OFFER(s, i) (memcpy(packet, sent[s][i], (size_t)sent_length[s][i]), ab_srtp_unprotect(our_receiver, packet, (size_t)sent_length[s][i], &out))
    /* Stream 0's first half, then stream 1, then a replay of stream 0. */
    for (int i = 0; i < per_stream / 2; i++) CHECK(OFFER(0, i) == AB_OK);
    CHECK(OFFER(0, 3) == AB_E_PROTOCOL);
    for (int i = 0; i < per_stream; i++) CHECK(OFFER(1, i) == AB_OK);
    CHECK(OFFER(0, 3) == AB_E_PROTOCOL);
    CHECK(OFFER(0, per_stream / 2 - 1) == AB_E_PROTOCOL);
    CHECK(OFFER(1, 5) == AB_E_PROTOCOL);
    /* Stream 0 comes back: its new packets are taken, its old ones still refused. */
    for (int i = per_stream / 2; i < per_stream; i++) CHECK(OFFER(0, i) == AB_OK);
    CHECK(OFFER(0, 0) == AB_E_PROTOCOL);
    /* Ten more streams: the receiver keeps 8 windows, so stream 0 (heard from least recently)
     * and 1 lose theirs; the 8 most recent keep refusing replays. */
    for (int s = 2; s < streams; s++) {
        for (int i = 0; i < per_stream; i++) CHECK(OFFER(s, i) == AB_OK);
    }
    for (int s = streams - 8; s < streams; s++) CHECK(OFFER(s, per_stream - 2) == AB_E_PROTOCOL);
#undef OFFER
    ab_srtp_destroy(our_receiver);
    srtp_dealloc(their_sender);
}

/* An ab_rtp endpoint between two libsrtp2 sessions, as a SIP peer would be. */
static void endpoint(void) {
    ab_engine *engine = NULL;
    ab_session *session = NULL;
    ab_rtp *rtp = NULL;
    CHECK(ab_engine_create(NULL, &engine) == AB_OK);
    ab_session_config session_config;
    ab_session_config_init(&session_config);
    session_config.agent_rate_hz = 8000;
    session_config.barge_in_enabled = 0;
    CHECK(ab_session_create(engine, &session_config, &session) == AB_OK);
    ab_rtp_config config;
    ab_rtp_config_init(&config);
    config.srtp_profile = AB_SRTP_AES128_CM_HMAC_SHA1_80;
    config.srtp_send_key = key_backward;
    config.srtp_receive_key = key_forward;
    CHECK(ab_rtp_create(session, &config, &rtp) == AB_OK);

    /* The agent says something: 1 s of a loud square-ish wave. */
    static int16_t agent[8000];
    for (int i = 0; i < 8000; i++) agent[i] = (int16_t)((i / 20) % 2 ? 6000 : -6000);
    size_t taken = 0;
    CHECK(ab_session_write_downlink(session, 1, agent, sizeof agent, &taken) == AB_OK && taken == sizeof agent);

    srtp_t phone_sender = libsrtp_session(raw_forward, AB_SRTP_AES128_CM_HMAC_SHA1_80, 0);
    srtp_t phone_receiver = libsrtp_session(raw_backward, AB_SRTP_AES128_CM_HMAC_SHA1_80, 1);
    int read_back = 0, loud = 0;
    size_t uplink_bytes = 0;
    for (int frame = 0; frame < 100; frame++) {
        uint64_t now = (uint64_t)frame * 20000u;
        unsigned char packet[AB_RTP_MAX_PACKET];
        int length = make_packet(packet, (uint16_t)(65500 + frame), 4294960000u + (uint32_t)frame * 160u, 0xCAFEu);
        CHECK(srtp_protect(phone_sender, packet, &length) == srtp_err_status_ok);
        CHECK(ab_rtp_receive(rtp, packet, (size_t)length, now) == AB_OK);
        size_t written = 0;
        CHECK(ab_rtp_tick(rtp, now, packet, sizeof packet, &written) == AB_OK);
        int their_length = (int)written;
        if (srtp_unprotect(phone_receiver, packet, &their_length) == srtp_err_status_ok && their_length == 172) {
            read_back++;
            if (packet[12] != 0xFF && packet[12] != 0x7F) loud++;
        }
        unsigned char uplink[4096];
        size_t got = 0;
        while (ab_session_read_uplink(session, uplink, sizeof uplink, &got) == AB_OK && got > 0) uplink_bytes += got;
    }
    CHECK(read_back == 100);
    CHECK(loud >= 45);
    CHECK(uplink_bytes >= 95 * 320);
    ab_rtp_stats stats;
    stats.struct_size = sizeof stats;
    CHECK(ab_rtp_get_stats(rtp, &stats) == AB_OK);
    CHECK(stats.packets_received == 100 && stats.srtp_auth_failures == 0 && stats.malformed == 0);
    CHECK(stats.frames_concealed == 0);
    srtp_dealloc(phone_sender);
    srtp_dealloc(phone_receiver);
    ab_rtp_destroy(rtp);
    ab_session_destroy(session);
    ab_engine_destroy(engine);
}

int main(void) {
    for (int i = 0; i < 30; i++) {
        raw_forward[i] = (unsigned char)i;
        raw_backward[i] = (unsigned char)(29 - i);
    }
    CHECK(srtp_init() == srtp_err_status_ok);
    interoperate(AB_SRTP_AES128_CM_HMAC_SHA1_80);
    interoperate(AB_SRTP_AES128_CM_HMAC_SHA1_32);
    replays_across_ssrc_changes();
    endpoint();
    srtp_shutdown();
    return FINISH("srtp_interop");
}
