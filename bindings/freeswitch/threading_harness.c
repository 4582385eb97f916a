/* SPDX-License-Identifier: MIT */
/*
 * Drives mod_audiobridge's callbacks the way FreeSWITCH calls them, without a FreeSWITCH: the
 * module is compiled into this program against the real FreeSWITCH headers, and the 35
 * switch_* functions it uses are stand-ins here (a channel, a media bug with its read/write
 * lock, event hooks, an L16 codec record). Built and run by test-harness.sh.
 *
 *  1. The API on a bridged leg: READ_REPLACE on one thread, WRITE_REPLACE on another (the other
 *     leg's bridge thread) and DTMF on the first, all paced at 20 ms for 3 s while the caller
 *     says something. The session's media functions are wrapped (-Wl,--wrap) to count calls
 *     that overlap another: the module must serialise them (0 overlaps). The echo must come
 *     back, and after `stop` the channel must no longer point at the bridge.
 *  2. FreeSWITCH removing the bug itself (hang-up): the same, with the bug closed directly.
 *  3. The dialplan application: each silent frame it writes must carry an L16 codec at the
 *     channel's write rate (never the channel's own codec on linear samples), and the agent's
 *     tone must replace it.
 */
#include <switch.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mod_audiobridge.c"

/* ---- the session's media functions, wrapped to catch overlapping calls ---------------------- */

static atomic_int inside, overlaps, media_calls;

static void enter(void)
{
	if (atomic_fetch_add(&inside, 1) != 0) {
		atomic_fetch_add(&overlaps, 1);
	}
	atomic_fetch_add(&media_calls, 1);
	/* Widen the window a little: an unserialised pair of threads meets here at once. */
	for (volatile int spin = 0; spin < 2000; spin++) {
	}
}

static void leave(void) { atomic_fetch_sub(&inside, 1); }

int __real_ab_session_write_caller(ab_session *, const void *, size_t);
int __real_ab_session_read_caller(ab_session *, void *, size_t, size_t *);
int __real_ab_session_caller_dtmf(ab_session *, char);

int __wrap_ab_session_write_caller(ab_session *s, const void *frame, size_t bytes)
{
	int status;

	enter();
	status = __real_ab_session_write_caller(s, frame, bytes);
	leave();
	return status;
}

int __wrap_ab_session_read_caller(ab_session *s, void *out, size_t capacity, size_t *written)
{
	int status;

	enter();
	status = __real_ab_session_read_caller(s, out, capacity, written);
	leave();
	return status;
}

int __wrap_ab_session_caller_dtmf(ab_session *s, char digit)
{
	int status;

	enter();
	status = __real_ab_session_caller_dtmf(s, digit);
	leave();
	return status;
}

/* ---- stand-ins for the FreeSWITCH core -------------------------------------------------- */

struct fspr_thread_mutex_t {
	pthread_mutex_t mutex;
};

struct switch_channel {
	pthread_mutex_t lock;
	void *private_info;
	atomic_int ready;
};

struct switch_media_bug {
	switch_media_bug_callback_t callback;
	void *user_data;
	switch_frame_t *read_frame;  /* per thread in FreeSWITCH; set by the caller of the callback */
	switch_frame_t *write_frame;
};

struct switch_core_session {
	struct switch_channel channel;
	switch_codec_implementation_t read_impl, write_impl;
	pthread_rwlock_t bug_rwlock; /* as the core's: callbacks under read, removal under write */
	struct switch_media_bug bug;
	int bug_added;
	switch_recv_dtmf_hook_t dtmf_hook;
	/* the application's I/O (test 3) */
	int frames_to_read, frames_read;
	int16_t read_samples[960];
	switch_frame_t read_frame;
	int writes, writes_with_l16;
	int16_t written[8000 * 4];
	size_t written_count;
};

/* The L16 codecs the module initialised, recorded for test 3's check. */
static switch_codec_implementation_t l16_impl;
static int codecs_initialised, codecs_destroyed;

static __thread switch_frame_t *this_thread_frame;

SWITCH_DECLARE(void) switch_channel_event_set_data(switch_channel_t *channel, switch_event_t *event) { (void) channel; (void) event; }

SWITCH_DECLARE(void *) switch_channel_get_private(switch_channel_t *channel, const char *key)
{
	void *value;

	(void) key;
	pthread_mutex_lock(&channel->lock);
	value = channel->private_info;
	pthread_mutex_unlock(&channel->lock);
	return value;
}

SWITCH_DECLARE(switch_status_t) switch_channel_set_private(switch_channel_t *channel, const char *key, const void *private_info)
{
	(void) key;
	pthread_mutex_lock(&channel->lock);
	channel->private_info = (void *) private_info;
	pthread_mutex_unlock(&channel->lock);
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_DECLARE(int) switch_channel_test_ready(switch_channel_t *channel, switch_bool_t check_ready, switch_bool_t check_media)
{
	(void) check_ready;
	(void) check_media;
	return atomic_load(&channel->ready);
}

SWITCH_DECLARE(switch_status_t) switch_console_set_complete(const char *string) { (void) string; return SWITCH_STATUS_SUCCESS; }

SWITCH_DECLARE(switch_status_t) switch_core_codec_init_with_bitrate(switch_codec_t *codec, const char *codec_name, const char *fmtp,
	const char *modname, uint32_t rate, int ms, int channels, uint32_t bitrate, uint32_t flags,
	const switch_codec_settings_t *codec_settings, switch_memory_pool_t *pool)
{
	(void) fmtp; (void) modname; (void) bitrate; (void) flags; (void) codec_settings; (void) pool;
	if (strcmp(codec_name, "L16")) {
		return SWITCH_STATUS_FALSE;
	}
	memset(&l16_impl, 0, sizeof l16_impl);
	l16_impl.iananame = "L16";
	l16_impl.actual_samples_per_second = rate;
	l16_impl.microseconds_per_packet = ms * 1000;
	l16_impl.number_of_channels = (uint8_t) channels;
	memset(codec, 0, sizeof *codec);
	codec->implementation = &l16_impl;
	codecs_initialised++;
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_DECLARE(switch_status_t) switch_core_codec_destroy(switch_codec_t *codec)
{
	codec->implementation = NULL;
	codecs_destroyed++;
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_DECLARE(switch_status_t) switch_core_event_hook_add_recv_dtmf(switch_core_session_t *session, switch_recv_dtmf_hook_t hook)
{
	if (session->dtmf_hook == hook) {
		return SWITCH_STATUS_FALSE; /* as the core: an existing hook is not added twice */
	}
	session->dtmf_hook = hook;
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_DECLARE(switch_status_t) switch_core_media_bug_add(switch_core_session_t *session, const char *function, const char *target,
	switch_media_bug_callback_t callback, void *user_data, time_t stop_time, switch_media_bug_flag_t flags, switch_media_bug_t **new_bug)
{
	(void) function; (void) target; (void) stop_time; (void) flags;
	session->bug.callback = callback;
	session->bug.user_data = user_data;
	session->bug_added = 1;
	*new_bug = &session->bug;
	callback(&session->bug, user_data, SWITCH_ABC_TYPE_INIT);
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_DECLARE(switch_frame_t *) switch_core_media_bug_get_read_replace_frame(switch_media_bug_t *bug) { (void) bug; return this_thread_frame; }
SWITCH_DECLARE(switch_frame_t *) switch_core_media_bug_get_write_replace_frame(switch_media_bug_t *bug) { (void) bug; return this_thread_frame; }
SWITCH_DECLARE(void) switch_core_media_bug_set_write_replace_frame(switch_media_bug_t *bug, switch_frame_t *frame) { (void) bug; (void) frame; }

/* Runs one callback as the core does: under the bug lock's read side, if the bug is still there. */
static void run_bug(switch_core_session_t *session, switch_abc_type_t type, switch_frame_t *frame)
{
	pthread_rwlock_rdlock(&session->bug_rwlock);
	if (session->bug_added) {
		this_thread_frame = frame;
		session->bug.callback(&session->bug, session->bug.user_data, type);
	}
	pthread_rwlock_unlock(&session->bug_rwlock);
}

SWITCH_DECLARE(switch_status_t) switch_core_media_bug_remove(switch_core_session_t *session, switch_media_bug_t **bug)
{
	pthread_rwlock_wrlock(&session->bug_rwlock);
	if (session->bug_added && *bug == &session->bug) {
		session->bug_added = 0;
		session->bug.callback(&session->bug, session->bug.user_data, SWITCH_ABC_TYPE_CLOSE);
	}
	pthread_rwlock_unlock(&session->bug_rwlock);
	*bug = NULL;
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_DECLARE(void *) switch_core_perform_session_alloc(switch_core_session_t *session, switch_size_t memory, const char *file, const char *func, int line)
{
	(void) session; (void) file; (void) func; (void) line;
	return calloc(1, memory); /* freed with the process, as the session pool would be with the call */
}

SWITCH_DECLARE(switch_channel_t *) switch_core_session_get_channel(switch_core_session_t *session) { return &session->channel; }
SWITCH_DECLARE(switch_memory_pool_t *) switch_core_session_get_pool(switch_core_session_t *session) { (void) session; return NULL; }

SWITCH_DECLARE(switch_status_t) switch_core_session_get_read_impl(switch_core_session_t *session, switch_codec_implementation_t *impp)
{
	*impp = session->read_impl;
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_DECLARE(switch_status_t) switch_core_session_get_write_impl(switch_core_session_t *session, switch_codec_implementation_t *impp)
{
	*impp = session->write_impl;
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_DECLARE(switch_core_session_t *) switch_core_session_perform_locate(const char *uuid_str, const char *file, const char *func, int line)
{
	(void) uuid_str; (void) file; (void) func; (void) line;
	return NULL;
}

SWITCH_DECLARE(void) switch_core_session_rwunlock(switch_core_session_t *session) { (void) session; }

static void pace(int frame_index, const struct timespec *start)
{
	struct timespec due = *start;
	long long ns = (long long) due.tv_nsec + (long long) (frame_index + 1) * 20000000LL;

	due.tv_sec += ns / 1000000000LL;
	due.tv_nsec = ns % 1000000000LL;
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL);
}

static struct timespec app_start;

/* The application's read: a paced 20 ms caller frame through READ_REPLACE, as the core does. */
SWITCH_DECLARE(switch_status_t) switch_core_session_read_frame(switch_core_session_t *session, switch_frame_t **frame, switch_io_flag_t flags, int stream_id)
{
	(void) flags; (void) stream_id;
	if (session->frames_read == session->frames_to_read) {
		atomic_store(&session->channel.ready, 0);
		return SWITCH_STATUS_FALSE;
	}
	pace(session->frames_read++, &app_start);
	memset(session->read_samples, 0, sizeof session->read_samples);
	session->read_frame.data = session->read_samples;
	session->read_frame.samples = session->read_impl.samples_per_packet;
	session->read_frame.datalen = session->read_frame.samples * 2;
	run_bug(session, SWITCH_ABC_TYPE_READ_REPLACE, &session->read_frame);
	*frame = &session->read_frame;
	return SWITCH_STATUS_SUCCESS;
}

/* The application's write: the core decodes a frame by its own codec before the bug sees it,
 * so it must be L16 at the channel's write rate; then WRITE_REPLACE fills it. */
SWITCH_DECLARE(switch_status_t) switch_core_session_write_frame(switch_core_session_t *session, switch_frame_t *frame, switch_io_flag_t flags, int stream_id)
{
	(void) flags; (void) stream_id;
	session->writes++;
	if (frame->codec && frame->codec->implementation && !strcmp(frame->codec->implementation->iananame, "L16")
		&& frame->codec->implementation->actual_samples_per_second == session->write_impl.actual_samples_per_second
		&& frame->datalen == frame->samples * 2) {
		session->writes_with_l16++;
	}
	run_bug(session, SWITCH_ABC_TYPE_WRITE_REPLACE, frame);
	if (session->written_count + frame->samples <= sizeof session->written / 2) {
		memcpy(session->written + session->written_count, frame->data, frame->samples * 2);
		session->written_count += frame->samples;
	}
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_DECLARE(switch_status_t) switch_event_add_header(switch_event_t *event, switch_stack_t stack, const char *header_name, const char *fmt, ...)
{
	(void) event; (void) stack; (void) header_name; (void) fmt;
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_DECLARE(switch_status_t) switch_event_create_subclass_detailed(const char *file, const char *func, int line, switch_event_t **event,
	switch_event_types_t event_id, const char *subclass_name)
{
	(void) file; (void) func; (void) line; (void) event_id; (void) subclass_name;
	*event = NULL;
	return SWITCH_STATUS_FALSE; /* the module then fires nothing */
}

SWITCH_DECLARE(switch_status_t) switch_event_fire_detailed(const char *file, const char *func, int line, switch_event_t **event, void *user_data)
{
	(void) file; (void) func; (void) line; (void) event; (void) user_data;
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_DECLARE(switch_status_t) switch_event_free_subclass_detailed(const char *owner, const char *subclass_name) { (void) owner; (void) subclass_name; return SWITCH_STATUS_SUCCESS; }
SWITCH_DECLARE(switch_status_t) switch_event_reserve_subclass_detailed(const char *owner, const char *subclass_name) { (void) owner; (void) subclass_name; return SWITCH_STATUS_SUCCESS; }

SWITCH_DECLARE(void *) switch_loadable_module_create_interface(switch_loadable_module_interface_t *mod, switch_module_interface_name_t iname)
{
	(void) mod; (void) iname;
	return calloc(1, 4096);
}

SWITCH_DECLARE(switch_loadable_module_interface_t *) switch_loadable_module_create_module_interface(switch_memory_pool_t *pool, const char *name)
{
	(void) pool; (void) name;
	return calloc(1, sizeof(switch_loadable_module_interface_t));
}

SWITCH_DECLARE(void) switch_log_printf(switch_text_channel_t channel, const char *file, const char *func, int line, const char *userdata,
	switch_log_level_t level, const char *fmt, ...)
{
	va_list args;

	(void) channel; (void) file; (void) func; (void) line; (void) userdata; (void) level;
	va_start(args, fmt);
	fputs("  [log] ", stdout);
	vprintf(fmt, args);
	va_end(args);
}

SWITCH_DECLARE(switch_status_t) switch_mutex_init(switch_mutex_t **lock, unsigned int flags, switch_memory_pool_t *pool)
{
	pthread_mutexattr_t attributes;

	(void) pool;
	*lock = calloc(1, sizeof **lock);
	pthread_mutexattr_init(&attributes);
	if (flags & SWITCH_MUTEX_NESTED) {
		pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE);
	}
	pthread_mutex_init(&(*lock)->mutex, &attributes);
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_DECLARE(switch_status_t) switch_mutex_lock(switch_mutex_t *lock) { pthread_mutex_lock(&lock->mutex); return SWITCH_STATUS_SUCCESS; }
SWITCH_DECLARE(switch_status_t) switch_mutex_unlock(switch_mutex_t *lock) { pthread_mutex_unlock(&lock->mutex); return SWITCH_STATUS_SUCCESS; }

SWITCH_DECLARE(unsigned int) switch_separate_string(char *buf, char delim, char **array, unsigned int arraylen)
{
	unsigned int count = 0;

	while (buf && count < arraylen) {
		array[count++] = strsep(&buf, (char[]) {delim, 0});
	}
	return count;
}

/* ---- the checks ------------------------------------------------------------------------- */

static int failures;

static void check(const char *name, int ok, const char *detail)
{
	printf("  %s %s: %s\n", ok ? "ok  " : "FAIL", name, detail);
	failures += !ok;
}

static switch_core_session_t *new_channel(uint32_t rate)
{
	switch_core_session_t *session = calloc(1, sizeof *session);

	pthread_mutex_init(&session->channel.lock, NULL);
	pthread_rwlock_init(&session->bug_rwlock, NULL);
	atomic_store(&session->channel.ready, 1);
	session->read_impl.actual_samples_per_second = rate;
	session->read_impl.samples_per_packet = rate / 50;
	session->read_impl.microseconds_per_packet = 20000;
	session->read_impl.iananame = "PCMU";
	session->write_impl = session->read_impl;
	return session;
}

/* The caller: 1 s of a voiced, syllable-paced signal after 200 ms of quiet, then quiet. */
static int16_t caller_sample(size_t n)
{
	double t = (double) n / 8000;

	if (n < 1600 || n >= 1600 + 8000) {
		return 0;
	}
	return (int16_t) (9000 * (0.6 + 0.4 * cos(2 * M_PI * 4 * t)) * (sin(2 * M_PI * 300 * t) + 0.5 * sin(2 * M_PI * 600 * t + 0.3)));
}

enum { BRIDGED_FRAMES = 175 };

struct leg {
	switch_core_session_t *session;
	int16_t heard[BRIDGED_FRAMES * FRAME_SAMPLES];
	struct timespec start;
};

static void *read_leg(void *argument)
{
	struct leg *leg = argument;
	int16_t samples[FRAME_SAMPLES];
	switch_frame_t frame = {.data = samples, .samples = FRAME_SAMPLES, .datalen = FRAME_BYTES};

	for (int i = 0; i < BRIDGED_FRAMES; i++) {
		for (int n = 0; n < FRAME_SAMPLES; n++) {
			samples[n] = caller_sample((size_t) i * FRAME_SAMPLES + (size_t) n);
		}
		run_bug(leg->session, SWITCH_ABC_TYPE_READ_REPLACE, &frame);
		if (i % 10 == 5 && leg->session->dtmf_hook) {
			switch_dtmf_t digit = {.digit = '5', .duration = 800};

			leg->session->dtmf_hook(leg->session, &digit, SWITCH_DTMF_RECV);
		}
		pace(i, &leg->start);
	}
	return NULL;
}

static void *write_leg(void *argument)
{
	struct leg *leg = argument;
	int16_t samples[FRAME_SAMPLES];
	switch_frame_t frame = {.data = samples, .samples = FRAME_SAMPLES, .datalen = FRAME_BYTES};

	for (int i = 0; i < BRIDGED_FRAMES; i++) {
		memset(samples, 0, sizeof samples);
		run_bug(leg->session, SWITCH_ABC_TYPE_WRITE_REPLACE, &frame);
		memcpy(leg->heard + i * FRAME_SAMPLES, samples, sizeof samples);
		pace(i, &leg->start);
	}
	return NULL;
}

/* The largest normalised correlation of the caller's utterance against the heard signal. */
static double echo_correlation(const int16_t *heard, size_t count)
{
	enum { FROM = 1600 + 800, LENGTH = 6400 }; /* the utterance, less its first 100 ms */
	double reference_energy = 0, best = 0;

	for (size_t n = 0; n < LENGTH; n++) {
		reference_energy += (double) caller_sample(FROM + n) * caller_sample(FROM + n);
	}
	for (size_t lag = 0; lag + LENGTH <= count; lag += 1) {
		double cross = 0, energy = 0;

		for (size_t n = 0; n < LENGTH; n += 1) {
			cross += (double) heard[lag + n] * caller_sample(FROM + n);
			energy += (double) heard[lag + n] * heard[lag + n];
		}
		if (energy > 0.01 * reference_energy && cross / sqrt(energy * reference_energy) > best) {
			best = cross / sqrt(energy * reference_energy);
		}
	}
	return best;
}

static void bridged_leg(int bug_closed_by_core)
{
	struct leg *leg = calloc(1, sizeof *leg);
	pthread_t reader, writer;
	char detail[160];
	bridge_t *bridge;

	leg->session = new_channel(8000);
	atomic_store(&overlaps, 0);
	atomic_store(&media_calls, 0);
	if (bridge_start(leg->session, "echo") != SWITCH_STATUS_SUCCESS) {
		check("bridge_start", 0, "failed");
		return;
	}
	bridge = switch_channel_get_private(&leg->session->channel, BUG_NAME);
	clock_gettime(CLOCK_MONOTONIC, &leg->start);
	pthread_create(&reader, NULL, read_leg, leg);
	pthread_create(&writer, NULL, write_leg, leg);
	pthread_join(reader, NULL);
	pthread_join(writer, NULL);

	snprintf(detail, sizeof detail, "%d of %d session media calls overlapped another", atomic_load(&overlaps), atomic_load(&media_calls));
	check("read, write and DTMF threads never inside the session at once", atomic_load(&overlaps) == 0 && atomic_load(&media_calls) > 2 * BRIDGED_FRAMES, detail);
	snprintf(detail, sizeof detail, "correlation %.3f", echo_correlation(leg->heard, BRIDGED_FRAMES * FRAME_SAMPLES));
	check("the echo comes back through WRITE_REPLACE", echo_correlation(leg->heard, BRIDGED_FRAMES * FRAME_SAMPLES) > 0.9, detail);

	if (bug_closed_by_core) {
		switch_media_bug_t *bug = &leg->session->bug;

		switch_core_media_bug_remove(leg->session, &bug); /* as the core does at hang-up */
	} else {
		bridge_stop(leg->session);
	}
	check("the channel no longer points at the bridge", switch_channel_get_private(&leg->session->channel, BUG_NAME) == NULL,
		bug_closed_by_core ? "after the core closed the bug" : "after stop");
	check("the session is gone with the bug", bridge->session == NULL, "bridge->session == NULL");
	{
		switch_dtmf_t digit = {.digit = '7', .duration = 800};
		int before = atomic_load(&media_calls);

		leg->session->dtmf_hook(leg->session, &digit, SWITCH_DTMF_RECV);
		check("a key after the end reaches nothing", atomic_load(&media_calls) == before, "the hook stays, and does nothing");
	}
	check("a second start on the channel works", bridge_start(leg->session, "echo") == SWITCH_STATUS_SUCCESS, "started again");
	bridge_stop(leg->session);
}

static void *run_app(void *argument)
{
	audiobridge_app(argument, "tone:440:500");
	return NULL;
}

static void application(uint32_t rate)
{
	switch_core_session_t *session = new_channel(rate);
	pthread_t thread;
	char detail[160];
	int tone_samples = 0;

	session->frames_to_read = 60;
	codecs_initialised = codecs_destroyed = 0;
	clock_gettime(CLOCK_MONOTONIC, &app_start);
	pthread_create(&thread, NULL, run_app, session);
	pthread_join(thread, NULL);
	for (size_t n = 0; n < session->written_count; n++) {
		tone_samples += abs(session->written[n]) > 2000;
	}
	snprintf(detail, sizeof detail, "%d of %d frames at %u Hz", session->writes_with_l16, session->writes, rate);
	check("every silent frame carries L16 at the write rate", session->writes > 50 && session->writes_with_l16 == session->writes, detail);
	snprintf(detail, sizeof detail, "%d initialised, %d destroyed", codecs_initialised, codecs_destroyed);
	check("the L16 codec is released", codecs_initialised == 1 && codecs_destroyed == 1, detail);
	snprintf(detail, sizeof detail, "%d loud samples (the 500 ms tone)", tone_samples);
	check("the agent's tone replaces the silence", tone_samples > (int) rate * 4 / 10, detail);
	check("the application leaves no bridge behind", switch_channel_get_private(&session->channel, BUG_NAME) == NULL, "private cleared");
}

int main(void)
{
	switch_loadable_module_interface_t *module = NULL;

	if (mod_audiobridge_load(&module, NULL) != SWITCH_STATUS_SUCCESS) {
		puts("FAIL module load");
		return 1;
	}
	puts("API on a bridged leg (read and write callbacks on two threads), then stop:");
	bridged_leg(0);
	puts("the same, the core closing the bug (hang-up):");
	bridged_leg(1);
	puts("the dialplan application on an 8 kHz channel:");
	application(8000);
	puts("the dialplan application on a 16 kHz channel:");
	application(16000);
	mod_audiobridge_shutdown();
	puts(failures ? "FAILED" : "all checks passed");
	return failures ? 1 : 0;
}
