// SPDX-License-Identifier: MIT
// The SIP signalling of `audiobridge serve --sip`: sofia-sip's user agent (nua) on a thread of
// its own, seen through a few plain C calls, because sofia-sip's own API (tag lists built by
// varargs macros) cannot be called from Swift. sofia-sip does the transactions, dialogs,
// retransmissions, CANCEL, OPTIONS and session timers; the SDP is the application's (media
// is off in nua), so the offer/answer stays in pure, tested Swift (AudioBridgeProtocols/SIP).
//
// Threads: every callback runs on the user agent's thread, one at a time. `sipua_bye` and
// `sipua_release` may be called from any thread: they are queued to that thread (and refused
// once the user agent has stopped). A call handle stays valid until the application releases it.
#ifndef AUDIOBRIDGE_SIP_USER_AGENT_H
#define AUDIOBRIDGE_SIP_USER_AGENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sipua sipua_t;
/// One call (a dialog made by an incoming INVITE); opaque.
typedef struct sipua_call sipua_call_t;

/// An INVITE that came in: a new call, or a re-INVITE of one the application accepted.
/// Every string is NUL-terminated and valid during the callback only.
typedef struct {
    const char *request_user;  ///< the Request-URI's user part (the number called), "" if none
    const char *from;          ///< the From header's URI
    const char *from_display;  ///< the From header's display name, "" if none
    const char *to;            ///< the To header's URI
    const char *call_id;       ///< the Call-ID
    const char *sdp;           ///< the SDP offer, "" if the INVITE had none
    const char *authorization; ///< the Authorization header's value, "" if none
    /// The headers sofia-sip has no parser of its own for (X-…, P-…), as "Name: value" lines
    /// separated by "\n"; "" if none.
    const char *other_headers;
    int is_reinvite;           ///< 1: a re-INVITE of an accepted call
} sipua_invite;

#define SIPUA_SDP_CAPACITY 4096
#define SIPUA_HEADER_CAPACITY 512

/// The application's answer to an INVITE, filled in by the callback.
typedef struct {
    /// 200: answered with `sdp`; 180 (a new call only): ringing, answered later with
    /// sipua_accept; any other final status (400–699): refused with it (and for a re-INVITE
    /// the call goes on as it was).
    int status;
    /// The SDP answer when `status` is 200, NUL-terminated.
    char sdp[SIPUA_SDP_CAPACITY];
    /// One more header line for a refusal ("WWW-Authenticate: Digest …" with 401), NUL-terminated;
    /// empty for none.
    char header[SIPUA_HEADER_CAPACITY];
    /// The application's call, given back with the call's later events (a new call answered
    /// with 200 only; must not be NULL then).
    void *call_context;
} sipua_answer;

typedef struct {
    void *context;
    /// An INVITE: fill `answer`. `call_context` is NULL for a new call, the application's call
    /// for a re-INVITE. `call` is the handle for sipua_bye/sipua_release.
    void (*invite)(void *context, sipua_call_t *call, void *call_context, const sipua_invite *invite, sipua_answer *answer);
    /// The ACK of an accepted call came, with its SDP ("" if none): the answer to the offer our
    /// 200 carried when the INVITE had none (a late offer, RFC 3261 §13.2.1).
    void (*acknowledged)(void *context, void *call_context, const char *sdp);
    /// An accepted call is over (BYE either way, CANCEL, a failed session refresh, shutdown):
    /// once per call. The application releases the call's handle when it is done with it.
    void (*ended)(void *context, void *call_context, int status, const char *phrase);
    /// How a transfer (sipua_refer) goes: the REFER's response, then each NOTIFY's sipfrag
    /// status. `final` is 1 on the last report: a REFER refused, or the target's final answer.
    void (*transfer)(void *context, void *call_context, int status, int final);
    /// A call we placed (sipua_place) got a response: 1xx progress, 2xx answered (`sdp` the
    /// answer, "" if none), 3xx–6xx refused (`ended` follows). 401/407 go to `challenged`.
    void (*outgoing)(void *context, void *call_context, int status, const char *sdp);
    /// A call we placed was challenged (401/407) for `realm`: answer with sipua_authenticate,
    /// or let it fail (sipua_bye).
    void (*challenged)(void *context, void *call_context, const char *realm);
    /// An OPTIONS (a proxy's keepalive): the status to answer, 200 while calls are taken, 503
    /// while draining, so a load balancer stops sending calls before the INVITEs are refused.
    int (*options)(void *context);
    /// How the registration (sipua_register) went: 2xx registered (and kept, refreshed by
    /// sofia-sip before it expires), anything else failed. `expires` is the registrar's, seconds.
    void (*registered)(void *context, int status, const char *phrase, int expires);
} sipua_callbacks;

typedef struct {
    /// Where to listen: "sip:HOST:PORT" (UDP and TCP), or any sofia-sip NUTAG_URL form.
    const char *url;
    /// The User-Agent and Server header.
    const char *user_agent;
    /// RFC 4028 session timer offered and accepted, seconds; 0: none.
    unsigned session_expires;
    /// Also listen for SIP over TLS: "sips:HOST:PORT" (NULL: no TLS), with the certificate and
    /// key in `tls_directory` as sofia-sip reads them: agent.pem (the key, then the certificate
    /// chain) and cafile.pem.
    const char *tls_url;
    const char *tls_directory;
} sipua_settings;

/// Starts the user agent on its own thread. 0, or -1 with the reason in `error`.
int sipua_start(const sipua_settings *settings, const sipua_callbacks *callbacks, sipua_t **user_agent, char *error, size_t error_capacity);

/// Answers a ringing call (200 with `sdp`, shorter than SIPUA_SDP_CAPACITY). 0, or -1 if the
/// user agent has stopped. Any thread; a call CANCELled meanwhile has ended (`ended`) instead.
int sipua_accept(sipua_t *user_agent, sipua_call_t *call, const char *sdp);

/// Refuses a ringing call with a final status (400–699); `ended` follows. 0, or -1 if the
/// user agent has stopped. Any thread.
int sipua_decline(sipua_t *user_agent, sipua_call_t *call, int status);

/// Places a call: INVITE `to` (a SIP URI) from `from` with the SDP offer `sdp`; its progress
/// comes to `outgoing` with `call_context`. Returns the call's handle, or NULL (bad URI, or the
/// user agent has stopped). Blocks until the user agent's thread has sent it: not from a callback.
sipua_call_t *sipua_place(sipua_t *user_agent, void *call_context, const char *to, const char *from, const char *sdp);

/// Answers a challenge of a call we placed with credentials in sofia-sip's NUTAG_AUTH form
/// ("Digest:\"REALM\":USER:PASSWORD"). 0, or -1 if the user agent has stopped. Any thread.
int sipua_authenticate(sipua_t *user_agent, sipua_call_t *call, const char *credentials);

/// Registers `aor` (sip:USER@REGISTRAR) for `expires` seconds and keeps it registered;
/// a challenge is answered with `user` and `password` (once per request). 0, or -1 if the user
/// agent has stopped or the strings are too long. Any thread; once.
int sipua_register(sipua_t *user_agent, const char *aor, const char *user, const char *password, unsigned expires);

/// Gives up a call we placed that has not been answered (CANCEL); `ended` follows. 0, or -1 if
/// the user agent has stopped. Any thread.
int sipua_cancel(sipua_t *user_agent, sipua_call_t *call);

/// Hangs an answered call up (BYE).
/// 0, or -1 if the user agent has stopped. Any thread.
int sipua_bye(sipua_t *user_agent, sipua_call_t *call);

#define SIPUA_TARGET_CAPACITY 512

/// Blind transfer (RFC 3515): REFER the caller to `target` (a SIP URI, shorter than
/// SIPUA_TARGET_CAPACITY); progress comes to the `transfer` callback. 0, or -1 if the user agent
/// has stopped or the target is too long. Any thread.
int sipua_refer(sipua_t *user_agent, sipua_call_t *call, const char *target);

/// The application is done with the call: its handle is freed. Once per accepted call, after
/// which the handle is not used again. Any thread.
int sipua_release(sipua_t *user_agent, sipua_call_t *call);

/// Shuts the user agent down (calls still up are hung up by sofia-sip), waits for its thread
/// and frees it. Not from a callback.
void sipua_stop(sipua_t *user_agent);

#ifdef __cplusplus
}
#endif

#endif
