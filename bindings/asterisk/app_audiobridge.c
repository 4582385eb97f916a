/* SPDX-License-Identifier: MIT */
/*
 * app_audiobridge: bridges an Asterisk channel to an AI voice agent in-process, through
 * libaudiobridge's C ABI. No socket: the channel's own thread is the session's media thread.
 *
 *   exten => 100,1,Answer()
 *    same => n,AudioBridge(echo)              ; or tone, tone:440:2000, wav:/path/file.wav
 *
 * Two clocks drive one thread. Caller audio is handed to the session as it arrives, re-framed
 * into 20 ms whatever size the channel delivers. The agent's audio goes out on a private
 * ast_timer at 50 Hz, so the caller hears the agent whether or not the caller's side sends
 * anything (silence suppression, a DTMF digit being received, a caller who simply stops).
 * While the caller sends nothing, the session is fed silence on the same timer, so its
 * speech detector sees the turn end.
 *
 * Why an ast_timer in the application's own wait loop rather than a generator: a generator's
 * callback also runs on the thread that reads the channel, but Asterisk deactivates it whenever
 * something else writes voice to the channel and it shares the channel's single timing source
 * with ast_settimeout users; waiting on our own timer's fd beside the channel keeps both
 * directions on this one thread (the session's one-media-thread rule) with no hand-over.
 *
 * It is a dialplan application (like AudioSocket()) rather than a framehook: a framehook only
 * sees the write direction when something else writes to the channel. Every per-frame call into
 * the library is realtime-safe (no allocation, no lock). The agent runs on the engine's own I/O
 * thread, created once when the module loads.
 */

/*** MODULEINFO
	<depend>audiobridge</depend>
	<support_level>extended</support_level>
 ***/

#include "asterisk.h"

#include "asterisk/app.h"
#include "asterisk/channel.h"
#include "asterisk/format_cache.h"
#include "asterisk/frame.h"
#include "asterisk/manager.h"
#include "asterisk/module.h"
#include "asterisk/pbx.h"
#include "asterisk/time.h"
#include "asterisk/timing.h"

#include <audiobridge.h>

/*** DOCUMENTATION
	<application name="AudioBridge" language="en_US">
		<synopsis>
			Connect the channel to an AI voice agent, in-process.
		</synopsis>
		<syntax>
			<parameter name="agent" required="false">
				<para>The agent: <literal>echo</literal> (default), <literal>tone[:HZ[:MS]]</literal>
				or <literal>wav:PATH</literal>. After <literal>tone</literal> or <literal>wav</literal>,
				<literal>?then=hangup</literal> or <literal>?then=transfer:N</literal> makes the agent
				ask for a hang-up or a transfer once the caller has heard the whole prompt.</para>
			</parameter>
			<parameter name="targets" required="false">
				<para>The extensions the agent may transfer the call to, separated by
				<literal>&amp;</literal>. A transfer request N continues the dialplan at the Nth
				target, priority 1; a request outside the list is refused and logged, and the call
				goes on.</para>
			</parameter>
			<parameter name="context" required="false">
				<para>The context of the targets (default: the channel's current context).</para>
			</parameter>
		</syntax>
		<description>
			<para>Bridges the channel to the agent until the caller hangs up, the agent asks for a
			hang-up (the channel is hung up once its last words were heard) or a transfer (the
			dialplan continues at the target). The caller can interrupt the agent by talking. The
			channel's audio is read and written as 8 kHz signed linear (Asterisk translates from
			the channel's own format and rate); frames of any length are accepted.</para>
			<para>The application raises these manager events (class <literal>call</literal>),
			each with <literal>Channel</literal> and <literal>Uniqueid</literal>:</para>
			<para><literal>AudioBridgeBargeIn</literal>: the caller talked over the agent.
			<literal>Outcome</literal> is <literal>paused</literal>, <literal>committed</literal>
			(the agent's item was cut; <literal>HeardMs</literal> is how much of it the caller
			heard) or <literal>resumed</literal>.</para>
			<para><literal>AudioBridgeDTMF</literal>: the caller pressed <literal>Digit</literal>.</para>
			<para><literal>AudioBridgeTransferRefused</literal>: the agent asked for a target that
			is not in the list (<literal>Request</literal>).</para>
			<para><literal>AudioBridgeEnd</literal>: the call left the application, with its
			<literal>Status</literal> and counters.</para>
			<para>It sets these channel variables before it returns:</para>
			<variablelist>
				<variable name="AUDIOBRIDGESTATUS">
					<value name="CALLER_HANGUP">The caller hung up.</value>
					<value name="AGENT_HANGUP">The agent ended the call.</value>
					<value name="TRANSFER">The agent transferred the call.</value>
					<value name="ERROR">The session or the channel failed.</value>
				</variable>
				<variable name="AUDIOBRIDGE_TRANSFER_TARGET">
					<para>The extension a transfer went to.</para>
				</variable>
				<variable name="AUDIOBRIDGE_FRAMES_IN">
					<para>20 ms caller frames the agent's session took.</para>
				</variable>
				<variable name="AUDIOBRIDGE_FRAMES_OUT">
					<para>20 ms frames written to the channel.</para>
				</variable>
				<variable name="AUDIOBRIDGE_BARGE_INS">
					<para>Items the caller cut.</para>
				</variable>
				<variable name="AUDIOBRIDGE_SILENCE_FRAMES">
					<para>20 ms of silence the application supplied while the caller sent nothing.</para>
				</variable>
			</variablelist>
		</description>
	</application>
 ***/

static const char app[] = "AudioBridge";

/*! The engine: one I/O thread for every call's agent. */
static ab_engine *engine;

enum {
	FRAME_SAMPLES = 160, /* 20 ms at 8 kHz */
	FRAME_BYTES = 320,
	/* Ticks without caller audio before the session is fed silence: a caller's frames arrive
	 * with jitter against our timer, so one missing tick is not yet a silent caller. */
	CALLER_SILENT_TICKS = 3,
	/* Frames written at most in one wake-up after the thread was held up; further behind, the
	 * schedule restarts from now (the caller hears a gap, not a burst). */
	MAX_CATCH_UP = 5,
	MAX_TARGETS = 16,
};

enum call_status { RUNNING, CALLER_HANGUP, AGENT_HANGUP, TRANSFER, ERROR };

static const char *const status_names[] = {
	[RUNNING] = "RUNNING", [CALLER_HANGUP] = "CALLER_HANGUP", [AGENT_HANGUP] = "AGENT_HANGUP",
	[TRANSFER] = "TRANSFER", [ERROR] = "ERROR",
};

struct call {
	struct ast_channel *chan;
	ab_session *session;
	/* caller audio not yet a whole frame */
	int16_t caller[FRAME_SAMPLES];
	size_t caller_fill;
	unsigned int ticks_without_caller;
	struct timeval next_tick;
	/* transfer targets (pointers into the application's argument copy) */
	char *targets[MAX_TARGETS];
	unsigned int target_count;
	const char *context;
	const char *transfer_target;
	enum call_status status;
	unsigned long long frames_out, silence_frames;
};

static void manager_barge_in(struct call *call, const char *outcome, const ab_event *event)
{
	ast_manager_event(call->chan, EVENT_FLAG_CALL, "AudioBridgeBargeIn",
		"Channel: %s\r\nUniqueid: %s\r\nOutcome: %s\r\nItem: %llu\r\nHeardMs: %u\r\n",
		ast_channel_name(call->chan), ast_channel_uniqueid(call->chan), outcome,
		(unsigned long long) event->item, event->heard_ms);
}

/*! A transfer request N: continue at the Nth target, if there is one. */
static void transfer(struct call *call, uint64_t request)
{
	if (request < 1 || request > call->target_count) {
		ast_log(LOG_WARNING, "%s: the agent asked for transfer target %llu; %u allowed\n",
			ast_channel_name(call->chan), (unsigned long long) request, call->target_count);
		ast_manager_event(call->chan, EVENT_FLAG_CALL, "AudioBridgeTransferRefused",
			"Channel: %s\r\nUniqueid: %s\r\nRequest: %llu\r\n",
			ast_channel_name(call->chan), ast_channel_uniqueid(call->chan), (unsigned long long) request);
		return;
	}
	call->transfer_target = call->targets[request - 1];
	ast_verb(3, "%s: the agent transfers the call to %s,%s,1\n", ast_channel_name(call->chan),
		call->context, call->transfer_target);
	/* Priority 1 of the target once this application returns (ast_explicit_goto allows for
	 * the PBX's step to the next priority). */
	ast_explicit_goto(call->chan, call->context, call->transfer_target, 1);
	call->status = TRANSFER;
}

/*! The session's events for the host: logs, manager events, and the agent's call control. */
static void handle_events(struct call *call)
{
	const char *name = ast_channel_name(call->chan);
	ab_event event = {.struct_size = sizeof(ab_event)};

	while (call->status == RUNNING && ab_session_poll_event(call->session, &event) == 1) {
		switch (event.kind) {
		case AB_EVENT_BARGE_IN_PENDING:
			manager_barge_in(call, "paused", &event);
			break;
		case AB_EVENT_BARGE_IN:
			ast_verb(3, "%s: caller barged in on item %llu after %u ms\n", name,
				(unsigned long long) event.item, event.heard_ms);
			manager_barge_in(call, "committed", &event);
			break;
		case AB_EVENT_BARGE_IN_RESUMED:
			manager_barge_in(call, "resumed", &event);
			break;
		case AB_EVENT_DTMF:
			ast_manager_event(call->chan, EVENT_FLAG_CALL, "AudioBridgeDTMF",
				"Channel: %s\r\nUniqueid: %s\r\nDigit: %c\r\n", name,
				ast_channel_uniqueid(call->chan), event.digit);
			break;
		case AB_EVENT_HANGUP_REQUESTED:
			ast_verb(3, "%s: the agent ends the call\n", name);
			call->status = AGENT_HANGUP;
			break;
		case AB_EVENT_TRANSFER_REQUESTED:
			transfer(call, event.item);
			break;
		case AB_EVENT_TRANSPORT_ERROR:
		case AB_EVENT_UPLINK_OVERFLOW:
		case AB_EVENT_EVENTS_DROPPED:
			ast_log(LOG_WARNING, "%s: audiobridge event %u (code %d, count %llu)\n", name,
				event.kind, event.code, (unsigned long long) event.count);
			break;
		default:
			break;
		}
	}
}

/*! Caller audio of any length: whole 20 ms frames go to the session as they fill. */
static int take_caller_audio(struct call *call, const int16_t *samples, size_t count)
{
	call->ticks_without_caller = 0;
	while (count > 0) {
		size_t take = MIN(count, (size_t) FRAME_SAMPLES - call->caller_fill);

		memcpy(call->caller + call->caller_fill, samples, take * sizeof(int16_t));
		call->caller_fill += take;
		samples += take;
		count -= take;
		if (call->caller_fill == FRAME_SAMPLES) {
			call->caller_fill = 0;
			if (ab_session_write_caller(call->session, call->caller, FRAME_BYTES) != AB_OK) {
				return -1;
			}
		}
	}
	return 0;
}

/*! One 20 ms tick of our timer: silence for the session if the caller has gone quiet, and the
 *  agent's next frame to the channel. */
static int tick(struct call *call)
{
	int16_t heard[FRAME_SAMPLES];
	size_t written = 0;
	struct ast_frame out = {
		.frametype = AST_FRAME_VOICE,
		.datalen = FRAME_BYTES,
		.samples = FRAME_SAMPLES,
		.src = app,
	};

	if (++call->ticks_without_caller >= CALLER_SILENT_TICKS) {
		/* Complete a partial frame with silence, or send a silent one. */
		memset(call->caller + call->caller_fill, 0, (FRAME_SAMPLES - call->caller_fill) * sizeof(int16_t));
		call->caller_fill = 0;
		call->silence_frames++;
		if (ab_session_write_caller(call->session, call->caller, FRAME_BYTES) != AB_OK) {
			return -1;
		}
	}
	if (ab_session_read_caller(call->session, heard, sizeof(heard), &written) != AB_OK) {
		return -1;
	}
	out.subclass.format = ast_format_slin;
	out.data.ptr = heard;
	if (ast_write(call->chan, &out)) {
		return -1;
	}
	call->frames_out++;
	return 0;
}

/*! Called when our timer fires: writes the frames whose time has come (normally one; more
 *  after the thread was held up, by the wall clock, since the timer does not count missed
 *  expirations). Returns -1 if the session or the channel failed. */
static int play_due(struct call *call)
{
	struct timeval now = ast_tvnow();
	/* The timer and the schedule both tick every 20 ms from the same start: a tick within
	 * half a frame of its time is on time. */
	struct timeval horizon = ast_tvadd(now, ast_samp2tv(FRAME_SAMPLES / 2, 8000));
	int played = 0;

	while (ast_tvcmp(call->next_tick, horizon) <= 0) {
		if (played == MAX_CATCH_UP) {
			call->next_tick = now; /* held up too long: restart the schedule */
			break;
		}
		if (tick(call)) {
			return -1;
		}
		played++;
		call->next_tick = ast_tvadd(call->next_tick, ast_samp2tv(FRAME_SAMPLES, 8000));
	}
	return 0;
}

/*! One frame read from the channel. Returns -1 when the caller has hung up or the session failed. */
static int read_channel(struct call *call)
{
	struct ast_frame *f = ast_read(call->chan);
	int res = 0;

	if (!f) {
		call->status = CALLER_HANGUP;
		return -1;
	}
	if (f->frametype == AST_FRAME_VOICE
		&& ast_format_cmp(f->subclass.format, ast_format_slin) == AST_FORMAT_CMP_EQUAL) {
		res = take_caller_audio(call, f->data.ptr, (size_t) f->datalen / sizeof(int16_t));
	} else if (f->frametype == AST_FRAME_DTMF_END
		&& ab_session_caller_dtmf(call->session, (char) f->subclass.integer) != AB_OK) {
		/* a digit the library does not know: logged, the call goes on */
		ast_log(LOG_NOTICE, "%s: DTMF '%c' not passed on\n", ast_channel_name(call->chan), f->subclass.integer);
	} else if (f->frametype == AST_FRAME_CONTROL && f->subclass.integer == AST_CONTROL_HANGUP) {
		call->status = CALLER_HANGUP;
		res = -1;
	}
	ast_frfree(f);
	if (res && call->status == RUNNING) {
		call->status = ERROR;
	}
	return res;
}

static void bridge(struct call *call, struct ast_timer *timer)
{
	int timer_fd = ast_timer_fd(timer);

	call->next_tick = ast_tvnow();
	if (play_due(call)) {
		call->status = ERROR;
	}
	while (call->status == RUNNING) {
		int ms = 1000, ready_fd = -1;
		struct ast_channel *ready = ast_waitfor_nandfds(&call->chan, 1, &timer_fd, 1, NULL, &ready_fd, &ms);

		if (ready) {
			read_channel(call);
		} else if (ready_fd == timer_fd) {
			ast_timer_ack(timer, 1);
			if (play_due(call)) {
				call->status = ast_check_hangup(call->chan) ? CALLER_HANGUP : ERROR;
			}
		} else if (ast_check_hangup(call->chan)) {
			call->status = CALLER_HANGUP;
		}
		handle_events(call);
	}
}

static void publish_end(struct call *call)
{
	ab_session_stats stats = {.struct_size = sizeof(stats)};
	char value[32];

	ab_session_get_stats(call->session, &stats);
	pbx_builtin_setvar_helper(call->chan, "AUDIOBRIDGESTATUS", status_names[call->status]);
	pbx_builtin_setvar_helper(call->chan, "AUDIOBRIDGE_TRANSFER_TARGET", call->transfer_target);
	snprintf(value, sizeof(value), "%llu", (unsigned long long) stats.frames_in);
	pbx_builtin_setvar_helper(call->chan, "AUDIOBRIDGE_FRAMES_IN", value);
	snprintf(value, sizeof(value), "%llu", call->frames_out);
	pbx_builtin_setvar_helper(call->chan, "AUDIOBRIDGE_FRAMES_OUT", value);
	snprintf(value, sizeof(value), "%llu", (unsigned long long) stats.barge_ins);
	pbx_builtin_setvar_helper(call->chan, "AUDIOBRIDGE_BARGE_INS", value);
	snprintf(value, sizeof(value), "%llu", call->silence_frames);
	pbx_builtin_setvar_helper(call->chan, "AUDIOBRIDGE_SILENCE_FRAMES", value);
	ast_manager_event(call->chan, EVENT_FLAG_CALL, "AudioBridgeEnd",
		"Channel: %s\r\nUniqueid: %s\r\nStatus: %s\r\nTransferTarget: %s\r\nFramesIn: %llu\r\n"
		"FramesOut: %llu\r\nSilenceFrames: %llu\r\nUnderrunFrames: %llu\r\nBargeIns: %llu\r\n"
		"BargeInPauses: %llu\r\nBargeInResumes: %llu\r\n",
		ast_channel_name(call->chan), ast_channel_uniqueid(call->chan), status_names[call->status],
		S_OR(call->transfer_target, ""), (unsigned long long) stats.frames_in, call->frames_out,
		call->silence_frames, (unsigned long long) stats.underrun_frames,
		(unsigned long long) stats.barge_ins, (unsigned long long) stats.barge_in_pauses,
		(unsigned long long) stats.barge_in_resumes);
}

/*! Splits `targets` ("a&b&c") in place. */
static void parse_targets(struct call *call, char *targets)
{
	char *target;

	while (targets && (target = strsep(&targets, "&"))) {
		target = ast_strip(target);
		if (ast_strlen_zero(target)) {
			continue;
		}
		if (call->target_count == MAX_TARGETS) {
			ast_log(LOG_WARNING, "AudioBridge: more than %d transfer targets; the rest are ignored\n", MAX_TARGETS);
			break;
		}
		call->targets[call->target_count++] = target;
	}
}

static int audiobridge_exec(struct ast_channel *chan, const char *data)
{
	AST_DECLARE_APP_ARGS(args,
		AST_APP_ARG(agent);
		AST_APP_ARG(targets);
		AST_APP_ARG(context);
	);
	struct call call = {.chan = chan, .status = RUNNING};
	struct ast_format *read_format, *write_format;
	struct ast_timer *timer;
	ab_session_config config;
	char *parse = ast_strdupa(S_OR(data, ""));
	const char *agent;
	int status;

	AST_STANDARD_APP_ARGS(args, parse);
	agent = S_OR(args.agent, "echo");
	parse_targets(&call, args.targets);
	call.context = ast_strdupa(S_OR(args.context, ast_channel_context(chan)));

	ab_session_config_init(&config);
	config.phone_codec = AB_CODEC_SLIN16; /* 8 kHz signed linear, native endian */
	config.frame_ms = 20;
	config.agent_rate_hz = 8000; /* the built-in agents need no resampling */
	if ((status = ab_session_create(engine, &config, &call.session)) != AB_OK) {
		ast_log(LOG_ERROR, "AudioBridge: cannot create a session: %s\n", ab_strerror(status));
		pbx_builtin_setvar_helper(chan, "AUDIOBRIDGESTATUS", "ERROR");
		return -1;
	}
	if ((status = ab_session_attach_agent(call.session, agent)) != AB_OK) {
		ast_log(LOG_ERROR, "AudioBridge: agent '%s': %s\n", agent, ab_strerror(status));
		pbx_builtin_setvar_helper(chan, "AUDIOBRIDGESTATUS", "ERROR");
		ab_session_destroy(call.session);
		return -1;
	}
	if (!(timer = ast_timer_open()) || ast_timer_set_rate(timer, 50)) {
		ast_log(LOG_ERROR, "AudioBridge: no timer (is a timing module such as res_timing_timerfd loaded?)\n");
		if (timer) {
			ast_timer_close(timer);
		}
		pbx_builtin_setvar_helper(chan, "AUDIOBRIDGESTATUS", "ERROR");
		ab_session_destroy(call.session);
		return -1;
	}

	write_format = ao2_bump(ast_channel_writeformat(chan));
	read_format = ao2_bump(ast_channel_readformat(chan));
	if (ast_set_write_format(chan, ast_format_slin) || ast_set_read_format(chan, ast_format_slin)) {
		ast_log(LOG_ERROR, "AudioBridge: cannot set signed linear on '%s'\n", ast_channel_name(chan));
		call.status = ERROR;
	} else {
		bridge(&call, timer);
	}
	ast_timer_close(timer);
	ast_set_write_format(chan, write_format);
	ast_set_read_format(chan, read_format);
	ao2_ref(write_format, -1);
	ao2_ref(read_format, -1);
	publish_end(&call);
	ab_session_destroy(call.session);
	/* 0 continues the dialplan (a transfer); -1 hangs the channel up. */
	return call.status == TRANSFER ? 0 : -1;
}

static int unload_module(void)
{
	int res = ast_unregister_application(app);

	ab_engine_destroy(engine);
	engine = NULL;
	return res;
}

static int load_module(void)
{
	int status;

	if (ab_abi_version() != AB_ABI_VERSION) {
		ast_log(LOG_ERROR, "libaudiobridge ABI %d, this module was built for %d\n", ab_abi_version(), AB_ABI_VERSION);
		return AST_MODULE_LOAD_DECLINE;
	}
	if ((status = ab_engine_create(NULL, &engine)) != AB_OK) {
		ast_log(LOG_ERROR, "libaudiobridge: %s\n", ab_strerror(status));
		return AST_MODULE_LOAD_DECLINE;
	}
	if (ast_register_application_xml(app, audiobridge_exec)) {
		ab_engine_destroy(engine);
		engine = NULL;
		return AST_MODULE_LOAD_DECLINE;
	}
	return AST_MODULE_LOAD_SUCCESS;
}

AST_MODULE_INFO_STANDARD_EXTENDED(ASTERISK_GPL_KEY, "AudioBridge: AI voice agents, in-process");
