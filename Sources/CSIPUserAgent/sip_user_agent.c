// SPDX-License-Identifier: MIT
// sofia-sip's nua behind the few calls of sip_user_agent.h (read it first). The user agent's
// thread runs an su_root; nua delivers its events there (nua itself runs its stack in a clone
// task). Requests from other threads arrive as su_msg messages on that root, so every nua call
// is made on the root's thread, as sofia-sip requires.
#define _GNU_SOURCE
#include "sip_user_agent.h"

#define SU_ROOT_MAGIC_T struct sipua
#define NUA_MAGIC_T struct sipua
#define NUA_HMAGIC_T void
#define SU_MSG_ARG_T struct sipua_command

#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_tag_io.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/url.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sipua_command {
    enum { command_answer, command_decline, command_bye, command_cancel, command_refer, command_authenticate, command_place,
           command_register, command_release, command_shutdown } kind;
    nua_handle_t *handle;
    /// command_decline: the final status.
    int status;
    /// command_place: the call's context, To and From; its handle and result come back through
    /// `placed` (the caller waits on the user agent's `changed`).
    void *call_context;
    char to[SIPUA_TARGET_CAPACITY];
    char from[SIPUA_TARGET_CAPACITY];
    struct sipua_placement *placed;
    /// command_answer: the SDP; command_refer: the target.
    char text[SIPUA_SDP_CAPACITY];
};

/// A sipua_place waiting for the user agent's thread.
struct sipua_placement {
    nua_handle_t *handle;
    int done;
};

struct sipua {
    sipua_settings settings;
    sipua_callbacks callbacks;
    char *url;
    char *user_agent;
    char *tls_url;
    char *tls_directory;
    pthread_t thread;
    /// The registration (sipua_register): its handle, credentials and how often in a row it
    /// was challenged (a second challenge in a row means the credentials are wrong).
    nua_handle_t *registration;
    char register_user[SIPUA_TARGET_CAPACITY];
    char register_password[SIPUA_TARGET_CAPACITY];
    int register_challenges;
    su_root_t *root;
    nua_t *nua;
    /// Guards `accepting` and the root while a request is queued to it from another thread.
    pthread_mutex_t lock;
    int accepting;
    /// The start-up handshake: `started` is 1 when nua is up, -1 when it failed.
    pthread_cond_t changed;
    int started;
    char error[256];
};

static void answer_invite(sipua_t *ua, nua_handle_t *handle, void *call_context, sip_t const *sip) {
    su_home_t home[1] = {SU_HOME_INIT(home)};
    sipua_invite invite = {
        .request_user = "", .from = "", .from_display = "", .to = "", .call_id = "", .sdp = "", .authorization = "", .other_headers = "",
        .is_reinvite = call_context != NULL,
    };
    if (sip->sip_request && sip->sip_request->rq_url->url_user) invite.request_user = sip->sip_request->rq_url->url_user;
    if (sip->sip_from) {
        invite.from = url_as_string(home, sip->sip_from->a_url);
        if (sip->sip_from->a_display) invite.from_display = sip->sip_from->a_display;
    }
    if (sip->sip_to) invite.to = url_as_string(home, sip->sip_to->a_url);
    if (sip->sip_call_id && sip->sip_call_id->i_id) invite.call_id = sip->sip_call_id->i_id;
    if (sip->sip_authorization) {
        char *value = sip_header_as_string(home, (sip_header_t const *)sip->sip_authorization);
        if (value) invite.authorization = value;
    }
    for (sip_unknown_t const *header = sip->sip_unknown; header; header = header->un_next) {
        if (!header->un_name || !header->un_value) continue;
        invite.other_headers = su_sprintf(home, "%s%s: %s\n", invite.other_headers, header->un_name, header->un_value);
    }
    if (sip->sip_payload && sip->sip_payload->pl_len > 0) invite.sdp = su_strndup(home, sip->sip_payload->pl_data, sip->sip_payload->pl_len);

    sipua_answer *answer = calloc(1, sizeof *answer);
    if (!answer) {
        nua_respond(handle, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
        su_home_deinit(home);
        return;
    }
    answer->status = 500;
    ua->callbacks.invite(ua->callbacks.context, (sipua_call_t *)handle, call_context, &invite, answer);
    su_home_deinit(home);

    if ((answer->status == 200 || (answer->status == 180 && !call_context)) && (call_context || answer->call_context)) {
        answer->sdp[SIPUA_SDP_CAPACITY - 1] = 0;
        if (!call_context) {
            nua_handle_bind(handle, answer->call_context);
            // Ringing only when the answer waits: a 180 sent just before the 200 may overtake
            // it through a proxy with several workers, and confuse the caller.
            if (answer->status == 180) nua_respond(handle, SIP_180_RINGING, TAG_END());
        }
        if (answer->status == 200) {
            nua_respond(handle, SIP_200_OK, SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(answer->sdp), TAG_END());
        }
    } else {
        int status = answer->status >= 400 && answer->status <= 699 ? answer->status : 500;
        answer->header[SIPUA_HEADER_CAPACITY - 1] = 0;
        nua_respond(handle, status, sip_status_phrase(status) ? sip_status_phrase(status) : "Refused",
                    TAG_IF(answer->header[0], SIPTAG_HEADER_STR(answer->header)), TAG_END());
    }
    free(answer);
}

static void on_event(nua_event_t event, int status, char const *phrase, nua_t *nua, sipua_t *ua, nua_handle_t *handle,
                     void *call_context, sip_t const *sip, tagi_t tags[]) {
    switch (event) {
    case nua_i_invite:
        if (sip) answer_invite(ua, handle, call_context, sip);
        break;
    case nua_i_ack:
        if (call_context && sip) {
            su_home_t home[1] = {SU_HOME_INIT(home)};
            char const *sdp = "";
            if (sip->sip_payload && sip->sip_payload->pl_len > 0) sdp = su_strndup(home, sip->sip_payload->pl_data, sip->sip_payload->pl_len);
            ua->callbacks.acknowledged(ua->callbacks.context, call_context, sdp);
            su_home_deinit(home);
        }
        break;
    case nua_i_state: {
        int state = nua_callstate_init;
        tl_gets(tags, NUTAG_CALLSTATE_REF(state), TAG_END());
        if (state != nua_callstate_terminated) break;
        if (call_context) {
            ua->callbacks.ended(ua->callbacks.context, call_context, status, phrase ? phrase : "");
        } else {
            nua_handle_destroy(handle);  // a refused call: nobody else holds it
        }
        break;
    }
    case nua_r_invite:
        // Only calls we placed: their handle was bound to the application's call.
        if (!call_context || status < 180) break;
        if ((status == 401 || status == 407) && sip) {
            sip_www_authenticate_t const *challenge = status == 401 ? sip->sip_www_authenticate : (sip_www_authenticate_t const *)sip->sip_proxy_authenticate;
            char const *realm = challenge ? msg_params_find(challenge->au_params, "realm=") : NULL;
            ua->callbacks.challenged(ua->callbacks.context, call_context, realm ? realm : "\"\"");
            break;
        }
        {
            su_home_t home[1] = {SU_HOME_INIT(home)};
            char const *sdp = "";
            if (status < 300 && sip && sip->sip_payload && sip->sip_payload->pl_len > 0)
                sdp = su_strndup(home, sip->sip_payload->pl_data, sip->sip_payload->pl_len);
            ua->callbacks.outgoing(ua->callbacks.context, call_context, status, sdp);
            su_home_deinit(home);
        }
        break;
    case nua_r_register:
    case nua_r_unregister:
        if (handle != ua->registration || status < 200) break;
        if ((status == 401 || status == 407) && sip && ua->register_challenges++ == 0) {
            sip_www_authenticate_t const *challenge = status == 401 ? sip->sip_www_authenticate : (sip_www_authenticate_t const *)sip->sip_proxy_authenticate;
            char const *realm = challenge ? msg_params_find(challenge->au_params, "realm=") : NULL;
            su_home_t home[1] = {SU_HOME_INIT(home)};
            nua_authenticate(handle, NUTAG_AUTH(su_sprintf(home, "Digest:%s:%s:%s", realm ? realm : "\"\"", ua->register_user, ua->register_password)),
                             TAG_END());
            su_home_deinit(home);
            break;
        }
        ua->register_challenges = 0;
        if (event == nua_r_register) {
            int expires = sip && sip->sip_expires ? (int)sip->sip_expires->ex_delta : 0;
            if (sip && sip->sip_contact && sip->sip_contact->m_expires) expires = atoi(sip->sip_contact->m_expires);
            ua->callbacks.registered(ua->callbacks.context, status, phrase ? phrase : "", expires);
        }
        break;
    case nua_r_refer:
        // 100 Trying aside, the REFER's answer: accepted (progress follows as NOTIFYs) or refused.
        if (call_context && status >= 200) ua->callbacks.transfer(ua->callbacks.context, call_context, status, status >= 300);
        break;
    case nua_i_notify:
        if (call_context && sip && sip->sip_event && strcmp(sip->sip_event->o_type, "refer") == 0) {
            // The body is a sipfrag of the target's answer: "SIP/2.0 180 Ringing".
            int fragment = 0;
            if (sip->sip_payload && sip->sip_payload->pl_data) {
                char line[64] = {0};
                size_t length = sip->sip_payload->pl_len < sizeof line - 1 ? sip->sip_payload->pl_len : sizeof line - 1;
                memcpy(line, sip->sip_payload->pl_data, length);
                if (sscanf(line, "SIP/2.0 %d", &fragment) != 1) fragment = 0;
            }
            int terminated = sip->sip_subscription_state && sip->sip_subscription_state->ss_substate &&
                             strcasecmp(sip->sip_subscription_state->ss_substate, "terminated") == 0;
            if (fragment > 0 || terminated) {
                ua->callbacks.transfer(ua->callbacks.context, call_context, fragment > 0 ? fragment : 500, fragment >= 200 || terminated);
            }
        }
        break;
    case nua_i_options: {
        int answer = ua->callbacks.options(ua->callbacks.context);
        nua_respond(handle, answer, sip_status_phrase(answer), NUTAG_WITH_THIS(nua), TAG_END());
        if (!call_context) nua_handle_destroy(handle);  // out of any dialog: nobody else holds it
        break;
    }
    case nua_r_shutdown:
        if (status >= 200) su_root_break(ua->root);
        break;
    default:
        break;
    }
}

static void on_command(sipua_t *ua, su_msg_r message, struct sipua_command *command) {
    (void)message;
    switch (command->kind) {
    case command_bye:
        nua_bye(command->handle, TAG_END());
        break;
    case command_answer:
        nua_respond(command->handle, SIP_200_OK, SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(command->text), TAG_END());
        break;
    case command_cancel:
        nua_cancel(command->handle, TAG_END());
        break;
    case command_decline:
        nua_respond(command->handle, command->status, sip_status_phrase(command->status), TAG_END());
        break;
    case command_refer:
        nua_refer(command->handle, SIPTAG_REFER_TO_STR(command->text), TAG_END());
        break;
    case command_authenticate:
        nua_authenticate(command->handle, NUTAG_AUTH(command->text), TAG_END());
        break;
    case command_place: {
        nua_handle_t *handle = nua_handle(ua->nua, command->call_context, SIPTAG_TO_STR(command->to),
                                          TAG_IF(command->from[0], SIPTAG_FROM_STR(command->from)), TAG_END());
        if (handle) {
            nua_invite(handle, SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(command->text), TAG_END());
        }
        pthread_mutex_lock(&ua->lock);
        command->placed->handle = handle;
        command->placed->done = 1;
        pthread_cond_broadcast(&ua->changed);
        pthread_mutex_unlock(&ua->lock);
        break;
    }
    case command_register:
        ua->registration = nua_handle(ua->nua, NULL, SIPTAG_TO_STR(command->to), SIPTAG_FROM_STR(command->to), TAG_END());
        if (ua->registration) {
            nua_register(ua->registration, SIPTAG_EXPIRES_STR(command->text), TAG_END());
        } else {
            ua->callbacks.registered(ua->callbacks.context, 400, "bad address of record", 0);
        }
        break;
    case command_release:
        nua_handle_destroy(command->handle);
        break;
    case command_shutdown:
        nua_shutdown(ua->nua);
        break;
    }
}

/// Queues a command to the user agent's thread; -1 once it has stopped.
static int post(sipua_t *ua, int kind, nua_handle_t *handle, const char *text, size_t capacity, int status) {
    if (text && strlen(text) >= capacity) return -1;
    int result = -1;
    pthread_mutex_lock(&ua->lock);
    if (ua->accepting) {
        su_msg_r message = SU_MSG_R_INIT;
        if (su_msg_create(message, su_root_task(ua->root), su_task_null, on_command, sizeof(struct sipua_command)) == 0) {
            struct sipua_command *command = su_msg_data(message);
            command->kind = kind;
            command->handle = handle;
            command->status = status;
            snprintf(command->text, sizeof command->text, "%s", text ? text : "");
            result = su_msg_send(message) == 0 ? 0 : -1;
        }
    }
    pthread_mutex_unlock(&ua->lock);
    return result;
}

sipua_call_t *sipua_place(sipua_t *ua, void *call_context, const char *to, const char *from, const char *sdp) {
    if (!to || strlen(to) >= SIPUA_TARGET_CAPACITY || (from && strlen(from) >= SIPUA_TARGET_CAPACITY) || !sdp || strlen(sdp) >= SIPUA_SDP_CAPACITY)
        return NULL;
    struct sipua_placement placed = {NULL, 0};
    int sent = -1;
    pthread_mutex_lock(&ua->lock);
    if (ua->accepting) {
        su_msg_r message = SU_MSG_R_INIT;
        if (su_msg_create(message, su_root_task(ua->root), su_task_null, on_command, sizeof(struct sipua_command)) == 0) {
            struct sipua_command *command = su_msg_data(message);
            command->kind = command_place;
            command->call_context = call_context;
            snprintf(command->to, sizeof command->to, "%s", to);
            snprintf(command->from, sizeof command->from, "%s", from ? from : "");
            snprintf(command->text, sizeof command->text, "%s", sdp);
            command->placed = &placed;
            sent = su_msg_send(message);
        }
    }
    // The user agent's thread answers under the same lock; a stop in between still runs the
    // queued command (nua is destroyed only after the loop has drained its messages).
    while (sent == 0 && !placed.done && ua->accepting) pthread_cond_wait(&ua->changed, &ua->lock);
    pthread_mutex_unlock(&ua->lock);
    return placed.done ? (sipua_call_t *)placed.handle : NULL;
}

static void report_start(sipua_t *ua, int started) {
    pthread_mutex_lock(&ua->lock);
    ua->started = started;
    ua->accepting = started > 0;
    pthread_cond_broadcast(&ua->changed);
    pthread_mutex_unlock(&ua->lock);
}

static void *run(void *argument) {
    sipua_t *ua = argument;
    if (su_init() != 0) {
        snprintf(ua->error, sizeof ua->error, "sofia-sip could not initialise");
        report_start(ua, -1);
        return NULL;
    }
    ua->root = su_root_create(ua);
    if (ua->root) {
        ua->nua = nua_create(ua->root, on_event, ua,
                             NUTAG_URL(ua->url),
                             TAG_IF(ua->tls_url, NUTAG_SIPS_URL(ua->tls_url)),
                             TAG_IF(ua->tls_directory, TPTAG_CERTIFICATE(ua->tls_directory)),
                             NUTAG_MEDIA_ENABLE(0),
                             NUTAG_USER_AGENT(ua->user_agent),
                             SIPTAG_SERVER_STR(ua->user_agent),
                             NUTAG_SESSION_TIMER(ua->settings.session_expires),
                             // RFC 4028's floor, not sofia-sip's default of 120 s: a trunk asking for 90 is served.
                             NUTAG_MIN_SE(90),
                             NUTAG_ALLOW("INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"),
                             NUTAG_APPL_METHOD("OPTIONS"),
                             TAG_END());
    }
    if (!ua->nua) {
        snprintf(ua->error, sizeof ua->error, "cannot listen for SIP at %s%s%s (address in use or not local%s?)", ua->url, ua->tls_url ? " and " : "",
                 ua->tls_url ? ua->tls_url : "", ua->tls_url ? ", or a certificate or key sofia-sip cannot read" : "");
        report_start(ua, -1);
        if (ua->root) su_root_destroy(ua->root);
        su_deinit();
        return NULL;
    }
    report_start(ua, 1);
    su_root_run(ua->root);
    pthread_mutex_lock(&ua->lock);
    ua->accepting = 0;
    pthread_cond_broadcast(&ua->changed);  // a sipua_place still waiting gives up
    pthread_mutex_unlock(&ua->lock);
    nua_destroy(ua->nua);
    su_root_destroy(ua->root);
    su_deinit();
    return NULL;
}

static void free_user_agent(sipua_t *ua) {
    pthread_mutex_destroy(&ua->lock);
    pthread_cond_destroy(&ua->changed);
    free(ua->url);
    free(ua->user_agent);
    free(ua->tls_url);
    free(ua->tls_directory);
    free(ua);
}

int sipua_start(const sipua_settings *settings, const sipua_callbacks *callbacks, sipua_t **user_agent, char *error, size_t error_capacity) {
    *user_agent = NULL;
    sipua_t *ua = calloc(1, sizeof *ua);
    if (!ua) return -1;
    ua->settings = *settings;
    ua->callbacks = *callbacks;
    ua->url = strdup(settings->url ? settings->url : "sip:127.0.0.1:5060");
    ua->user_agent = strdup(settings->user_agent ? settings->user_agent : "audiobridge");
    ua->tls_url = settings->tls_url ? strdup(settings->tls_url) : NULL;
    ua->tls_directory = settings->tls_directory ? strdup(settings->tls_directory) : NULL;
    pthread_mutex_init(&ua->lock, NULL);
    pthread_cond_init(&ua->changed, NULL);
    // sofia-sip logs to stderr at level 3 by default; the application logs what matters.
    su_log_set_level(NULL, 0);
    if (!ua->url || !ua->user_agent || pthread_create(&ua->thread, NULL, run, ua) != 0) {
        snprintf(error, error_capacity, "cannot start the SIP thread");
        free_user_agent(ua);
        return -1;
    }
    pthread_mutex_lock(&ua->lock);
    while (ua->started == 0) pthread_cond_wait(&ua->changed, &ua->lock);
    int started = ua->started;
    pthread_mutex_unlock(&ua->lock);
    if (started < 0) {
        pthread_join(ua->thread, NULL);
        snprintf(error, error_capacity, "%s", ua->error);
        free_user_agent(ua);
        return -1;
    }
    *user_agent = ua;
    return 0;
}

int sipua_accept(sipua_t *ua, sipua_call_t *call, const char *sdp) {
    return post(ua, command_answer, (nua_handle_t *)call, sdp, SIPUA_SDP_CAPACITY, 0);
}

int sipua_decline(sipua_t *ua, sipua_call_t *call, int status) {
    if (status < 400 || status > 699) return -1;
    return post(ua, command_decline, (nua_handle_t *)call, NULL, 0, status);
}

int sipua_bye(sipua_t *ua, sipua_call_t *call) { return post(ua, command_bye, (nua_handle_t *)call, NULL, 0, 0); }

int sipua_cancel(sipua_t *ua, sipua_call_t *call) { return post(ua, command_cancel, (nua_handle_t *)call, NULL, 0, 0); }

int sipua_refer(sipua_t *ua, sipua_call_t *call, const char *target) {
    return post(ua, command_refer, (nua_handle_t *)call, target, SIPUA_TARGET_CAPACITY, 0);
}

int sipua_authenticate(sipua_t *ua, sipua_call_t *call, const char *credentials) {
    return post(ua, command_authenticate, (nua_handle_t *)call, credentials, SIPUA_TARGET_CAPACITY, 0);
}

int sipua_register(sipua_t *ua, const char *aor, const char *user, const char *password, unsigned expires) {
    if (!aor || !user || !password || strlen(aor) >= SIPUA_TARGET_CAPACITY || strlen(user) >= SIPUA_TARGET_CAPACITY ||
        strlen(password) >= SIPUA_TARGET_CAPACITY)
        return -1;
    int result = -1;
    pthread_mutex_lock(&ua->lock);
    if (ua->accepting) {
        // Written before the command is queued, read only on the user agent's thread after it.
        snprintf(ua->register_user, sizeof ua->register_user, "%s", user);
        snprintf(ua->register_password, sizeof ua->register_password, "%s", password);
        su_msg_r message = SU_MSG_R_INIT;
        if (su_msg_create(message, su_root_task(ua->root), su_task_null, on_command, sizeof(struct sipua_command)) == 0) {
            struct sipua_command *command = su_msg_data(message);
            command->kind = command_register;
            snprintf(command->to, sizeof command->to, "%s", aor);
            snprintf(command->text, sizeof command->text, "%u", expires);
            result = su_msg_send(message) == 0 ? 0 : -1;
        }
    }
    pthread_mutex_unlock(&ua->lock);
    return result;
}

int sipua_release(sipua_t *ua, sipua_call_t *call) { return post(ua, command_release, (nua_handle_t *)call, NULL, 0, 0); }

void sipua_stop(sipua_t *ua) {
    if (!ua) return;
    post(ua, command_shutdown, NULL, NULL, 0, 0);
    pthread_join(ua->thread, NULL);
    free_user_agent(ua);
}
