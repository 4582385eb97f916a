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
 *    load time. Functions, status codes, event kinds and enum values are only ever added, never
 *    renumbered or removed.
 *
 * How structs grow (a host built against an older or newer header keeps working)
 *  - Every struct that crosses the boundary starts with `uint32_t struct_size`. Fields are only
 *    ever added at the end; none is removed, moved or retyped.
 *  - Structs the host fills in (ab_engine_config, ab_session_config, ab_transport_ops,
 *    ab_rtp_config) also carry `abi_version`. Their ab_*_config_init sets struct_size to the size
 *    this library knows: a host built against a newer header checks struct_size after init
 *    before relying on a field this library may not have. The library takes the size of any
 *    version it has known (the fields an older host lacks get their defaults) and refuses a
 *    larger one with AB_E_ABI_MISMATCH: it cannot honour fields it does not know.
 *  - Structs the library fills in (ab_event, ab_session_stats, ab_rtp_stats): the host sets
 *    struct_size to sizeof the struct it passes; any size of at least the first version's is
 *    taken, the fields that fit are written and struct_size is set to the bytes written (a
 *    host that reuses the struct need not set it again). A smaller size is AB_E_ABI_MISMATCH.
 *    An ab_event the library passes to a callback has struct_size set to the bytes valid.
 *  - bindings/c/growth_check.c and session_check.c pass each struct at its first version's
 *    size and at sizes the library does not know, and check what is read and written.
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
    AB_E_UNSUPPORTED_SAMPLE_RATE = -2, /* a rate the function does not take (see each one) */
    AB_E_UNSUPPORTED_QUALITY = -3,    /* a resampler quality outside 0..10 */
    AB_E_OUT_OF_MEMORY = -4,
    AB_E_BUFFER_TOO_SMALL = -5,
    AB_E_INTERNAL = -6,               /* a library AudioBridge relies on failed unexpectedly */
    AB_E_WRONG_FRAME_SIZE = -7,       /* a caller frame that is not exactly one frame */
    AB_E_UNSUPPORTED_CODEC = -8,      /* an unknown codec or audio format */
    AB_E_INVALID_FRAME_DURATION = -9, /* a frame duration other than 10, 20 or 30 ms */
    AB_E_ABI_MISMATCH = -10,          /* a struct whose struct_size/abi_version this library does not know */
    AB_E_INVALID_STATE = -11,         /* not allowed now (e.g. a second transport on a session) */
    AB_E_WOULD_BLOCK = -12,           /* no room now: retry later (back-pressure) */
    AB_E_PROTOCOL = -13               /* a peer broke its protocol (malformed message, bad audio
                                         encoding): the code of a transport error event; the
                                         call goes on */
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

/** Log levels, most severe first. */
enum {
    AB_LOG_ERROR = 0,    /* a call failed: which argument or field, and why */
    AB_LOG_WARNING = 1,  /* something the host should look at; the call went on */
    AB_LOG_INFO = 2,     /* lifecycle: engines, sessions, transports, RTP endpoints */
    AB_LOG_DEBUG = 3
};

/** Receives one diagnostic line (UTF-8, no trailing newline), valid only during the call. */
typedef void (*ab_log_fn)(void *user, int level, const char *message);

/** Sets the process-wide receiver of the library's diagnostics and the most detailed level it
 *  gets (AB_LOG_*); `fn` NULL (the default) turns them off. Messages come only from calls that
 *  are not realtime-safe (create, attach, detach, destroy) and from an engine's I/O thread,
 *  on that thread, synchronously, and possibly from several threads at once: never from a
 *  REALTIME-SAFE function, so never on the media thread. What the media thread sees is counted
 *  in the stats and raised as events instead. The previous receiver may still be running on
 *  another thread when this returns. AB_E_INVALID_ARGUMENT for a level outside AB_LOG_*.
 *  Any thread. Not realtime-safe. */
int ab_set_log_handler(ab_log_fn fn, void *user, int max_level);

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
 * Any thread. REALTIME-SAFE: they never allocate. Until the process has created an engine or a
 * session they compute every sample; from then on they use lookup tables built at that creation.
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

/** Creates a resampler from `in_rate_hz` to `out_rate_hz` (each 8000, 12000, 16000, 24000, 32000,
 *  44100, 48000, 96000 or 192000: Asterisk's slin rates)
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

/* ---- Engine --------------------------------------------------------------------------------- */
/*
 * An engine owns the I/O thread that drives transports attached to its sessions (built-in
 * agents and host-supplied C transports). Sessions that use no transport need no thread, but
 * still belong to an engine.
 */
typedef struct ab_engine ab_engine;
typedef struct ab_session ab_session;

typedef struct ab_engine_config {
    uint32_t struct_size;    /* sizeof(ab_engine_config), set by ab_engine_config_init */
    uint32_t abi_version;    /* AB_ABI_VERSION, set by ab_engine_config_init */
    uint32_t tick_ms;        /* how often the I/O thread services transports, 1..100; default 5 */
    uint32_t own_thread;     /* 1 (default): the engine runs its I/O thread; 0: the host calls
                                ab_engine_service from its own I/O loop */
} ab_engine_config;

/** Fills `config` with defaults. Any thread. REALTIME-SAFE. */
int ab_engine_config_init(ab_engine_config *config);

/** Creates an engine (and starts its I/O thread unless own_thread is 0). `config` may be NULL
 *  for defaults. Returns AB_E_ABI_MISMATCH for a config from another ABI.
 *  Control thread. Not realtime-safe. */
int ab_engine_create(const ab_engine_config *config, ab_engine **out);

/** Services every attached transport once, on the calling thread (own_thread = 0 only).
 *  One I/O thread at a time. Not realtime-safe (transport callbacks run inside). */
int ab_engine_service(ab_engine *engine);

/** Stops the I/O thread and detaches every transport (each gets its close/detached calls).
 *  Destroy the engine's sessions first or after: both orders are safe. NULL is ignored.
 *  Control thread. Not realtime-safe. */
void ab_engine_destroy(ab_engine *engine);

/* ---- Session -------------------------------------------------------------------------------- */
/*
 * One call. Its calls fall in three groups, each for one thread at a time:
 *   media:  ab_session_write_caller, ab_session_read_caller, ab_session_caller_dtmf
 *           — the host's media thread, every frame; REALTIME-SAFE.
 *   agent:  ab_session_write_downlink, ab_session_end_item, ab_session_read_uplink,
 *           ab_session_poll_agent_event — one I/O thread (with a transport attached: only from
 *           inside that transport's callbacks); REALTIME-SAFE.
 *   events: ab_session_poll_event — one consumer thread; REALTIME-SAFE.
 * ab_session_interrupt and ab_session_get_stats may be called from any thread.
 */

enum {
    AB_CODEC_ULAW = 0,     /* G.711 μ-law, 1 byte per sample */
    AB_CODEC_ALAW = 1,     /* G.711 A-law, 1 byte per sample */
    AB_CODEC_SLIN16 = 2    /* signed 16-bit native-endian PCM, 2 bytes per sample */
};

enum {
    AB_AGENT_PCM16 = 0,           /* signed 16-bit native-endian PCM at agent_rate_hz */
    AB_AGENT_G711_PASSTHROUGH = 1 /* the phone's G.711 bytes both ways, no resampling */
};

typedef struct ab_session_config {
    uint32_t struct_size;          /* sizeof(ab_session_config), set by ab_session_config_init */
    uint32_t abi_version;          /* AB_ABI_VERSION, set by ab_session_config_init */
    uint32_t phone_codec;          /* AB_CODEC_*; default AB_CODEC_ULAW (8 kHz) */
    uint32_t frame_ms;             /* 10, 20 (default) or 30 */
    uint32_t agent_format;         /* AB_AGENT_*; default AB_AGENT_PCM16 */
    uint32_t agent_rate_hz;        /* 8000, 16000 or 24000 (default) for AB_AGENT_PCM16 */
    int32_t resampler_quality;     /* 0..10; default AB_RESAMPLER_DEFAULT_QUALITY */
    uint32_t playout_capacity_ms;  /* agent audio queued for the caller, 1000..600000; default
                                      2000 (write_downlink back-pressures beyond it) */
    uint32_t uplink_capacity_ms;   /* caller audio waiting for the agent side, 100..60000;
                                      default 500 (read it every tick) */
    uint32_t event_capacity;       /* events waiting per producer side, 16..65536; default 64 */
    uint32_t barge_in_enabled;     /* 1 (default): caller speech over agent audio cuts it */
    uint32_t fade_ms;              /* fade-out on a cut, 1..10 and at most frame_ms; default 8 */
    /* The caller-speech detector and barge-in policy (README: "The detector"). */
    uint32_t min_speech_ms;        /* speech must last this long to start, 0..1280; default 100 */
    uint32_t hangover_ms;          /* speech ends after this long without it, 0..1260; default 200 */
    float threshold_db;            /* speech: mean SNR of the better half of the bands over noise
                                      and expected echo; default 5 */
    float min_level_dbfs;          /* quieter is never speech; default -55 */
    float echo_rejection_db;       /* margin on the echo expected from what was played; default 6 */
    /* Added after the first header (a config that ends before these is still accepted and
       gets the defaults): */
    float agent_talking_extra_db;  /* added to threshold_db while the agent talks; default 2 */
    float background_margin_db;    /* in noisy calls the threshold stays this far above the
                                      background's typical SNR; default 4 */
    uint32_t end_of_turn_ms;       /* the caller's turn (AB_EVENT_SPEECH_STOPPED) ends after this
                                      long without speech, 0..10000; default 600 */
    /* Pause, then commit, else resume (README: "Barge-in: pause, then commit, else resume").
       Added with it (a config that ends before these is still accepted and gets the defaults): */
    uint32_t barge_in_mode;        /* AB_BARGE_IN_MODE_*; default AB_BARGE_IN_MODE_PAUSE */
    uint32_t confirm_ms;           /* a pause commits after this long, once half of it (and half
                                      of what sounded like speech) is confirmed as the caller's
                                      voice, 0..2000 (0: commit at once); default 240 */
    uint32_t max_pause_ms;         /* unconfirmed speech resumes playout after this long,
                                      confirm_ms..5000; default 1000 */
} ab_session_config;

enum {
    /* Every onset while the agent plays cuts it at once (AB_EVENT_BARGE_IN only). */
    AB_BARGE_IN_MODE_IMMEDIATE = 0,
    /* An onset pauses playout (AB_EVENT_BARGE_IN_PENDING: faded out, queue kept, heard position
       frozen); confirmed speech commits the cut (AB_EVENT_BARGE_IN); otherwise playout resumes
       at exactly the paused sample (AB_EVENT_BARGE_IN_RESUMED). */
    AB_BARGE_IN_MODE_PAUSE = 1
};

/** Fills `config` with defaults. Any thread. REALTIME-SAFE. */
int ab_session_config_init(ab_session_config *config);

/** Creates a session: every buffer it will use is allocated and warmed up here. `config` may be
 *  NULL for defaults. Errors: AB_E_INVALID_ARGUMENT, AB_E_ABI_MISMATCH, AB_E_UNSUPPORTED_CODEC,
 *  AB_E_INVALID_FRAME_DURATION, AB_E_UNSUPPORTED_SAMPLE_RATE, AB_E_UNSUPPORTED_QUALITY,
 *  AB_E_OUT_OF_MEMORY; on error `*out` is NULL. Control thread. Not realtime-safe. */
int ab_session_create(ab_engine *engine, const ab_session_config *config, ab_session **out);

/** Detaches the session's transport (if any) and frees the session. No other call on it may be
 *  running or follow. NULL is ignored. Control thread. Not realtime-safe. */
void ab_session_destroy(ab_session *session);

/** The size in bytes of one caller frame (both directions) for this session's codec and frame
 *  duration, e.g. 160 for 20 ms μ-law, 320 for 20 ms slin16. Any thread. REALTIME-SAFE. */
int ab_session_frame_bytes(const ab_session *session, size_t *bytes);

/** Media: takes one caller frame of exactly ab_session_frame_bytes bytes. Any other size is
 *  AB_E_WRONG_FRAME_SIZE and changes nothing. Media thread. REALTIME-SAFE. */
int ab_session_write_caller(ab_session *session, const void *frame, size_t bytes);

/** Media: writes the next frame the caller hears (silence when no agent audio is queued) into
 *  `out` and its size into `*written`. AB_E_BUFFER_TOO_SMALL if `capacity` is less than a frame.
 *  Media thread. REALTIME-SAFE. */
int ab_session_read_caller(ab_session *session, void *out, size_t capacity, size_t *written);

/** Media: the caller pressed a DTMF key ('0'-'9', '*', '#', 'A'-'D'); reported as an event to the
 *  host and the agent side. Media thread. REALTIME-SAFE. */
int ab_session_caller_dtmf(ab_session *session, char digit);

/** Agent side: queues agent audio for `item` (a non-zero id the agent side chooses; a new id
 *  starts a new item and ends the previous one). `audio` is in the agent format (PCM16
 *  native-endian at agent_rate_hz, or G.711 bytes in passthrough), in any chunk size and faster
 *  than real time. `*accepted` receives the bytes taken: fewer than `bytes` when the playout
 *  queue is full (back-pressure: offer the rest later), whole samples only. Audio for an item
 *  that a barge-in interrupted is taken and discarded (counted in the stats).
 *  Agent-side thread. REALTIME-SAFE. */
int ab_session_write_downlink(ab_session *session, uint64_t item, const void *audio, size_t bytes, size_t *accepted);

/** Agent side: marks the end of `item`; AB_EVENT_PLAYOUT_FINISHED follows once the caller has
 *  heard its last sample. AB_E_WOULD_BLOCK if the marker queue is full (retry).
 *  Agent-side thread. REALTIME-SAFE. */
int ab_session_end_item(ab_session *session, uint64_t item);

/** Agent side: asks for the call to end once everything written so far has been handed to the
 *  caller (the goodbye heard): AB_EVENT_HANGUP_REQUESTED follows then, for the host (hang the
 *  channel up) and the agent side. A barge-in that cuts that audio first cancels the request
 *  (the caller interrupted the goodbye: AB_EVENT_BARGE_IN says so). AB_E_WOULD_BLOCK if the
 *  marker queue is full (retry). Agent-side thread. REALTIME-SAFE. */
int ab_session_request_hangup(ab_session *session);

/** Agent side: asks for the call to be transferred once everything written so far has been
 *  heard: AB_EVENT_TRANSFER_REQUESTED follows then with `item` = `request` (an id the agent side
 *  chooses; the target is its to pass to the host). Cancelled by a barge-in like a hang-up
 *  request. AB_E_WOULD_BLOCK if the marker queue is full. Agent-side thread. REALTIME-SAFE. */
int ab_session_request_transfer(ab_session *session, uint64_t request);

/** Agent side: copies caller audio for the agent (agent format, whole samples) into `out`;
 *  `*written` is 0 when none is waiting. Agent-side thread. REALTIME-SAFE. */
int ab_session_read_uplink(ab_session *session, void *out, size_t capacity, size_t *written);

/** Cuts agent playout at the next caller frame: a short fade, the queue flushed, and an
 *  AB_EVENT_BARGE_IN (code AB_BARGE_IN_INTERRUPT) if an item was playing. Any thread.
 *  REALTIME-SAFE. */
int ab_session_interrupt(ab_session *session);

/** The agent side heard the caller too (e.g. the model's own speech detection or a transcript):
 *  a barge-in pause in progress (AB_EVENT_BARGE_IN_PENDING) is committed at the next caller
 *  frame without waiting for confirm_ms (AB_EVENT_BARGE_IN, code AB_BARGE_IN_CALLER_SPEECH).
 *  Does nothing when playout is not paused; use ab_session_interrupt to cut regardless.
 *  Any thread. REALTIME-SAFE. */
int ab_session_confirm_barge_in(ab_session *session);

/* ---- Events --------------------------------------------------------------------------------- */

enum {
    AB_EVENT_SPEECH_STARTED = 1,
    AB_EVENT_SPEECH_STOPPED = 2,
    AB_EVENT_BARGE_IN = 3,             /* item cut; heard_ms/heard_samples: how much the caller heard */
    AB_EVENT_PLAYOUT_STARTED = 4,      /* first sample of item handed to the caller */
    AB_EVENT_PLAYOUT_FINISHED = 5,     /* last sample of item handed to the caller */
    AB_EVENT_DTMF = 6,                 /* digit */
    AB_EVENT_TRANSPORT_CONNECTED = 7,
    AB_EVENT_TRANSPORT_DISCONNECTED = 8,
    AB_EVENT_TRANSPORT_ERROR = 9,      /* code: the transport's negative status */
    AB_EVENT_UPLINK_OVERFLOW = 10,     /* count: caller samples dropped so far (agent side not reading) */
    AB_EVENT_EVENTS_DROPPED = 11,      /* count: events lost because nobody polled */
    AB_EVENT_BARGE_IN_PENDING = 12,    /* playout of item paused at heard_samples, a barge-in is
                                          possible; AB_EVENT_BARGE_IN or _RESUMED follows */
    AB_EVENT_BARGE_IN_RESUMED = 13,    /* no barge-in: item plays on from exactly heard_samples;
                                          count: the pause's length in ms */
    AB_EVENT_HANGUP_REQUESTED = 14,    /* the agent side's ab_session_request_hangup, its audio heard:
                                          hang up */
    AB_EVENT_TRANSFER_REQUESTED = 15   /* the agent side's ab_session_request_transfer, its audio
                                          heard; item: the request id */
};
/* Kinds may be added: a host ignores the ones it does not know. */

enum {
    AB_BARGE_IN_CALLER_SPEECH = 0,
    AB_BARGE_IN_INTERRUPT = 1
};

typedef struct ab_event {
    uint32_t struct_size;     /* polling: set by the host (sizeof(ab_event)) before the first
                                 call, set by the library to the bytes written; in a callback:
                                 the bytes valid */
    uint32_t kind;            /* AB_EVENT_* */
    int32_t code;             /* AB_BARGE_IN_* for barge-in; a status for transport errors */
    uint32_t heard_ms;        /* heard_samples in whole milliseconds */
    char digit;               /* DTMF digit, or 0 */
    uint8_t reserved0[7];
    uint64_t item;            /* the agent item concerned, or 0 */
    uint64_t heard_samples;   /* samples of item handed to the caller, at 8 kHz */
    uint64_t count;           /* for AB_EVENT_UPLINK_OVERFLOW and AB_EVENT_EVENTS_DROPPED */
    uint64_t timestamp_ms;    /* session media time: ms of caller audio processed so far */
    uint64_t sequence;        /* increases across all of the session's events */
} ab_event;

/** Takes the next event for the host into `*event` (set event->struct_size first). Returns 1
 *  if it wrote one, 0 if none is waiting, or a negative status (AB_E_ABI_MISMATCH for a
 *  struct_size below the first version's: no event is taken). One consumer thread.
 *  REALTIME-SAFE. */
int ab_session_poll_event(ab_session *session, ab_event *event);

/** Takes the next event for the agent side (barge-in, speech, DTMF, playout) — what an agent
 *  transport turns into its protocol's words. Returns 1, 0 or a negative status like
 *  ab_session_poll_event. With a transport attached, the engine consumes these instead.
 *  Agent-side thread. REALTIME-SAFE. */
int ab_session_poll_agent_event(ab_session *session, ab_event *event);

typedef struct ab_session_stats {
    uint32_t struct_size;                /* set by the caller: sizeof(ab_session_stats) */
    uint32_t reserved;
    uint64_t frames_in;
    uint64_t frames_out;
    uint64_t underrun_frames;            /* frames of an item that ran short and were padded */
    uint64_t uplink_dropped_samples;     /* caller samples lost: agent side not reading */
    uint64_t downlink_discarded_samples; /* agent samples (8 kHz) thrown away by cuts */
    uint64_t barge_ins;
    uint64_t events_dropped;
    uint64_t agent_events_dropped;
    uint64_t buffer_bytes;               /* memory this session allocated for rings and buffers */
    /* Added with pause-then-commit barge-in: */
    uint64_t barge_in_pauses;            /* pauses for a possible barge-in (AB_EVENT_BARGE_IN_PENDING) */
    uint64_t barge_in_resumes;           /* of them, those that resumed (AB_EVENT_BARGE_IN_RESUMED) */
} ab_session_stats;

/** Copies the session's counters into `*stats`. Set stats->struct_size to the size of the struct
 *  you pass: any size of at least the first version's (up to buffer_bytes) is accepted, the
 *  counters that fit are written and struct_size is set to the bytes written; a smaller size is
 *  AB_E_ABI_MISMATCH. Any thread. REALTIME-SAFE. */
int ab_session_get_stats(const ab_session *session, ab_session_stats *stats);

/* ---- Transports ----------------------------------------------------------------------------- */
/*
 * A transport connects a session's agent side to something outside. The engine's I/O thread
 * calls it (never the media thread); callbacks must not call ab_session_attach_*,
 * ab_session_detach_transport, ab_session_destroy or ab_engine_destroy.
 */
typedef struct ab_transport_ops {
    uint32_t struct_size;  /* sizeof(ab_transport_ops) */
    uint32_t abi_version;  /* AB_ABI_VERSION */
    void *user;            /* passed back to every callback */
    /* Optional. The first call, made inside ab_session_attach_transport. */
    void (*attached)(void *user, ab_session *session);
    /* Required. Caller audio for the agent, in the agent format. Return 0 or a negative status
       (reported to the host as AB_EVENT_TRANSPORT_ERROR). */
    int (*send_audio)(void *user, const void *audio, size_t bytes);
    /* Optional. An agent-side event (e.g. AB_EVENT_BARGE_IN: cancel the response, truncate the
       item at heard_ms). */
    void (*on_event)(void *user, const ab_event *event);
    /* Optional. Called every tick: push agent audio here with ab_session_write_downlink. */
    void (*poll)(void *user, ab_session *session);
    /* Required. The transport is being detached (or its session or engine destroyed): stop
       using the session. */
    void (*close)(void *user);
    /* Optional. The very last call, right after close; `user` may be freed once it returns. */
    void (*detached)(void *user);
} ab_transport_ops;

/** Attaches a host transport; `ops` is copied. AB_E_INVALID_STATE if one is attached already.
 *  Control thread. Not realtime-safe. */
int ab_session_attach_transport(ab_session *session, const ab_transport_ops *ops);

/** Attaches a built-in local agent, no network or key needed:
 *    "echo"                     plays back each thing the caller says
 *    "tone" or "tone:HZ[:MS]"   answers with a tone (default 440 Hz, 2000 ms)
 *    "wav:PATH"                 plays a mono PCM16/G.711 WAV file (8/16/24/48 kHz)
 *  each at once or after the caller speaks, and interruptible. After tone or wav,
 *  "?then=hangup" or "?then=transfer:N" (N ≥ 1) makes the agent request a hang-up or transfer N
 *  (ab_session_request_hangup/_transfer) each time the caller has heard the whole prompt. AB_E_INVALID_ARGUMENT for an
 *  unknown name, AB_E_UNSUPPORTED_* for an unreadable file. Control thread. Not realtime-safe. */
int ab_session_attach_agent(ab_session *session, const char *uri);

/** Detaches the session's transport: its close() and detached() are called here, last.
 *  AB_E_INVALID_STATE if none is attached. Control thread. Not realtime-safe. */
int ab_session_detach_transport(ab_session *session);

/* ---- RTP and SRTP --------------------------------------------------------------------------- */
/*
 * For hosts that carry the call as RTP themselves (Asterisk External Media, a SIP stack, a
 * FreeSWITCH module): an ab_rtp sits in front of a session's media side. The host hands it
 * every datagram it receives (ab_rtp_receive) and, every frame period, calls ab_rtp_tick,
 * which plays the next caller frame out of the adaptive jitter buffer into the session and
 * writes the packet to send back. SRTP (AES_CM_128_HMAC_SHA1_80/_32, SDES keys) is done inside.
 *
 * Threads: ab_rtp_receive, ab_rtp_tick, ab_rtp_send_digit and ab_rtp_get_stats belong to the
 * host's media thread (never concurrently) and are REALTIME-SAFE. A session driven by an ab_rtp
 * is not also fed with ab_session_write_caller/read_caller. The ab_rtp keeps its session alive:
 * destroy it before or after the session, either order is safe.
 */

/** SRTP protection profiles (RFC 4568 names). */
enum {
    AB_SRTP_NONE = 0,
    AB_SRTP_AES128_CM_HMAC_SHA1_80 = 1,
    AB_SRTP_AES128_CM_HMAC_SHA1_32 = 2
};

/** The largest datagram ab_rtp takes or writes, and a buffer size that always suffices for
 *  ab_rtp_tick's output. */
#define AB_RTP_MAX_PACKET 1500

typedef struct ab_rtp ab_rtp;

/** The payload type ab_rtp_config_init picks for a slin16 session: 10, which Asterisk's RTP
 *  engine (main/rtp_engine.c's static table) sends and reads as 8 kHz signed linear — its
 *  type 118 is 16 kHz. RFC 3551 gives 10 to 44.1 kHz stereo L16, so with any peer that
 *  negotiates by SDP use the dynamic type agreed for "L16/8000" instead. */
#define AB_RTP_SLIN_DEFAULT_PT 10

typedef struct ab_rtp_config {
    uint32_t struct_size;        /* sizeof(ab_rtp_config), set by ab_rtp_config_init */
    uint32_t abi_version;        /* AB_ABI_VERSION, set by ab_rtp_config_init */
    uint32_t payload_type;       /* 0 PCMU for a μ-law session, 8 PCMA for A-law; for a slin16
                                    session (L16 big-endian at 8 kHz) 10 or 11 (Asterisk's
                                    static types for 8 kHz slin) or a dynamic 96–127 */
    int32_t telephone_event_pt;  /* RFC 4733 DTMF payload type, 96–127 (usually 101); -1: none */
    uint32_t ssrc;               /* our SSRC; 0: random */
    uint32_t jitter_min_ms;      /* adaptive jitter buffer bounds: delay added to the earliest */
    uint32_t jitter_max_ms;      /*   packets (defaults 20 and 200; max 1000) */
    int32_t srtp_profile;        /* AB_SRTP_* */
    const char *srtp_send_key;    /* with SRTP: our SDES key, "[inline:]BASE64(key||salt)[|lifetime]" */
    const char *srtp_receive_key; /* with SRTP: the peer's */
} ab_rtp_config;

/** Fills `*config` with the defaults: PCMU, telephone-event 101, random SSRC, 20–200 ms, no
 *  SRTP. Set payload_type to 8 for an A-law session, AB_RTP_SLIN_DEFAULT_PT (or the negotiated
 *  type) for a slin16 one. Any thread. REALTIME-SAFE. */
int ab_rtp_config_init(ab_rtp_config *config);

/** Creates an RTP endpoint for `session`. AB_E_UNSUPPORTED_CODEC if the payload type does not
 *  suit the session's codec, AB_E_INVALID_ARGUMENT for bad bounds, a bad or half-given SRTP key
 *  pair, AB_E_ABI_MISMATCH for a struct_size or abi_version this library does not know (the
 *  reason goes to the log handler). Control thread. Not realtime-safe. */
int ab_rtp_create(ab_session *session, const ab_rtp_config *config, ab_rtp **out);

/** Destroys an endpoint (NULL is ignored). Control thread, not while the media thread uses it. */
void ab_rtp_destroy(ab_rtp *rtp);

/** Takes one received datagram; `arrival_us` is its arrival time on the clock ab_rtp_tick is
 *  given (any origin, microseconds). Audio packets may carry any whole number of samples up to
 *  what fits in AB_RTP_MAX_PACKET (ptime 10, 20, 30, 40, 60 ms or a sender's own sizes): the
 *  jitter buffer places them by timestamp and plays frame_ms frames out of them. 0 when taken
 *  (audio, a DTMF event, comfort noise, RTCP); AB_E_PROTOCOL for anything refused (not RTP,
 *  malformed, SRTP authentication failed or replayed) and AB_E_UNSUPPORTED_CODEC for a payload
 *  type not agreed — each counted in the stats, and the call goes on. DTMF events become
 *  AB_EVENT_DTMF, once per key press. RTCP arriving on the RTP port (rtcp-mux, RFC 5761:
 *  second byte 192–223) is counted in rtcp_packets and otherwise ignored; the library sends no
 *  RTCP. Media thread. REALTIME-SAFE. */
int ab_rtp_receive(ab_rtp *rtp, const void *packet, size_t bytes, uint64_t arrival_us);

/** One frame period: plays the next caller frame into the session and writes the packet to
 *  send (SRTP-protected when configured) into `out`, its size into `*written`. Call every
 *  frame_ms. AB_E_BUFFER_TOO_SMALL if `capacity` cannot hold it (AB_RTP_MAX_PACKET always can).
 *  Media thread. REALTIME-SAFE. */
int ab_rtp_tick(ab_rtp *rtp, uint64_t now_us, void *out, size_t capacity, size_t *written);

/** Sends a DTMF digit ('0'-'9', '*', '#', 'A'-'D') to the phone as RFC 4733 events lasting
 *  `duration_ms` (in place of audio, then the end packet three times). AB_E_INVALID_STATE with
 *  no telephone-event payload type. Media thread. REALTIME-SAFE. */
int ab_rtp_send_digit(ab_rtp *rtp, char digit, uint32_t duration_ms);

typedef struct ab_rtp_stats {
    uint32_t struct_size;          /* set by the caller: sizeof(ab_rtp_stats) */
    uint32_t fraction_lost;        /* RFC 3550's lost/expected × 256 over the last complete
                                      5 s of ab_rtp_tick's clock (a receiver report's figure);
                                      reading it changes nothing */
    uint64_t packets_received;     /* taken (not counting refused ones) */
    uint64_t packets_sent;
    int64_t cumulative_lost;       /* RFC 3550 A.3 (negative with duplicates) */
    uint64_t expected;
    uint32_t extended_highest_seq;
    uint32_t jitter_us;            /* RFC 3550 A.8 interarrival jitter */
    uint64_t malformed;            /* not RTP, or a payload that does not fit the codec */
    uint64_t srtp_auth_failures;
    uint64_t srtp_replays;
    uint64_t unknown_payload_type;
    uint64_t comfort_noise;        /* PT 13 packets (not audio) */
    uint64_t digits_received;
    uint64_t digits_sent;
    uint64_t source_changes;       /* new SSRCs after the first */
    /* The jitter buffer. */
    uint32_t jitter_buffer_delay_ms;   /* delay now added to the earliest packets */
    uint32_t jitter_buffer_target_ms;
    uint64_t late;                 /* arrived after their time to play (dropped) */
    uint64_t duplicates;
    uint64_t too_early;            /* too far ahead to hold (dropped) */
    uint64_t frames_played;
    uint64_t frames_concealed;     /* missing, replaced by a fading repeat */
    uint64_t frames_silent;        /* before the first packet, and in long gaps */
    uint64_t frames_skipped;       /* to shrink the delay */
    uint64_t frames_repeated;      /* to grow it */
    uint64_t resynchronisations;   /* timestamp jumps re-anchored */
    /* Added after the first version (a host passing the first version's size gets the fields
       above): */
    uint64_t rtcp_packets;         /* RTCP received on the RTP port (rtcp-mux); not parsed */
} ab_rtp_stats;

/** Copies the endpoint's counters. Set stats->struct_size to the size of the struct you pass:
 *  any size of at least the first version's (up to resynchronisations) is accepted, the
 *  counters that fit are written and struct_size is set to the bytes written; a smaller size
 *  is AB_E_ABI_MISMATCH. Reading changes nothing. Media thread. REALTIME-SAFE. */
int ab_rtp_get_stats(ab_rtp *rtp, ab_rtp_stats *stats);

/** An SRTP context alone, for a host that does its own RTP: one per direction (SDES gives each
 *  its own key): protect what you send with yours, unprotect what you receive with the peer's.
 *  `profile` is AB_SRTP_AES128_CM_HMAC_SHA1_80 or _32, `key` as in ab_rtp_config.
 *  AB_E_INVALID_ARGUMENT for a bad key or profile. Control thread. Not realtime-safe. */
typedef struct ab_srtp ab_srtp;
int ab_srtp_create(int profile, const char *key, ab_srtp **out);
void ab_srtp_destroy(ab_srtp *srtp);

/** Encrypts the RTP packet in `packet[0..bytes)` in place and appends the tag (10 or 4 bytes);
 *  `*written` receives the new size. AB_E_BUFFER_TOO_SMALL if `capacity` has no room for the
 *  tag, AB_E_PROTOCOL if it is not RTP. One thread at a time. REALTIME-SAFE. */
int ab_srtp_protect(ab_srtp *srtp, void *packet, size_t bytes, size_t capacity, size_t *written);

/** Checks and decrypts the SRTP packet in `packet[0..bytes)` in place; `*written` receives the
 *  RTP packet's size. AB_E_PROTOCOL (buffer unchanged) if authentication fails, it is a
 *  replay, or it is malformed. One thread at a time. REALTIME-SAFE. */
int ab_srtp_unprotect(ab_srtp *srtp, void *packet, size_t bytes, size_t *written);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* AUDIOBRIDGE_H */
