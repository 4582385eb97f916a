/* SPDX-License-Identifier: MIT */
/*
 * app_audiobridge: bridges an Asterisk channel to an AI voice agent in-process, through
 * libaudiobridge's C ABI. No socket: the channel's own thread reads each caller frame, hands
 * it to the session, and writes back the frame the session says the caller hears.
 *
 *   exten => 100,1,Answer()
 *    same => n,AudioBridge(echo)              ; or tone, tone:440:2000, wav:/path/file.wav
 *
 * It is a dialplan application (like AudioSocket()) rather than a framehook: a framehook only
 * sees the write direction when something else writes to the channel, and the agent's audio
 * must flow even when nothing else does. The channel thread is the session's media thread:
 * every call it makes per frame is realtime-safe (no allocation, no lock). The agent runs on
 * the engine's own I/O thread, created once when the module loads.
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
#include "asterisk/module.h"
#include "asterisk/pbx.h"

#include <audiobridge.h>

/*** DOCUMENTATION
	<application name="AudioBridge" language="en_US">
		<synopsis>
			Connect the channel to an AI voice agent, in-process.
		</synopsis>
		<syntax>
			<parameter name="agent" required="false">
				<para>The agent: echo (default), tone[:HZ[:MS]] or wav:PATH.</para>
			</parameter>
		</syntax>
		<description>
			<para>Runs until the caller hangs up. The caller can interrupt the agent by talking.</para>
		</description>
	</application>
 ***/

static const char app[] = "AudioBridge";

/*! The engine: one I/O thread for every call's agent. */
static ab_engine *engine;

enum { FRAME_SAMPLES = 160, FRAME_BYTES = 320 };

/*! Logs the session's events on the channel thread (not per frame: only when something happens). */
static void log_events(ab_session *session, const char *channel_name)
{
	ab_event event = {.struct_size = sizeof(ab_event)};

	while (ab_session_poll_event(session, &event) == 1) {
		switch (event.kind) {
		case AB_EVENT_BARGE_IN:
			ast_verb(3, "%s: caller barged in on item %llu after %u ms\n", channel_name,
				(unsigned long long) event.item, event.heard_ms);
			break;
		case AB_EVENT_TRANSPORT_ERROR:
		case AB_EVENT_UPLINK_OVERFLOW:
		case AB_EVENT_EVENTS_DROPPED:
			ast_log(LOG_WARNING, "%s: audiobridge event %u (code %d, count %llu)\n", channel_name,
				event.kind, event.code, (unsigned long long) event.count);
			break;
		default:
			break;
		}
	}
}

static int bridge(struct ast_channel *chan, ab_session *session)
{
	const char *channel_name = ast_channel_name(chan);
	int16_t heard[FRAME_SAMPLES];

	for (;;) {
		struct ast_frame *f;
		int res = ast_waitfor(chan, 2000);

		if (res < 0) {
			return 0; /* hung up */
		}
		if (res == 0) {
			continue; /* no frame for 2 s (a silent leg): keep waiting */
		}
		f = ast_read(chan);
		if (!f) {
			return 0; /* hung up */
		}
		if (f->frametype == AST_FRAME_VOICE && f->datalen == FRAME_BYTES) {
			size_t written = 0;
			struct ast_frame out = {
				.frametype = AST_FRAME_VOICE,
				.datalen = FRAME_BYTES,
				.samples = FRAME_SAMPLES,
				.src = app,
			};
			out.subclass.format = ast_format_slin;
			out.data.ptr = heard;

			if (ab_session_write_caller(session, f->data.ptr, FRAME_BYTES) == AB_OK
				&& ab_session_read_caller(session, heard, sizeof(heard), &written) == AB_OK
				&& ast_write(chan, &out)) {
				ast_frfree(f);
				return -1;
			}
		} else if (f->frametype == AST_FRAME_VOICE) {
			ast_debug(1, "%s: skipping a %d-byte voice frame (want %d)\n", channel_name, f->datalen, FRAME_BYTES);
		} else if (f->frametype == AST_FRAME_DTMF_END) {
			ab_session_caller_dtmf(session, (char) f->subclass.integer);
		}
		ast_frfree(f);
		log_events(session, channel_name);
	}
}

static int audiobridge_exec(struct ast_channel *chan, const char *data)
{
	const char *agent = ast_strlen_zero(data) ? "echo" : data;
	struct ast_format *read_format, *write_format;
	ab_session_config config;
	ab_session *session = NULL;
	int status, res = -1;

	ab_session_config_init(&config);
	config.phone_codec = AB_CODEC_SLIN16; /* 8 kHz signed linear, native endian */
	config.frame_ms = 20;
	config.agent_rate_hz = 8000; /* the built-in agents need no resampling */
	if ((status = ab_session_create(engine, &config, &session)) != AB_OK) {
		ast_log(LOG_ERROR, "AudioBridge: cannot create a session: %s\n", ab_strerror(status));
		return -1;
	}
	if ((status = ab_session_attach_agent(session, agent)) != AB_OK) {
		ast_log(LOG_ERROR, "AudioBridge: agent '%s': %s\n", agent, ab_strerror(status));
		ab_session_destroy(session);
		return -1;
	}

	write_format = ao2_bump(ast_channel_writeformat(chan));
	read_format = ao2_bump(ast_channel_readformat(chan));
	if (ast_set_write_format(chan, ast_format_slin) || ast_set_read_format(chan, ast_format_slin)) {
		ast_log(LOG_ERROR, "AudioBridge: cannot set signed linear on '%s'\n", ast_channel_name(chan));
	} else {
		res = bridge(chan, session);
	}
	ast_set_write_format(chan, write_format);
	ast_set_read_format(chan, read_format);
	ao2_ref(write_format, -1);
	ao2_ref(read_format, -1);
	ab_session_destroy(session);
	return res;
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
