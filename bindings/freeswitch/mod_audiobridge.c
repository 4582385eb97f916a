/* SPDX-License-Identifier: MIT */
/*
 * mod_audiobridge: connects a FreeSWITCH channel to an AI voice agent in-process, through
 * libaudiobridge's C ABI, with a media bug: READ_REPLACE hands each caller frame to the
 * session, WRITE_REPLACE replaces what the channel would send the caller with what the session
 * says the caller hears (the agent's audio, or silence). No socket, no second process.
 *
 *   <action application="answer"/>
 *   <action application="audiobridge" data="echo"/>      runs until hang-up (or `stop`)
 *
 *   fs_cli> audiobridge <uuid> start [agent]                   on a live call (bridged, parked…)
 *   fs_cli> audiobridge <uuid> stop
 *
 * The agent is echo (default), tone[:HZ[:MS]] or wav:PATH. Every libaudiobridge call made from
 * a media bug callback is realtime-safe (no allocation, no lock). The agents run on the
 * engine's I/O thread, created when the module loads. Channels at 8 kHz are passed straight;
 * 16 kHz and other rates go through libaudiobridge's resampler.
 *
 * Threads: READ_REPLACE runs on the thread that reads the channel and WRITE_REPLACE on the
 * thread that writes it. Under the application both are the channel's own thread; started
 * through the API on a bridged leg, the write side runs on the other leg's bridge thread. The
 * session's media functions must never run at the same time, so the two callbacks (and the
 * DTMF hook) take the bridge's media mutex around them: uncontended under the application,
 * it serialises the two bridge threads under the API.
 *
 * A media bug sees the write direction only when something writes to the channel: the
 * application writes a silent frame per frame it reads, so the agent is always heard; with the
 * API on a bridged call the other leg's audio is what gets replaced.
 *
 * Barge-ins and transport errors fire CUSTOM events (audiobridge::barge_in,
 * audiobridge::error) with the item and heard position, for the controlling application.
 */
#include <switch.h>

#include <audiobridge.h>

SWITCH_MODULE_LOAD_FUNCTION(mod_audiobridge_load);
SWITCH_MODULE_SHUTDOWN_FUNCTION(mod_audiobridge_shutdown);
SWITCH_MODULE_DEFINITION(mod_audiobridge, mod_audiobridge_load, mod_audiobridge_shutdown, NULL);

#define BUG_NAME "audiobridge"
#define EVENT_BARGE_IN "audiobridge::barge_in"
#define EVENT_ERROR "audiobridge::error"
#define API_SYNTAX "<uuid> start [echo|tone[:HZ[:MS]]|wav:PATH] | <uuid> stop"

enum { FRAME_SAMPLES = 160, FRAME_BYTES = 320, MAX_CHANNEL_SAMPLES = 8192 };

/* One engine (one I/O thread) for every call's agent. */
static ab_engine *engine;

typedef struct {
	switch_core_session_t *channel;
	switch_mutex_t *media_lock;     /* held around every session media call (see above) */
	switch_media_bug_t *bug;
	ab_session *session;
	uint32_t rate;                  /* the channel's sample rate */
	ab_resampler *down;             /* channel rate → 8 kHz (NULL at 8 kHz) */
	ab_resampler *up;               /* 8 kHz → channel rate */
	int16_t caller[FRAME_SAMPLES];  /* 8 kHz caller audio gathered into a session frame */
	size_t caller_count;
	int16_t heard[MAX_CHANNEL_SAMPLES]; /* agent audio at the channel rate, not yet written */
	size_t heard_count;
	int16_t scratch[MAX_CHANNEL_SAMPLES];
} bridge_t;

static void fire_event(bridge_t *bridge, const char *subclass, const ab_event *event)
{
	switch_event_t *out = NULL;

	if (switch_event_create_subclass(&out, SWITCH_EVENT_CUSTOM, subclass) != SWITCH_STATUS_SUCCESS) {
		return;
	}
	switch_channel_event_set_data(switch_core_session_get_channel(bridge->channel), out);
	switch_event_add_header(out, SWITCH_STACK_BOTTOM, "AudioBridge-Item", "%llu", (unsigned long long) event->item);
	switch_event_add_header(out, SWITCH_STACK_BOTTOM, "AudioBridge-Heard-Ms", "%u", event->heard_ms);
	switch_event_add_header(out, SWITCH_STACK_BOTTOM, "AudioBridge-Code", "%d", event->code);
	switch_event_fire(&out);
}

/* The session's events, after each caller frame (only something happening costs anything). */
static void handle_events(bridge_t *bridge)
{
	ab_event event = {.struct_size = sizeof(ab_event)};

	while (ab_session_poll_event(bridge->session, &event) == 1) {
		switch (event.kind) {
		case AB_EVENT_BARGE_IN:
			fire_event(bridge, EVENT_BARGE_IN, &event);
			break;
		case AB_EVENT_TRANSPORT_ERROR:
		case AB_EVENT_UPLINK_OVERFLOW:
		case AB_EVENT_EVENTS_DROPPED:
			fire_event(bridge, EVENT_ERROR, &event);
			break;
		default:
			break;
		}
	}
}

/* Caller audio at the channel rate → whole 8 kHz session frames. */
static void feed_caller(bridge_t *bridge, const int16_t *samples, size_t count)
{
	const int16_t *in = samples;
	size_t available = count;

	if (bridge->down) {
		size_t consumed = count, produced = MAX_CHANNEL_SAMPLES;

		ab_resampler_process(bridge->down, samples, &consumed, bridge->scratch, &produced);
		in = bridge->scratch;
		available = produced;
	}
	while (available > 0) {
		size_t take = FRAME_SAMPLES - bridge->caller_count;

		if (take > available) {
			take = available;
		}
		memcpy(bridge->caller + bridge->caller_count, in, take * sizeof(int16_t));
		bridge->caller_count += take;
		in += take;
		available -= take;
		if (bridge->caller_count == FRAME_SAMPLES) {
			ab_session_write_caller(bridge->session, bridge->caller, FRAME_BYTES);
			bridge->caller_count = 0;
			handle_events(bridge);
		}
	}
}

/* Fills `out` with `count` samples of what the caller hears, at the channel rate. */
static void take_heard(bridge_t *bridge, int16_t *out, size_t count)
{
	while (bridge->heard_count < count) {
		int16_t frame[FRAME_SAMPLES];
		size_t written = 0;

		if (ab_session_read_caller(bridge->session, frame, sizeof frame, &written) != AB_OK) {
			written = 0;
		}
		/* A frame is always whole today; pad whatever was not written rather than play stale
		 * samples. */
		if (written < sizeof frame) {
			memset((char *) frame + written, 0, sizeof frame - written);
		}
		if (bridge->up) {
			size_t consumed = FRAME_SAMPLES, produced = MAX_CHANNEL_SAMPLES - bridge->heard_count;

			ab_resampler_process(bridge->up, frame, &consumed, bridge->heard + bridge->heard_count, &produced);
			bridge->heard_count += produced;
		} else {
			memcpy(bridge->heard + bridge->heard_count, frame, sizeof frame);
			bridge->heard_count += FRAME_SAMPLES;
		}
	}
	memcpy(out, bridge->heard, count * sizeof(int16_t));
	memmove(bridge->heard, bridge->heard + count, (bridge->heard_count - count) * sizeof(int16_t));
	bridge->heard_count -= count;
}

static void bridge_free(bridge_t *bridge)
{
	if (bridge->session) {
		ab_session_destroy(bridge->session);
		bridge->session = NULL;
	}
	if (bridge->down) {
		ab_resampler_destroy(bridge->down);
		bridge->down = NULL;
	}
	if (bridge->up) {
		ab_resampler_destroy(bridge->up);
		bridge->up = NULL;
	}
}

static switch_bool_t bug_callback(switch_media_bug_t *bug, void *user_data, switch_abc_type_t type)
{
	bridge_t *bridge = (bridge_t *) user_data;
	switch_frame_t *frame;

	switch (type) {
	case SWITCH_ABC_TYPE_READ_REPLACE:
		frame = switch_core_media_bug_get_read_replace_frame(bug);
		if (frame && frame->samples > 0 && frame->samples <= MAX_CHANNEL_SAMPLES) {
			switch_mutex_lock(bridge->media_lock);
			feed_caller(bridge, (const int16_t *) frame->data, frame->samples);
			switch_mutex_unlock(bridge->media_lock);
		}
		break;
	case SWITCH_ABC_TYPE_WRITE_REPLACE:
		frame = switch_core_media_bug_get_write_replace_frame(bug);
		if (frame && frame->samples > 0 && frame->samples <= MAX_CHANNEL_SAMPLES / 2) {
			switch_mutex_lock(bridge->media_lock);
			take_heard(bridge, (int16_t *) frame->data, frame->samples);
			switch_mutex_unlock(bridge->media_lock);
			frame->datalen = frame->samples * sizeof(int16_t);
			switch_core_media_bug_set_write_replace_frame(bug, frame);
		}
		break;
	case SWITCH_ABC_TYPE_CLOSE:
		/* FreeSWITCH removes the bug itself at hang-up (and on `stop`): the channel must not
		 * keep pointing at it. The callbacks are excluded while the bug closes. */
		switch_channel_set_private(switch_core_session_get_channel(bridge->channel), BUG_NAME, NULL);
		switch_mutex_lock(bridge->media_lock);
		bridge_free(bridge);
		switch_mutex_unlock(bridge->media_lock);
		break;
	default:
		break;
	}
	return SWITCH_TRUE;
}

/* A key the caller pressed goes to the session (to the agent, and to barge-in logic). */
static switch_status_t on_dtmf(switch_core_session_t *session, const switch_dtmf_t *dtmf, switch_dtmf_direction_t direction)
{
	bridge_t *bridge = switch_channel_get_private(switch_core_session_get_channel(session), BUG_NAME);

	if (bridge && direction == SWITCH_DTMF_RECV) {
		switch_mutex_lock(bridge->media_lock);
		if (bridge->session) {
			ab_session_caller_dtmf(bridge->session, dtmf->digit);
		}
		switch_mutex_unlock(bridge->media_lock);
	}
	return SWITCH_STATUS_SUCCESS;
}

/* Attaches a session with `agent` to the channel; SWITCH_STATUS_SUCCESS or why not, logged. */
static switch_status_t bridge_start(switch_core_session_t *session, const char *agent)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	switch_codec_implementation_t implementation = { 0 };
	switch_media_bug_t *bug = NULL;
	ab_session_config config;
	bridge_t *bridge;
	int status;

	if (switch_channel_get_private(channel, BUG_NAME)) {
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_WARNING, "audiobridge is already running on this channel\n");
		return SWITCH_STATUS_FALSE;
	}
	if (switch_core_session_get_read_impl(session, &implementation) != SWITCH_STATUS_SUCCESS) {
		return SWITCH_STATUS_FALSE;
	}
	bridge = switch_core_session_alloc(session, sizeof(*bridge));
	bridge->channel = session;
	switch_mutex_init(&bridge->media_lock, SWITCH_MUTEX_NESTED, switch_core_session_get_pool(session));
	bridge->rate = implementation.actual_samples_per_second;

	ab_session_config_init(&config);
	config.phone_codec = AB_CODEC_SLIN16;
	config.frame_ms = 20;
	config.agent_rate_hz = 8000;
	if ((status = ab_session_create(engine, &config, &bridge->session)) != AB_OK
		|| (status = ab_session_attach_agent(bridge->session, zstr(agent) ? "echo" : agent)) != AB_OK
		|| (bridge->rate != 8000
			&& ((status = ab_resampler_create(bridge->rate, 8000, AB_RESAMPLER_DEFAULT_QUALITY, &bridge->down)) != AB_OK
				|| (status = ab_resampler_create(8000, bridge->rate, AB_RESAMPLER_DEFAULT_QUALITY, &bridge->up)) != AB_OK))) {
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_ERROR, "audiobridge: %s\n", ab_strerror(status));
		bridge_free(bridge);
		return SWITCH_STATUS_FALSE;
	}
	if (switch_core_media_bug_add(session, BUG_NAME, NULL, bug_callback, bridge, 0,
			SMBF_READ_REPLACE | SMBF_WRITE_REPLACE | SMBF_NO_PAUSE, &bug) != SWITCH_STATUS_SUCCESS) {
		bridge_free(bridge);
		return SWITCH_STATUS_FALSE;
	}
	bridge->bug = bug;
	switch_channel_set_private(channel, BUG_NAME, bridge);
	/* The hook list has no lock: the hook is added once per channel and never removed (adding
	 * an existing hook is refused, and it does nothing without a bug). */
	switch_core_event_hook_add_recv_dtmf(session, on_dtmf);
	switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_INFO, "audiobridge: agent %s at %u Hz\n",
		zstr(agent) ? "echo" : agent, bridge->rate);
	return SWITCH_STATUS_SUCCESS;
}

static void bridge_stop(switch_core_session_t *session)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	bridge_t *bridge = switch_channel_get_private(channel, BUG_NAME);

	if (bridge) {
		switch_media_bug_t *bug = bridge->bug;

		switch_core_media_bug_remove(session, &bug); /* its CLOSE clears the private pointer */
	}
}

/* The dialplan application: bridge, then keep the media flowing until hang-up or `stop`. */
SWITCH_STANDARD_APP(audiobridge_app)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	switch_codec_implementation_t implementation = { 0 };
	switch_codec_t l16 = { 0 };
	switch_frame_t silence = { 0 };
	int16_t samples[MAX_CHANNEL_SAMPLES] = { 0 };

	/* The silent frame holds linear samples, so it must carry an L16 codec at the channel's
	 * write rate and ptime: FreeSWITCH decodes a frame by its codec before the media bug sees
	 * it and encodes it for the channel after (the channel's own codec on these zeros would
	 * read them as, say, 40 ms of loud PCMU). */
	if (switch_core_session_get_write_impl(session, &implementation) != SWITCH_STATUS_SUCCESS
		|| implementation.samples_per_packet == 0 || implementation.samples_per_packet > MAX_CHANNEL_SAMPLES
		|| switch_core_codec_init(&l16, "L16", NULL, NULL, implementation.actual_samples_per_second,
			implementation.microseconds_per_packet / 1000, 1, SWITCH_CODEC_FLAG_ENCODE | SWITCH_CODEC_FLAG_DECODE,
			NULL, switch_core_session_get_pool(session)) != SWITCH_STATUS_SUCCESS) {
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_ERROR, "audiobridge: no L16 codec for the channel's write format\n");
		return;
	}
	if (bridge_start(session, data) != SWITCH_STATUS_SUCCESS) {
		switch_core_codec_destroy(&l16);
		return;
	}
	silence.codec = &l16;
	silence.rate = implementation.actual_samples_per_second;
	silence.data = samples;
	silence.samples = implementation.samples_per_packet;
	silence.datalen = implementation.samples_per_packet * sizeof(int16_t);
	silence.buflen = sizeof samples;
	while (switch_channel_ready(channel) && switch_channel_get_private(channel, BUG_NAME)) {
		switch_frame_t *read = NULL;

		if (!SWITCH_READ_ACCEPTABLE(switch_core_session_read_frame(session, &read, SWITCH_IO_FLAG_NONE, 0))) {
			break;
		}
		/* A silent frame for the media bug to replace with what the caller hears. */
		memset(samples, 0, silence.datalen);
		if (switch_core_session_write_frame(session, &silence, SWITCH_IO_FLAG_NONE, 0) != SWITCH_STATUS_SUCCESS) {
			break;
		}
	}
	bridge_stop(session);
	switch_core_codec_destroy(&l16);
}

SWITCH_STANDARD_API(audiobridge_api)
{
	char *argv[3] = { 0 };
	char *copy;
	int argc;
	switch_core_session_t *target;

	(void) session; /* the API acts on the channel named by uuid, not the caller's */
	if (zstr(cmd) || !(copy = strdup(cmd))) {
		stream->write_function(stream, "-USAGE: %s\n", API_SYNTAX);
		return SWITCH_STATUS_SUCCESS;
	}
	argc = switch_separate_string(copy, ' ', argv, 3);
	if (argc < 2 || !(target = switch_core_session_locate(argv[0]))) {
		stream->write_function(stream, argc < 2 ? "-USAGE: %s\n" : "-ERR no such channel\n", API_SYNTAX);
		free(copy);
		return SWITCH_STATUS_SUCCESS;
	}
	if (!strcasecmp(argv[1], "start")) {
		stream->write_function(stream, bridge_start(target, argv[2]) == SWITCH_STATUS_SUCCESS ? "+OK\n" : "-ERR could not start\n");
	} else if (!strcasecmp(argv[1], "stop")) {
		bridge_stop(target);
		stream->write_function(stream, "+OK\n");
	} else {
		stream->write_function(stream, "-USAGE: %s\n", API_SYNTAX);
	}
	switch_core_session_rwunlock(target);
	free(copy);
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_MODULE_LOAD_FUNCTION(mod_audiobridge_load)
{
	switch_application_interface_t *app_interface;
	switch_api_interface_t *api_interface;
	int status;

	if (ab_abi_version() != AB_ABI_VERSION) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "libaudiobridge ABI %d, built for %d\n", ab_abi_version(), AB_ABI_VERSION);
		return SWITCH_STATUS_FALSE;
	}
	if ((status = ab_engine_create(NULL, &engine)) != AB_OK) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "audiobridge engine: %s\n", ab_strerror(status));
		return SWITCH_STATUS_FALSE;
	}
	if (switch_event_reserve_subclass(EVENT_BARGE_IN) != SWITCH_STATUS_SUCCESS
		|| switch_event_reserve_subclass(EVENT_ERROR) != SWITCH_STATUS_SUCCESS) {
		ab_engine_destroy(engine);
		return SWITCH_STATUS_FALSE;
	}
	*module_interface = switch_loadable_module_create_module_interface(pool, modname);
	SWITCH_ADD_APP(app_interface, "audiobridge", "Connect the channel to an AI voice agent",
		"Bridges the channel to an agent in-process until hang-up.", audiobridge_app,
		"[echo|tone[:HZ[:MS]]|wav:PATH]", SAF_NONE);
	SWITCH_ADD_API(api_interface, "audiobridge", "Attach or detach an AI voice agent", audiobridge_api, API_SYNTAX);
	switch_console_set_complete("add audiobridge ::console::list_uuid start");
	switch_console_set_complete("add audiobridge ::console::list_uuid stop");
	switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_INFO, "mod_audiobridge: libaudiobridge %s\n", ab_version_string());
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_MODULE_SHUTDOWN_FUNCTION(mod_audiobridge_shutdown)
{
	switch_event_free_subclass(EVENT_BARGE_IN);
	switch_event_free_subclass(EVENT_ERROR);
	ab_engine_destroy(engine);
	engine = NULL;
	return SWITCH_STATUS_SUCCESS;
}
