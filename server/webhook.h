/*
 * webhook.h — webhook deliveries: a job that asked for a webhook (the
 * record's `webhook` field: {"url": …, "events": ["start", "progress",
 * "completed"]}) gets a signed POST at each of those events.
 *
 * Deliveries follow Standard Webhooks: headers webhook-id (the same for
 * every attempt of one message), webhook-timestamp (Unix seconds of the
 * attempt) and webhook-signature "v1,<base64 HMAC-SHA256(key,
 * "<id>.<timestamp>.<body>")>"; the key is the base64 after "whsec_" of the
 * secret, or the secret's bytes when it has no such prefix. The body is
 * {"type": "job.started" | "job.progress" | "job.completed", "timestamp":
 * RFC 3339, "data": the job as the API shows it (a render callback)}.
 *
 * One delivery thread per process works through a bounded queue: enqueueing
 * never blocks on the network and costs a snapshot of the job; a full queue
 * drops its oldest progress event (logged). A failed attempt (no answer
 * within the timeout, or a status outside 2xx) is retried after 1, 2, 4, 8,
 * 16 … s (at most 60 s) up to max_attempts, then given up (webhook_failed).
 * A job's messages go out in order; other jobs' messages do not wait for a
 * retry. Progress events of one job are at least progress_ms apart, when
 * queued and when sent (a late delivery does not bunch the next one up to
 * it); the start and the final state always go.
 *
 * Addresses: a webhook URL is http or https to a host whose every address
 * the permit callback allows (the policy lives with the settings); it is
 * checked at submit and again at each attempt, and the connection goes to
 * the addresses checked (so DNS cannot rebind it), without redirects or
 * proxies. No knowledge of HTTP servers here: libcurl and libcrypto only.
 */
#ifndef NSTD_WEBHOOK_H
#define NSTD_WEBHOOK_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "job.h"

struct sockaddr;

/* The events a job may subscribe to, as bits. */
enum {
    WEBHOOK_START = 1,
    WEBHOOK_PROGRESS = 2,
    WEBHOOK_COMPLETED = 4,
    WEBHOOK_ALL = 7
};

/* 1 when a webhook may reach address sa of host (the URL's host name). */
typedef int (*webhook_permit_fn)(void *user, const char *host, const struct sockaddr *sa);
/* The job as the API shows it; caller owns the result (NULL: out of memory). */
typedef cJSON *(*webhook_render_fn)(void *user, const job_info *job);

typedef struct {
    const char *secret;     /* "" or NULL: webhooks are refused (webhooks_check) */
    int timeout_s;          /* one attempt, connection to answer */
    int max_attempts;       /* attempts of one message, the first included */
    int queue_size;         /* messages waiting, all jobs together */
    int progress_ms;        /* least time between two progress events of a job */
    int max_url;            /* longest URL accepted, in bytes */
    webhook_permit_fn permit;
    void *permit_user;
} webhook_config;

typedef struct webhooks webhooks;

/* A sender (the strings of cfg are copied); its thread starts with
 * webhooks_start. NULL out of memory. Calls curl_global_init: create it
 * before other threads start. */
webhooks *webhooks_create(const webhook_config *cfg);
/* Start delivering, rendering bodies with render. 0, or -1. */
int webhooks_start(webhooks *h, webhook_render_fn render, void *render_user);
/* Stop the thread; messages still waiting are dropped (logged). Idempotent. */
void webhooks_stop(webhooks *h);
void webhooks_free(webhooks *h);

/* 1 when a secret is set (webhooks may be requested). */
int webhooks_enabled(const webhooks *h);

/* The names of the events: "start", "progress", "completed"; the bit of a
 * name, or 0. */
int webhook_event_bit(const char *name);

/* Validate a submit's webhook and webhook_events (either may be NULL:
 * absent) and build the record's field {"url", "events"} in *out (NULL
 * when there is no webhook). 0; or -1 with the parameter at fault in
 * *field and a sentence in why; -2 when webhooks are disabled (no
 * secret). Resolves the host (blocking). */
int webhooks_check(webhooks *h, const cJSON *url, const cJSON *events, cJSON **out,
                   const char **field, char *why, size_t whylen);

/* The job reached an event: queue a message when the job's webhook
 * subscribes to it (progress: unless the previous one of this job went
 * less than progress_ms ago; *last_progress is the caller's monotonic
 * seconds of that one, 0 at first). job is copied. Never blocks on I/O. */
void webhooks_event(webhooks *h, const job_info *job, int event, double *last_progress);

/* The signature header's value "v1,<base64>" for a message, into out (at
 * least 64 bytes). key: the raw HMAC key. 0, or -1. */
int webhook_sign(const unsigned char *key, size_t keylen, const char *id, long long timestamp,
                 const char *body, size_t bodylen, char *out, size_t outlen);
/* The HMAC key of a secret: the base64 after "whsec_", else the secret's
 * bytes. Returns its length (0 for an empty or undecodable secret). */
size_t webhook_key(const char *secret, unsigned char *key, size_t keymax);

#endif
