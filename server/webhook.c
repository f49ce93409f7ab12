/*
 * webhook.c — webhook deliveries (see webhook.h): the checks of a submit's
 * webhook, the signature, the bounded queue and the delivery thread
 * (libcurl, HMAC-SHA256 from libcrypto).
 */
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "log.h"
#include "nst.h"
#include "webhook.h"

#define KEY_MAX 256             /* bytes of an HMAC key */
#define BACKOFF_MAX_S 60        /* longest wait between two attempts */
#define MSG_ID_LEN 36           /* "msg_" + 32 hex digits */

static const char *const event_names[] = {"start", "progress", "completed"};
static const char *const event_types[] = {"job.started", "job.progress", "job.completed"};
#define N_EVENTS 3

/* One message and its attempts. */
typedef struct msg {
    struct msg *next;
    job_id job;
    int event;                  /* index into event_names */
    char id[MSG_ID_LEN + 1];
    double at;                  /* Unix time of the event */
    job_info snap;              /* the job then; freed once the body is rendered */
    int has_snap;
    char *url;
    char *body;                 /* rendered at the first attempt */
    int attempts;
    double due;                 /* monotonic seconds of the next attempt */
    int busy;                   /* the thread is attempting it (not to be dropped) */
} msg;

struct webhooks {
    webhook_config cfg;
    char *secret;
    unsigned char key[KEY_MAX];
    size_t keylen;

    pthread_mutex_t mu;
    pthread_cond_t cv;          /* a message arrived, or stop */
    msg *head, *tail;
    int n;
    int stopping, started;
    pthread_t thread;
    webhook_render_fn render;
    void *render_user;
};

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ================================================================ signing */

size_t webhook_key(const char *secret, unsigned char *key, size_t keymax)
{
    if (!secret || !*secret) return 0;
    if (strncmp(secret, "whsec_", 6) != 0) {
        size_t n = strlen(secret);
        if (n > keymax) n = keymax;
        memcpy(key, secret, n);
        return n;
    }
    const char *b64 = secret + 6;
    size_t n = strlen(b64);
    if (n == 0 || n % 4 || n / 4 * 3 > keymax) return 0;
    int got = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)n);
    if (got <= 0) return 0;
    size_t pad = (b64[n - 1] == '=') + (n > 1 && b64[n - 2] == '=');
    return (size_t)got - pad;
}

int webhook_sign(const unsigned char *key, size_t keylen, const char *id, long long timestamp,
                 const char *body, size_t bodylen, char *out, size_t outlen)
{
    char head[128];
    int hn = snprintf(head, sizeof head, "%s.%lld.", id, timestamp);
    if (hn < 0 || (size_t)hn >= sizeof head || outlen < 64) return -1;
    unsigned char mac[EVP_MAX_MD_SIZE];
    /* HMAC over id.timestamp.body, fed in two parts */
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t got = 0;
    int ok = c && EVP_MAC_init(c, key, keylen, params) == 1 &&
             EVP_MAC_update(c, (const unsigned char *)head, (size_t)hn) == 1 &&
             EVP_MAC_update(c, (const unsigned char *)body, bodylen) == 1 &&
             EVP_MAC_final(c, mac, &got, sizeof mac) == 1;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
    if (!ok || 3 + 4 * ((got + 2) / 3) + 1 > outlen) return -1;
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)got);
    return 0;
}

/* ================================================================ checks */

int webhook_event_bit(const char *name)
{
    for (int i = 0; name && i < N_EVENTS; i++)
        if (strcmp(name, event_names[i]) == 0) return 1 << i;
    return 0;
}

/* The events of a record's webhook field as bits. */
static int webhook_bits(const cJSON *wh)
{
    int bits = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(wh, "events"))
        bits |= webhook_event_bit(cJSON_GetStringValue(e));
    return bits;
}

/* The host and port of a URL (http or https). 0, or -1 with why. */
static int url_parts(const char *url, char *host, size_t hostlen, char *port, size_t portlen,
                     char *why, size_t whylen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *h = NULL, *p = NULL;
    int rc = -1;
    if (!u) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        snprintf(why, whylen, "webhook: not a valid absolute URL");
    } else if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        snprintf(why, whylen, "webhook: the scheme must be http or https, not %.20s", scheme);
    } else if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || !h[0]) {
        snprintf(why, whylen, "webhook: the URL has no host");
    } else if (curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        snprintf(why, whylen, "webhook: the URL has no usable port");
    } else {
        size_t n = strlen(h);
        const char *hs = h;
        if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {   /* an IPv6 literal */
            hs = h + 1;
            n -= 2;
        }
        if (n >= hostlen || strlen(p) >= portlen) {
            snprintf(why, whylen, "webhook: the host name is too long");
        } else {
            memcpy(host, hs, n);
            host[n] = 0;
            snprintf(port, portlen, "%s", p);
            rc = 0;
        }
    }
    curl_free(scheme);
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return rc;
}

/* Resolve host and ask the policy about every address. 0, or -1 with why. */
static int host_permitted(const webhooks *h, const char *host, const char *port, char *why,
                          size_t whylen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0) {
        snprintf(why, whylen, "webhook: the host %.100s does not resolve: %s", host,
                 gai_strerror(g));
        return -1;
    }
    int rc = 0;
    for (const struct addrinfo *ai = res; ai && rc == 0; ai = ai->ai_next) {
        if (h->cfg.permit && h->cfg.permit(h->cfg.permit_user, host, ai->ai_addr)) continue;
        char text[NI_MAXHOST] = "?";
        getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof text, NULL, 0, NI_NUMERICHOST);
        snprintf(why, whylen,
                 "webhook: the host %.100s has the address %s, which is loopback, private, "
                 "link-local or otherwise not public; webhooks reach such addresses only when "
                 "the webhook_allow setting lists them",
                 host, text);
        rc = -1;
    }
    freeaddrinfo(res);
    return rc;
}

int webhooks_check(webhooks *h, const cJSON *url, const cJSON *events, cJSON **out,
                   const char **field, char *why, size_t whylen)
{
    *out = NULL;
    *field = "webhook";
    if (!url) {
        if (!events) return 0;
        *field = "webhook_events";
        snprintf(why, whylen, "webhook_events: given without a webhook URL");
        return -1;
    }
    if (!webhooks_enabled(h)) {
        snprintf(why, whylen, "webhooks are disabled: this server has no webhook_secret "
                 "setting to sign them with");
        return -2;
    }
    const char *u = cJSON_GetStringValue(url);
    if (!u || !u[0]) {
        snprintf(why, whylen, "webhook: must be a non-empty string (an http or https URL)");
        return -1;
    }
    if (strlen(u) > (size_t)h->cfg.max_url) {
        snprintf(why, whylen, "webhook: the URL is longer than %d bytes (webhook_max_url)",
                 h->cfg.max_url);
        return -1;
    }
    char host[256], port[16];
    if (url_parts(u, host, sizeof host, port, sizeof port, why, whylen) < 0) return -1;

    int bits = WEBHOOK_ALL;
    if (events) {
        *field = "webhook_events";
        bits = 0;
        const cJSON *e;
        if (!cJSON_IsArray(events) || cJSON_GetArraySize(events) == 0) {
            snprintf(why, whylen, "webhook_events: must be a non-empty array of \"start\", "
                     "\"progress\", \"completed\"");
            return -1;
        }
        cJSON_ArrayForEach(e, events) {
            int b = webhook_event_bit(cJSON_GetStringValue(e));
            if (!b || (bits & b)) {
                snprintf(why, whylen, "webhook_events: %s; each may be \"start\", \"progress\" "
                         "or \"completed\", once",
                         b ? "an event is listed twice" : "an unknown event");
                return -1;
            }
            bits |= b;
        }
        *field = "webhook";
    }
    if (host_permitted(h, host, port, why, whylen) < 0) return -1;

    cJSON *o = cJSON_CreateObject();
    cJSON *ev = o && cJSON_AddStringToObject(o, "url", u) ? cJSON_AddArrayToObject(o, "events")
                                                          : NULL;
    if (!ev) {
        cJSON_Delete(o);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    for (int i = 0; i < N_EVENTS; i++)
        if (bits & (1 << i)) cJSON_AddItemToArray(ev, cJSON_CreateString(event_names[i]));
    *out = o;
    return 0;
}

/* ================================================================ the queue */

static void msg_free(msg *m)
{
    if (!m) return;
    if (m->has_snap) job_info_free(&m->snap);
    free(m->url);
    free(m->body);
    free(m);
}

static void log_msg(const char *level, const char *event, const msg *m, cJSON *f)
{
    if (!f) f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "job", m->job);
    cJSON_AddStringToObject(f, "type", event_types[m->event]);
    cJSON_AddStringToObject(f, "webhook_id", m->id);
    log_event(level, event, f);
}

/* Unlink m (under mu). */
static void unlink_msg(webhooks *h, msg *m)
{
    msg **pp = &h->head, *prev = NULL;
    while (*pp && *pp != m) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) return;
    *pp = m->next;
    if (h->tail == m) h->tail = prev;
    h->n--;
}

/* Make room for one message (under mu): drop the oldest progress event,
 * else the oldest message not being attempted. 0, or -1 when none can go. */
static int make_room(webhooks *h)
{
    msg *drop = NULL;
    for (msg *m = h->head; m && !drop; m = m->next)
        if (!m->busy && m->event == 1) drop = m;
    for (msg *m = h->head; m && !drop; m = m->next)
        if (!m->busy) drop = m;
    if (!drop) return -1;
    unlink_msg(h, drop);
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "queue_size", h->cfg.queue_size);
    log_msg("warn", "webhook_dropped", drop, f);
    msg_free(drop);
    return 0;
}

void webhooks_event(webhooks *h, const job_info *job, int event, double *last_progress)
{
    if (!h || !job->webhook) return;
    int idx = event == WEBHOOK_START ? 0 : event == WEBHOOK_PROGRESS ? 1 : 2;
    if (!(webhook_bits(job->webhook) & event)) return;
    if (event == WEBHOOK_PROGRESS && last_progress) {
        double t = now_mono();
        if (*last_progress > 0 && t - *last_progress < h->cfg.progress_ms / 1000.0) return;
        *last_progress = t;
    }
    const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job->webhook, "url"));
    msg *m = calloc(1, sizeof *m);
    if (!m || !url || !(m->url = strdup(url)) || job_info_copy(&m->snap, job) < 0) {
        if (m) free(m->url);
        free(m);
        log_event("error", "webhook_dropped", cJSON_CreateString("out of memory"));
        return;
    }
    m->has_snap = 1;
    memcpy(m->job, job->id, sizeof m->job);
    m->event = idx;
    job_id rnd;
    job_id_new(rnd);
    snprintf(m->id, sizeof m->id, "msg_%s", rnd);
    m->at = now_unix();

    pthread_mutex_lock(&h->mu);
    int ok = !h->stopping && (h->n < h->cfg.queue_size || make_room(h) == 0);
    if (ok) {
        if (h->tail) h->tail->next = m;
        else h->head = m;
        h->tail = m;
        h->n++;
        pthread_cond_signal(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    if (!ok) {
        log_msg("warn", "webhook_dropped", m, NULL);
        msg_free(m);
    }
}

/* ================================================================ one attempt */

/* The message's body (rendered at its first attempt). 0, or -1. */
static int render_body(webhooks *h, msg *m)
{
    if (m->body) return 0;
    cJSON *data = h->render ? h->render(h->render_user, &m->snap) : NULL;
    cJSON *o = cJSON_CreateObject();
    time_t secs = (time_t)m->at;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[64];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)((m->at - (double)secs) * 1000));
    if (o && data) {
        cJSON_AddStringToObject(o, "type", event_types[m->event]);
        cJSON_AddStringToObject(o, "timestamp", ts);
        cJSON_AddItemToObject(o, "data", data);
        data = NULL;
        m->body = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(data);
    cJSON_Delete(o);
    if (!m->body) return -1;
    job_info_free(&m->snap);
    m->has_snap = 0;
    return 0;
}

typedef struct {
    const webhooks *h;
    const char *host;
    int refused;                /* the policy refused the address curl was to connect to */
} open_ctx;

/* Every connection curl opens is checked against the policy first, so a
 * name that resolves differently now (DNS rebinding) cannot reach an
 * address the policy refuses. */
static curl_socket_t open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *a)
{
    open_ctx *c = user;
    if (purpose != CURLSOCKTYPE_IPCXN ||
        (c->h->cfg.permit && !c->h->cfg.permit(c->h->cfg.permit_user, c->host, &a->addr))) {
        c->refused = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

static size_t discard(char *p, size_t size, size_t n, void *user)
{
    (void)p;
    (void)user;
    return size * n;
}

/* One attempt: 0 when the receiver answered 2xx; else -1 with why. */
static int attempt(webhooks *h, msg *m, char *why, size_t whylen)
{
    if (render_body(h, m) < 0) {
        snprintf(why, whylen, "cannot render the message (out of memory)");
        return -1;
    }
    char host[256], port[16];
    if (url_parts(m->url, host, sizeof host, port, sizeof port, why, whylen) < 0) return -1;

    long long ts = (long long)now_unix();
    char sig[128], hid[64 + MSG_ID_LEN], hts[64], hsig[160];
    if (webhook_sign(h->key, h->keylen, m->id, ts, m->body, strlen(m->body), sig, sizeof sig) < 0) {
        snprintf(why, whylen, "cannot sign the message");
        return -1;
    }
    snprintf(hid, sizeof hid, "webhook-id: %s", m->id);
    snprintf(hts, sizeof hts, "webhook-timestamp: %lld", ts);
    snprintf(hsig, sizeof hsig, "webhook-signature: %s", sig);

    CURL *c = curl_easy_init();
    struct curl_slist *hd = NULL;
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, hid);
    hd = curl_slist_append(hd, hts);
    hd = curl_slist_append(hd, hsig);
    hd = curl_slist_append(hd, "Expect:");
    if (!c || !hd) {
        curl_slist_free_all(hd);
        curl_easy_cleanup(c);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    open_ctx oc = {h, host, 0};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, m->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->cfg.timeout_s * 1000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, m->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(m->body));
    curl_easy_setopt(c, CURLOPT_USERAGENT, "nstd/" NST_VERSION);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &oc);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    if (oc.refused) {
        snprintf(why, whylen, "the host %.100s resolved to an address webhook_allow does not "
                 "permit", host);
        return -1;
    }
    if (cc != CURLE_OK) {
        snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf(why, whylen, "the receiver answered %ld", status);
        return -1;
    }
    return 0;
}

/* ================================================================ the thread */

/* Whether m is the first of its job's messages in the queue: seen is an
 * open-addressing set of the job ids met so far (cap a power of two over
 * the queue's length), or NULL (out of memory: the queue is searched). */
static int first_of_job(const webhooks *h, const msg *m, const char **seen, size_t cap)
{
    if (!seen) {
        for (const msg *e = h->head; e != m; e = e->next)
            if (strcmp(e->job, m->job) == 0) return 0;
        return 1;
    }
    size_t i = 0;
    for (int k = 0; k < 8; k++) i = i * 31 + (unsigned char)m->job[k];   /* ids are random */
    for (i &= cap - 1; seen[i]; i = (i + 1) & (cap - 1))
        if (strcmp(seen[i], m->job) == 0) return 0;
    seen[i] = m->job;
    return 1;
}

/* The next message to attempt now (under mu): the first of its job's
 * messages (order per job), due. *wake gets the earliest due time of such
 * first messages when none is due. One pass over the queue. */
static msg *next_due(webhooks *h, double now, double *wake)
{
    *wake = 0;
    size_t cap = 16;
    while (cap < 2 * (size_t)h->n) cap <<= 1;
    const char **seen = calloc(cap, sizeof *seen);
    msg *due = NULL;
    for (msg *m = h->head; m && !due; m = m->next) {
        if (!first_of_job(h, m, seen, cap) || m->busy) continue;
        if (m->due <= now) due = m;
        else if (*wake == 0 || m->due < *wake) *wake = m->due;
    }
    free(seen);
    return due;
}

static void *deliver_main(void *arg)
{
    webhooks *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        double wake;
        msg *m = next_due(h, now_mono(), &wake);
        if (!m) {
            if (wake > 0) {
                struct timespec dl;
                dl.tv_sec = (time_t)wake;
                dl.tv_nsec = (long)((wake - (double)dl.tv_sec) * 1e9);
                pthread_cond_timedwait(&h->cv, &h->mu, &dl);
            } else {
                pthread_cond_wait(&h->cv, &h->mu);
            }
            continue;
        }
        m->busy = 1;
        pthread_mutex_unlock(&h->mu);

        char why[384] = "";
        int rc = attempt(h, m, why, sizeof why);
        m->attempts++;
        int done = rc == 0 || m->attempts >= h->cfg.max_attempts;
        double delay = 0;
        if (!done) {
            delay = m->attempts - 1 < 6 ? (double)(1 << (m->attempts - 1)) : BACKOFF_MAX_S;
            if (delay > BACKOFF_MAX_S) delay = BACKOFF_MAX_S;
        }
        cJSON *f = cJSON_CreateObject();
        cJSON_AddNumberToObject(f, "attempt", m->attempts);
        if (rc < 0) cJSON_AddStringToObject(f, "error", why);
        if (rc == 0) {
            if (m->event != 1) log_msg("info", "webhook_delivered", m, f);
            else cJSON_Delete(f);
        } else if (done) {
            log_msg("warn", "webhook_failed", m, f);
        } else {
            cJSON_AddNumberToObject(f, "retry_in_s", delay);
            log_msg("warn", "webhook_retry", m, f);
        }

        pthread_mutex_lock(&h->mu);
        m->busy = 0;
        if (done && m->event == 1) {
            /* the job's next progress event, if it comes next, keeps its
             * distance from this one at the receiver too (a late delivery
             * does not bunch them up) */
            for (msg *e = m->next; e; e = e->next) {
                if (strcmp(e->job, m->job) != 0) continue;
                double not_before = now_mono() + h->cfg.progress_ms / 1000.0;
                if (e->event == 1 && e->due < not_before) e->due = not_before;
                break;
            }
        }
        if (done) {
            unlink_msg(h, m);
            msg_free(m);
        } else {
            m->due = now_mono() + delay;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ================================================================ life */

webhooks *webhooks_create(const webhook_config *cfg)
{
    static int curl_ok;   /* curl_global_init once, before other threads (webhook.h) */
    webhooks *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->cfg = *cfg;
    h->secret = strdup(cfg->secret ? cfg->secret : "");
    if (!h->secret) {
        free(h);
        return NULL;
    }
    h->cfg.secret = h->secret;
    if (h->cfg.max_attempts < 1) h->cfg.max_attempts = 1;
    if (h->cfg.queue_size < 1) h->cfg.queue_size = 1;
    if (h->cfg.timeout_s < 1) h->cfg.timeout_s = 1;
    h->keylen = webhook_key(h->secret, h->key, sizeof h->key);
    if (!curl_ok) curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    return h;
}

int webhooks_start(webhooks *h, webhook_render_fn render, void *render_user)
{
    if (!h || h->started) return h ? 0 : -1;
    h->render = render;
    h->render_user = render_user;
    if (pthread_create(&h->thread, NULL, deliver_main, h) != 0) return -1;
    h->started = 1;
    return 0;
}

void webhooks_stop(webhooks *h)
{
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    if (h->started) pthread_join(h->thread, NULL);
    h->started = 0;
    pthread_mutex_lock(&h->mu);
    int left = h->n;
    while (h->head) {
        msg *m = h->head;
        h->head = m->next;
        msg_free(m);
    }
    h->tail = NULL;
    h->n = 0;
    pthread_mutex_unlock(&h->mu);
    if (left) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddNumberToObject(f, "messages", left);
        log_event("warn", "webhooks_dropped_at_stop", f);
    }
}

void webhooks_free(webhooks *h)
{
    if (!h) return;
    webhooks_stop(h);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    OPENSSL_cleanse(h->key, sizeof h->key);
    free(h->secret);
    free(h);
}

int webhooks_enabled(const webhooks *h)
{
    return h && h->keylen > 0;
}
