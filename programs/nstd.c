/*
 * nstd.c — the nstd process: configuration, logging, the model, the job
 * store, the job manager, the HTTP daemon, and a libuv loop in the main
 * thread that handles signals and the TTL timer.
 *
 * Shutdown (SIGTERM or SIGINT): stop accepting connections, refuse new jobs,
 * make running jobs stop within one iteration and save them as queued with
 * their checkpoint, join the workers, end event streams, stop the daemon,
 * exit 0. A second signal during shutdown exits at once with status 1.
 * SIGHUP re-reads the tokens file (--tokens-file): a bad one is logged and
 * the tokens in force stay.
 *
 * Exit status: 0 after a clean shutdown (or --help/--version), 1 when a
 * resource (model, store, port) is unavailable, 2 for an invalid setting
 * or tokens file.
 *
 * nstd --health-check [settings…] starts nothing: it asks the nstd that the
 * same settings (flags, environment) describe for GET /healthz and exits 0
 * when it answers 200, else 1 (the container image's HEALTHCHECK).
 */
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <uv.h>

#include "api.h"
#include "config.h"
#include "httpd.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "nst.h"
#include "store.h"
#include "tokens.h"
#include "webhook.h"
#include "webhook_allow.h"

extern char **environ;

#define DEFAULT_MODEL "models/vgg19.safetensors"
#define STREAMS_CLOSE_MS 2000   /* how long shutdown waits for event streams to close */
/* How often finished jobs are checked for expiry: often enough that a
 * short TTL (as tests use) is kept to within a second or so. */
#define EXPIRY_PERIOD_LONG_MS 60000   /* TTL of 10 minutes or more */
#define EXPIRY_PERIOD_MID_MS 5000     /* TTL over 10 s */
#define EXPIRY_PERIOD_SHORT_MS 1000
#define TTL_LONG_S 600
#define TTL_MID_S 10

typedef struct {
    nstd_config cfg;
    nst_model *model;
    store *store;
    metrics *metrics;
    jobs *jobs;
    webhooks *hooks;
    webhook_allow allow;        /* the webhook_allow setting, parsed */
    api *api;
    httpd *httpd;
    uv_loop_t *loop;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t ttl_timer;
    int stopping;
} server;

static void log_error(const char *event, const char *message)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "error", message);
    log_event("error", event, f);
}

/* ================================================================ model */

/* The configured model, else the pretrained file when present, else the
 * embedded random-weight VGG19. */
static int load_model(server *s)
{
    nst_error err;
    memset(&err, 0, sizeof err);
    const char *path = s->cfg.model[0] ? s->cfg.model
                       : access(DEFAULT_MODEL, R_OK) == 0 ? DEFAULT_MODEL : NULL;
    int rc = path ? nst_model_load(path, &s->model, &err) : nst_model_random(&s->model, &err);
    if (rc != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s: %s", path ? path : "embedded model",
                 err.message[0] ? err.message : nst_strerror(rc));
        log_error("model_load_failed", msg);
        return -1;
    }
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "version", NST_VERSION);
    cJSON_AddStringToObject(f, "model", nst_model_name(s->model));
    cJSON_AddBoolToObject(f, "pretrained", nst_model_pretrained(s->model));
    cJSON_AddStringToObject(f, "model_source", path ? path : "embedded");
    if (!nst_model_pretrained(s->model))
        cJSON_AddStringToObject(f, "note", "random-weight VGG19: results are weaker than with "
                                           "pretrained weights (scripts/fetch-model)");
    log_event("info", "start", f);
    return 0;
}

/* ================================================================ loop */

static void ttl_tick(uv_timer_t *t)
{
    server *s = t->data;
    jobs_expire(s->jobs);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    server *s = sig->data;
    if (s->stopping) {
        log_error("shutdown_forced", "second signal during shutdown");
        _exit(1);
    }
    s->stopping = 1;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "signal", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    log_event("info", "shutdown", f);

    httpd_quiesce(s->httpd);        /* no new connections */
    api_begin_shutdown(s->api);     /* no new jobs, streams end */
    jobs_shutdown(s->jobs);         /* running jobs checkpoint, workers join */
    httpd_stop(s->httpd, STREAMS_CLOSE_MS);
    s->httpd = NULL;

    close_handle((uv_handle_t *)&s->sigterm);
    close_handle((uv_handle_t *)&s->sigint);
    close_handle((uv_handle_t *)&s->sighup);
    close_handle((uv_handle_t *)&s->ttl_timer);
}

/* SIGHUP: the tokens file again. */
static void on_hup(uv_signal_t *sig, int signum)
{
    server *s = sig->data;
    char err[512];
    size_t n;
    int rc = api_reload_tokens(s->api, &n, err, sizeof err);
    if (rc < 0) {
        log_error("tokens_reload_failed", err);
        return;
    }
    cJSON *f = cJSON_CreateObject();
    if (rc == 1) {
        cJSON_AddStringToObject(f, "message", "no tokens file (--tokens-file): nothing to reload");
        log_event("info", "tokens_reload_skipped", f);
        return;
    }
    cJSON_AddStringToObject(f, "file", s->cfg.tokens_file);
    cJSON_AddNumberToObject(f, "tokens", (double)n);
    log_event("info", "tokens_reloaded", f);
}

/* ================================================================ webhooks */

/* The webhook_allow setting as the senders' address policy. */
static int webhook_permit(void *user, const char *host, const struct sockaddr *sa)
{
    return webhook_allow_permits(user, host, sa);
}

/* The sender of this process's webhooks (its thread starts once the API
 * renders jobs); NULL out of memory. */
static webhooks *webhooks_from_config(server *s)
{
    char err[256];
    if (webhook_allow_parse(s->cfg.webhook_allow, &s->allow, err, sizeof err) < 0) return NULL;
    webhook_config wc = {
        .secret = s->cfg.webhook_secret,
        .timeout_s = s->cfg.webhook_timeout,
        .max_attempts = s->cfg.webhook_max_attempts,
        .queue_size = s->cfg.webhook_queue_size,
        .progress_ms = s->cfg.webhook_progress_ms,
        .max_url = s->cfg.webhook_max_url,
        .permit = webhook_permit,
        .permit_user = &s->allow,
    };
    return webhooks_create(&wc);
}

/* ================================================================ --health-check */

#define HEALTH_CHECK_TIMEOUT_S 3

/* GET /healthz of the nstd listening where cfg says (on loopback when it
 * listens on every address): 0 when it answers 200, else 1 with a line on
 * stderr. Plain HTTP/1.0 over a socket with send and receive timeouts. */
static int health_check(const nstd_config *cfg)
{
    const char *host = cfg->bind;
    if (!*host || strcmp(host, "0.0.0.0") == 0) host = "127.0.0.1";
    else if (strcmp(host, "::") == 0) host = "::1";
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "nstd: health check: %s: %s\n", host, gai_strerror(gai));
        return 1;
    }
    struct timeval tv = {.tv_sec = HEALTH_CHECK_TIMEOUT_S};
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);   /* bounds connect too */
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        fprintf(stderr, "nstd: health check: nothing answers on %s port %s\n", host, port);
        return 1;
    }
    static const char request[] = "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n";
    char status[32] = "";
    size_t got = 0;
    if (send(fd, request, sizeof request - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof request - 1)) {
        ssize_t n;
        while (got < sizeof status - 1 && (n = recv(fd, status + got, sizeof status - 1 - got, 0)) > 0)
            got += (size_t)n;
    }
    close(fd);
    status[got] = 0;
    char *eol = strpbrk(status, "\r\n");
    if (eol) *eol = 0;
    if (strncmp(status, "HTTP/1.", 7) == 0 && strncmp(status + 8, " 200", 4) == 0) return 0;
    fprintf(stderr, "nstd: health check: %s port %s answered '%s'\n", host, port,
            got ? status : "nothing");
    return 1;
}

/* ================================================================ main */

int main(int argc, char **argv)
{
    server s;
    memset(&s, 0, sizeof s);
    char err[512] = "";
    int check = argc > 1 && strcmp(argv[1], "--health-check") == 0;
    if (check) {   /* the settings after it, as nstd itself would take them */
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    int rc = config_load(&s.cfg, argc, argv, environ, stdout, err, sizeof err);
    if (rc == 1) return 0;
    if (rc < 0) {
        fprintf(stderr, "nstd: %s\n", err);
        return 2;
    }
    if (check) return health_check(&s.cfg);
    tokens_table *tokens = NULL;
    if (s.cfg.tokens_file[0] &&
        tokens_load(s.cfg.tokens_file, s.cfg.token_queue_quota, s.cfg.token_rate_limit, &tokens,
                    err, sizeof err) < 0) {
        fprintf(stderr, "nstd: %s\n", err);
        return 2;
    }
    log_init(s.cfg.log_format);
    signal(SIGPIPE, SIG_IGN);

    char note[256];
    if (httpd_fit_limits(&s.cfg, note, sizeof note)) {
        cJSON *nf = cJSON_CreateObject();
        cJSON_AddStringToObject(nf, "message", note);
        log_event("warn", "max_connections_lowered", nf);
    }
    if (load_model(&s) < 0) {
        tokens_free(tokens);
        return 1;
    }
    char *settings = config_to_json(&s.cfg);
    cJSON *sf = cJSON_CreateObject();
    cJSON *sj = settings ? cJSON_Parse(settings) : NULL;
    cJSON_AddItemToObject(sf, "settings", sj ? sj : cJSON_CreateNull());
    log_event("info", "config", sf);
    free(settings);

    int opened = s.cfg.redis_url[0] ? store_redis_open(&s.store, s.cfg.redis_url, err, sizeof err)
                                     : store_disk_open(&s.store, s.cfg.data_dir, err, sizeof err);
    if (opened < 0) {
        log_error("store_open_failed", err);
        nst_model_free(s.model);
        tokens_free(tokens);
        return 1;
    }
    s.metrics = metrics_create();
    int status = 1;
    s.hooks = webhooks_from_config(&s);
    if (!s.hooks) {
        log_error("webhooks_start_failed", "out of memory");
        tokens_free(tokens);
        goto out;
    }

    jobs_config jc = {
        .workers = strcmp(s.cfg.role, "api") == 0 ? 0 : s.cfg.workers,
        .job_threads = s.cfg.job_threads,
        .queue_size = s.cfg.queue_size,
        .job_ttl = s.cfg.job_ttl,
        .max_input_pixels = s.cfg.max_input_pixels,
        .min_free_disk = (unsigned long long)s.cfg.min_free_disk,
        .limits = {s.cfg.max_iterations, s.cfg.max_image_size},
        .lease_renew_ms = s.cfg.lease_renew * 1000,
        .lease_timeout_ms = s.cfg.lease_timeout * 1000,
        .max_attempts = s.cfg.max_attempts,
        .hooks = s.hooks,
        .max_job_memory = s.cfg.max_job_memory,
        .preview_max_size = s.cfg.preview_max_size,
        .checkpoint_interval_s = s.cfg.checkpoint_interval,
    };
    if (jobs_start(&s.jobs, &jc, s.store, s.metrics, s.model, err, sizeof err) < 0) {
        log_error("jobs_start_failed", err);
        tokens_free(tokens);
        goto out;
    }
    size_t n_tokens = tokens ? tokens->n : 0;
    api_deps deps = {&s.cfg, s.jobs, s.store, s.metrics, s.model, tokens,   /* takes tokens */
                     s.hooks};
    if (api_create(&s.api, &deps) < 0) {
        log_error("api_start_failed", "cannot start the event pump");
        goto out;
    }
    if (webhooks_start(s.hooks, api_job_json, s.api) < 0) {
        log_error("webhooks_start_failed", "cannot start the delivery thread");
        goto out;
    }
    if (httpd_start(&s.httpd, &s.cfg, s.api, err, sizeof err) < 0) {
        log_error("listen_failed", err);
        goto out;
    }
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "bind", s.cfg.bind);
    cJSON_AddNumberToObject(f, "port", s.cfg.port);
    cJSON_AddStringToObject(f, "base_path", s.cfg.base_path);
    cJSON_AddNumberToObject(f, "workers", jc.workers);
    cJSON_AddStringToObject(f, "role", s.cfg.role);
    cJSON_AddStringToObject(f, "store", s.cfg.redis_url[0] ? "redis" : "disk");
    cJSON_AddStringToObject(f, "access", n_tokens ? "bearer" : "open");
    if (n_tokens) cJSON_AddNumberToObject(f, "tokens", (double)n_tokens);
    log_event("info", "listening", f);

    s.loop = uv_default_loop();
    uv_signal_init(s.loop, &s.sigterm);
    uv_signal_init(s.loop, &s.sigint);
    s.sigterm.data = s.sigint.data = &s;
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_init(s.loop, &s.sighup);
    s.sighup.data = &s;
    uv_signal_start(&s.sighup, on_hup, SIGHUP);
    uv_timer_init(s.loop, &s.ttl_timer);
    s.ttl_timer.data = &s;
    uint64_t period = s.cfg.job_ttl >= TTL_LONG_S ? EXPIRY_PERIOD_LONG_MS
                      : s.cfg.job_ttl > TTL_MID_S ? EXPIRY_PERIOD_MID_MS
                                                  : EXPIRY_PERIOD_SHORT_MS;
    uv_timer_start(&s.ttl_timer, ttl_tick, period, period);
    uv_run(s.loop, UV_RUN_DEFAULT);
    uv_loop_close(s.loop);
    status = 0;

out:
    if (s.httpd) httpd_stop(s.httpd, 0);
    if (s.api) api_begin_shutdown(s.api);
    if (s.jobs) jobs_shutdown(s.jobs);
    webhooks_free(s.hooks);   /* after the workers: their last events were queued */
    api_free(s.api);
    jobs_free(s.jobs);
    metrics_free(s.metrics);
    store_close(s.store);
    nst_model_free(s.model);
    if (status == 0) log_event("info", "stopped", NULL);
    return status;
}
