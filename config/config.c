/*
 * config.c — every nstd setting as one row of one table, and everything
 * that reads the table: defaults, the config file (`key = value` lines),
 * the environment (NSTD_*), the command line (`--port 8080`, `--port=8080`),
 * validation, `nstd --help` and the JSON view for /v1/info and the logs.
 *
 * A value is always text until one function (config_apply) parses it by
 * the row's type and checks it against the row's limits, whatever its
 * source, defaults included; so a limit or a message exists exactly once.
 * Sources are applied in order of increasing precedence (default, file,
 * environment, flags) and the first bad value stops the load with a message
 * that names the setting the way the user wrote it and where it came from.
 *
 * Not here: anything that acts on a setting (binding, creating the data
 * directory, loading the model). Unknown NSTD_* variables are ignored (the
 * environment is shared with other programs); unknown flags and file keys
 * are errors.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "netaddr.h"
#include "webhook_allow.h"
#include "nst.h"

static const char *check_bind(char *value);
static const char *check_base_path(char *value);
static const char *check_cors_origins(char *value);
static const char *check_trusted_proxies(char *value);
static const char *check_webhook_secret(char *value);
static const char *check_webhook_allow(char *value);
static int check_together(const nstd_config *cfg, char *err, size_t errlen);

/* ================================================================ the table */

#define FIELD(f) offsetof(nstd_config, f), sizeof(((nstd_config *)0)->f)
#define KIB 1024L
#define MIB (1024L * 1024L)
#define GIB (1024L * 1024L * 1024L)
#define DAY 86400L

/* Messages repeat at most this many characters of what the user wrote. */
#define QUOTE_MAX 100       /* a flag, a file key or a file line */
#define VALUE_QUOTE_MAX 200 /* a value */

/* Layout of --help: option and environment variable on one line (the
 * option padded to HELP_OPTION_WIDTH), the description below from column
 * HELP_INDENT, wrapped before column HELP_WIDTH. */
#define HELP_OPTION_WIDTH 32
#define HELP_INDENT 6
#define HELP_WIDTH 79

static const config_setting settings[] = {
    /* name, flag, env, file key, type, field, default, min, max, choices, check,
       metavar, help, published (the key GET /v1/info lists it under, or NULL) */
    {"bind", "--bind", "NSTD_BIND", "bind", CONFIG_STRING, FIELD(bind), "0.0.0.0", 1, 0, NULL,
     check_bind, "ADDR",
     "IP address to listen on: 0.0.0.0 for every IPv4 interface, :: for every interface, "
     "127.0.0.1 for this host only.", NULL},
    {"port", "--port", "NSTD_PORT", "port", CONFIG_INT, FIELD(port), "8080", 1, 65535, NULL,
     NULL, "N", "TCP port to listen on.", NULL},
    {"data_dir", "--data-dir", "NSTD_DATA_DIR", "data_dir", CONFIG_STRING, FIELD(data_dir),
     "./data", 1, 0, NULL, NULL, "DIR",
     "Directory of the job store (created when missing); jobs survive restarts there.", NULL},
    {"model", "--model", "NSTD_MODEL", "model", CONFIG_STRING, FIELD(model), "", 0, 0, NULL,
     NULL, "PATH",
     "VGG19 weights as a safetensors file. Empty: models/vgg19.safetensors when present, "
     "else the embedded vgg19-random model.", NULL},
    {"workers", "--workers", "NSTD_WORKERS", "workers", CONFIG_INT, FIELD(workers), "1", 1, 256,
     NULL, NULL, "N", "Jobs that run at the same time.", NULL},
    {"job_threads", "--job-threads", "NSTD_JOB_THREADS", "job_threads", CONFIG_INT,
     FIELD(job_threads), "0", 0, 1024, NULL, NULL, "N",
     "Threads each running job computes on; 0: the number of cores divided by --workers.",
     NULL},
    {"queue_size", "--queue-size", "NSTD_QUEUE_SIZE", "queue_size", CONFIG_INT,
     FIELD(queue_size), "16", 1, 100000, NULL, NULL, "N",
     "Jobs that may wait for a worker; beyond that POST /v1/jobs answers 429.",
     "queue_size"},
    {"max_upload_bytes", "--max-upload-bytes", "NSTD_MAX_UPLOAD_BYTES", "max_upload_bytes",
     CONFIG_BYTES, FIELD(max_upload_bytes), "32M", 1 * KIB, 4 * GIB, NULL, NULL, "SIZE",
     "Largest request body (all images and parameters together); larger ones get 413.",
     "max_upload_bytes"},
    {"max_image_size", "--max-image-size", "NSTD_MAX_IMAGE_SIZE", "max_image_size", CONFIG_INT,
     FIELD(max_image_size), "1024", 16, 16384, NULL, NULL, "N",
     "Largest image_size (longest side of the output, pixels) a job may ask for.",
     "max_image_size"},
    {"preview_max_size", "--preview-max-size", "NSTD_PREVIEW_MAX_SIZE", "preview_max_size",
     CONFIG_INT, FIELD(preview_max_size), "1024", 16, 16384, NULL, NULL, "N",
     "Longest side of a job's preview image (pixels): a larger job is previewed downscaled, "
     "its checkpoint and result kept full size.",
     "preview_max_size"},
    {"checkpoint_interval", "--checkpoint-interval", "NSTD_CHECKPOINT_INTERVAL",
     "checkpoint_interval", CONFIG_SECONDS, FIELD(checkpoint_interval), "60", 0, 86400, NULL,
     NULL, "DURATION",
     "A job larger than preview_max_size stores its full-size checkpoint (what a restart "
     "resumes from) at most this often, on a preview iteration; its previews are downscaled "
     "copies in between. A smaller job's preview is its checkpoint, stored at every preview. "
     "0: at every preview.",
     "checkpoint_interval_s"},
    {"min_free_disk", "--min-free-disk", "NSTD_MIN_FREE_DISK", "min_free_disk", CONFIG_BYTES,
     FIELD(min_free_disk), "64M", 0, 1024 * GIB, NULL, NULL, "SIZE",
     "Free space the job store keeps: below it /readyz is not ready, a new job is refused "
     "with 507 and a finished job waits to store its result.",
     "min_free_disk"},
    {"max_input_pixels", "--max-input-pixels", "NSTD_MAX_INPUT_PIXELS", "max_input_pixels",
     CONFIG_LONG, FIELD(max_input_pixels), "50000000", 4096, 1000000000L, NULL, NULL, "N",
     "Largest uploaded image, width times height, checked before decoding.",
     "max_input_pixels"},
    {"max_iterations", "--max-iterations", "NSTD_MAX_ITERATIONS", "max_iterations", CONFIG_INT,
     FIELD(max_iterations), "2000", 1, 1000000, NULL, NULL, "N",
     "Largest iterations a job may ask for.",
     "max_iterations"},
    {"max_styles", "--max-styles", "NSTD_MAX_STYLES", "max_styles", CONFIG_INT,
     FIELD(max_styles), "4", 1, NST_MAX_STYLES, NULL, NULL, "N",
     "Most style images in one job.",
     "max_styles"},
    {"job_ttl", "--job-ttl", "NSTD_JOB_TTL", "job_ttl", CONFIG_SECONDS, FIELD(job_ttl), "86400",
     1, 3650 * DAY, NULL, NULL, "DURATION",
     "How long a finished job and its result are kept before they are deleted.",
     "job_ttl_s"},
    {"cors_origins", "--cors-origins", "NSTD_CORS_ORIGINS", "cors_origins", CONFIG_STRING,
     FIELD(cors_origins), "", 0, 0, NULL, check_cors_origins, "LIST",
     "Origins allowed to call the API from a browser: empty for none, * for any, else "
     "comma-separated origins such as https://app.example.com.", NULL},
    {"base_path", "--base-path", "NSTD_BASE_PATH", "base_path", CONFIG_STRING, FIELD(base_path),
     "", 0, 0, NULL, check_base_path, "PATH",
     "Path prefix when served behind a reverse proxy, such as /nst; empty for none.", NULL},
    {"log_format", "--log-format", "NSTD_LOG_FORMAT", "log_format", CONFIG_ENUM,
     FIELD(log_format), "json", 0, 0, "json|text", NULL, "FORMAT",
     "Log lines on stderr: one JSON object per line, or plain text.", NULL},
    {"connection_timeout", "--connection-timeout", "NSTD_CONNECTION_TIMEOUT",
     "connection_timeout", CONFIG_SECONDS, FIELD(connection_timeout), "30", 1, 3600, NULL,
     NULL, "DURATION", "Idle HTTP connections are closed after this long.",
     "connection_timeout_s"},
    {"max_connections_per_ip", "--max-connections-per-ip", "NSTD_MAX_CONNECTIONS_PER_IP",
     "max_connections_per_ip", CONFIG_INT, FIELD(max_connections_per_ip), "32", 0, 100000,
     NULL, NULL, "N", "Open connections one client address may hold; 0: no limit.",
     "max_connections_per_ip"},
    {"rate_limit", "--rate-limit", "NSTD_RATE_LIMIT", "rate_limit", CONFIG_INT, FIELD(rate_limit),
     "20", 0, 1000000, NULL, NULL, "N",
     "Requests per second one client may make on average (a token bucket of --rate-burst); "
     "beyond it 429 rate_limited with Retry-After. /healthz, /readyz and /metrics are not "
     "counted. 0: no limit.",
     "rate_limit"},
    {"rate_burst", "--rate-burst", "NSTD_RATE_BURST", "rate_burst", CONFIG_INT,
     FIELD(rate_burst), "100", 1, 1000000, NULL, NULL, "N",
     "Requests one client may make at once above --rate-limit, after being idle.",
     "rate_burst"},
    {"rate_limit_clients", "--rate-limit-clients", "NSTD_RATE_LIMIT_CLIENTS",
     "rate_limit_clients", CONFIG_INT, FIELD(rate_limit_clients), "65536", 1, 16777216, NULL,
     NULL, "N",
     "Clients the rate limit keeps track of at once (about 90 bytes each); a client idle until "
     "its burst is whole again is forgotten, and beyond this many the longest idle is.",
     "rate_limit_clients"},
    {"http_threads", "--http-threads", "NSTD_HTTP_THREADS", "http_threads", CONFIG_INT,
     FIELD(http_threads), "4", 1, 256, NULL, NULL, "N", "Threads that answer HTTP requests.", NULL},
    {"http_nice", "--http-nice", "NSTD_HTTP_NICE", "http_nice", CONFIG_INT, FIELD(http_nice),
     "10", 0, 19, NULL, NULL, "N",
     "Niceness the HTTP threads add to the process's: under a flood of requests they then "
     "leave running jobs their cores (at 10 a busy HTTP thread gets about a tenth of a job "
     "thread's share), while requests to an idle server are answered at once. 0: the same "
     "priority as the jobs.", NULL},
    {"header_timeout", "--header-timeout", "NSTD_HEADER_TIMEOUT", "header_timeout",
     CONFIG_SECONDS, FIELD(header_timeout), "10", 1, 3600, NULL, NULL, "DURATION",
     "A request's headers must arrive within this long (from the connection, or from the end "
     "of the previous request plus --connection-timeout); slower connections are closed.",
     "header_timeout_s"},
    {"min_upload_rate", "--min-upload-rate", "NSTD_MIN_UPLOAD_RATE", "min_upload_rate",
     CONFIG_BYTES, FIELD(min_upload_rate), "4K", 0, 1 * GIB, NULL, NULL, "SIZE",
     "Slowest average a request body may arrive at, in bytes per second, after a grace of "
     "--header-timeout; slower uploads are closed. 0: no minimum.",
     "min_upload_rate"},
    {"max_connections", "--max-connections", "NSTD_MAX_CONNECTIONS", "max_connections",
     CONFIG_INT, FIELD(max_connections), "1000", 16, 1000000, NULL, NULL, "N",
     "Open HTTP connections in all; beyond that new ones get 503 with Retry-After. Lowered at "
     "start to fit the process's open-file limit.",
     "max_connections"},
    {"max_discard_bytes", "--max-discard-bytes", "NSTD_MAX_DISCARD_BYTES", "max_discard_bytes",
     CONFIG_BYTES, FIELD(max_discard_bytes), "64M", 0, 4 * GIB, NULL, NULL, "SIZE",
     "Body bytes read and dropped after a refusal (413, 415, 429, 503) so that the client, "
     "still sending, receives the answer; beyond that the connection is closed. 0: none.",
     "max_discard_bytes"},
    {"max_job_memory", "--max-job-memory", "NSTD_MAX_JOB_MEMORY", "max_job_memory",
     CONFIG_BYTES, FIELD(max_job_memory), "4G", 64 * MIB, 1024 * GIB, NULL, NULL, "SIZE",
     "Largest peak memory a job may need, as estimated from its parameters and image sizes "
     "before it is queued; larger jobs get 422 job_too_large.",
     "max_job_memory"},
    {"max_wait", "--max-wait", "NSTD_MAX_WAIT", "max_wait", CONFIG_SECONDS, FIELD(max_wait),
     "60", 0, 3600, NULL, NULL, "DURATION",
     "Longest a job submit with `Prefer: wait=N` is held for its job to end (longer waits are "
     "cut to this); 0: the preference is ignored. A reverse proxy's read timeout must be "
     "longer.",
     "max_wait_s"},
    {"config", "--config", "NSTD_CONFIG", NULL, CONFIG_STRING, FIELD(config_file), "", 0, 0,
     NULL, NULL, "FILE",
     "Read settings from this file of `key = value` lines (# starts a comment line).", NULL},
    {"trusted_proxies", "--trusted-proxies", "NSTD_TRUSTED_PROXIES", "trusted_proxies",
     CONFIG_STRING, FIELD(trusted_proxies), "", 0, 0, NULL, check_trusted_proxies, "LIST",
     "Reverse proxies whose X-Forwarded-For (else X-Real-IP) names the client: comma-separated "
     "IPv4/IPv6 addresses and CIDR ranges such as 127.0.0.1,10.0.0.0/8,fd00::/8; empty: trust "
     "none. The per-client limit (--max-connections-per-ip), logs and metrics then see the "
     "real client.", NULL},
    {"redis_url", "--redis-url", "NSTD_REDIS_URL", "redis_url", CONFIG_STRING, FIELD(redis_url),
     "", 0, 0, NULL, NULL, "URL",
     "Keep jobs and the queue in Redis so that several nstd processes share them: "
     "redis://[user:password@]host[:port][/db] or unix:///path/to.sock[?db=N]; empty: the "
     "embedded disk store under --data-dir (one process). A password is never published.", NULL},
    {"role", "--role", "NSTD_ROLE", "role", CONFIG_ENUM, FIELD(role), "all", 0, 0,
     "all|api|worker", NULL, "ROLE",
     "What this process does: all (the HTTP API and workers), api (the HTTP API only), worker "
     "(runs jobs; serves only /healthz, /readyz and /metrics). api and worker need --redis-url.",
     NULL},
    {"lease_renew", "--lease-renew", "NSTD_LEASE_RENEW", "lease_renew", CONFIG_SECONDS,
     FIELD(lease_renew), "2", 1, 3600, NULL, NULL, "DURATION",
     "With --redis-url: how often a worker renews the lease of each job it runs, and writes "
     "its heartbeat.", NULL},
    {"lease_timeout", "--lease-timeout", "NSTD_LEASE_TIMEOUT", "lease_timeout", CONFIG_SECONDS,
     FIELD(lease_timeout), "10", 2, 86400, NULL, NULL, "DURATION",
     "With --redis-url: a job whose lease was not renewed for this long (its worker died or "
     "hangs) is taken over by another worker, from its last checkpoint. More than --lease-renew.",
     NULL},
    {"max_attempts", "--max-attempts", "NSTD_MAX_ATTEMPTS", "max_attempts", CONFIG_INT,
     FIELD(max_attempts), "3", 1, 100, NULL, NULL, "N",
     "With --redis-url: runs a job may start (its first and each takeover after a lost lease); "
     "a job interrupted that often fails with error attempts_exhausted.", NULL},
    {"tokens_file", "--tokens-file", "NSTD_TOKENS_FILE", "tokens_file", CONFIG_STRING,
     FIELD(tokens_file), "", 0, 0, NULL, NULL, "FILE",
     "Bearer tokens, one `TOKEN NAME ROLE [QUOTA] [RATE]` line each (ROLE user or admin), "
     "reloaded on SIGHUP: the job routes then need Authorization: Bearer TOKEN, and a user "
     "sees only its own jobs. Empty: no tokens, every client may do everything.", NULL},
    {"token_queue_quota", "--token-queue-quota", "NSTD_TOKEN_QUEUE_QUOTA", "token_queue_quota",
     CONFIG_INT, FIELD(token_queue_quota), "4", 0, 100000, NULL, NULL, "N",
     "Queued and running jobs a token may have when its line names no quota; more get 429 "
     "quota_exceeded. 0: no limit.",
     "token_queue_quota"},
    {"token_rate_limit", "--token-rate-limit", "NSTD_TOKEN_RATE_LIMIT", "token_rate_limit",
     CONFIG_INT, FIELD(token_rate_limit), "600", 0, 1000000, NULL, NULL, "N",
     "Requests a minute a token may make when its line names no rate (bursts up to that "
     "many); more get 429 rate_limited. 0: no limit.",
     "token_rate_limit"},
    {"webhook_secret", "--webhook-secret", "NSTD_WEBHOOK_SECRET", "webhook_secret", CONFIG_STRING,
     FIELD(webhook_secret), "", 0, 0, NULL, check_webhook_secret, "SECRET",
     "The key that signs webhook deliveries (Standard Webhooks, HMAC-SHA256): whsec_ followed "
     "by the key in base64, or any other text used as the key's bytes. Empty: jobs that ask "
     "for a webhook are refused (422 webhooks_disabled). Never published.", NULL},
    {"webhook_allow", "--webhook-allow", "NSTD_WEBHOOK_ALLOW", "webhook_allow", CONFIG_STRING,
     FIELD(webhook_allow), "", 0, 0, NULL, check_webhook_allow, "LIST",
     "Webhook targets permitted although their address is loopback, private, link-local or "
     "otherwise not public: comma-separated IP addresses, CIDR ranges and host names such as "
     "127.0.0.1,10.0.0.0/8,hooks.internal. Empty: webhooks reach public addresses only.", NULL},
    {"webhook_timeout", "--webhook-timeout", "NSTD_WEBHOOK_TIMEOUT", "webhook_timeout",
     CONFIG_SECONDS, FIELD(webhook_timeout), "10", 1, 300, NULL, NULL, "DURATION",
     "Time one webhook attempt may take, from connecting to the receiver's answer.",
     "webhook_timeout_s"},
    {"webhook_max_attempts", "--webhook-max-attempts", "NSTD_WEBHOOK_MAX_ATTEMPTS",
     "webhook_max_attempts", CONFIG_INT, FIELD(webhook_max_attempts), "5", 1, 20, NULL, NULL, "N",
     "Attempts of one webhook message (the first included), 1, 2, 4, 8 … s apart (at most 60 s); "
     "then it is given up (log event webhook_failed). The job is never affected.",
     "webhook_max_attempts"},
    {"webhook_queue_size", "--webhook-queue-size", "NSTD_WEBHOOK_QUEUE_SIZE",
     "webhook_queue_size", CONFIG_INT, FIELD(webhook_queue_size), "1000", 1, 100000, NULL, NULL,
     "N",
     "Webhook messages a process keeps waiting; when full, the oldest progress event is "
     "dropped first (log event webhook_dropped).",
     "webhook_queue_size"},
    {"webhook_progress_ms", "--webhook-progress-ms", "NSTD_WEBHOOK_PROGRESS_MS",
     "webhook_progress_ms", CONFIG_INT, FIELD(webhook_progress_ms), "500", 0, 3600000, NULL, NULL,
     "MS", "Least time in milliseconds between two progress webhooks of one job.",
     "webhook_progress_ms"},
    {"webhook_max_url", "--webhook-max-url", "NSTD_WEBHOOK_MAX_URL", "webhook_max_url",
     CONFIG_INT, FIELD(webhook_max_url), "2048", 16, 65536, NULL, NULL, "N",
     "Longest webhook URL accepted, in bytes.",
     "webhook_max_url"},
};

#define N_SETTINGS (sizeof settings / sizeof settings[0])

const config_setting *config_settings(size_t *n)
{
    *n = N_SETTINGS;
    return settings;
}

/* Lookups by each of a row's names; NULL when there is none. */
static const config_setting *find_by_flag(const char *flag, size_t len)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strlen(settings[i].flag) == len && strncmp(settings[i].flag, flag, len) == 0)
            return &settings[i];
    return NULL;
}

static const config_setting *find_by_key(const char *key)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (settings[i].file_key && strcmp(settings[i].file_key, key) == 0) return &settings[i];
    return NULL;
}

static const config_setting *find_by_name(const char *name)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].name, name) == 0) return &settings[i];
    return NULL;
}

/* ================================================================ units
 * Numbers may carry a unit suffix. Each numeric type has its table; the
 * first row (empty suffix) is the plain number. */

typedef struct {
    const char *suffix;
    long factor;
} unit;

static const unit no_units[] = {{"", 1}, {NULL, 0}};
static const unit byte_units[] = {{"", 1},         {"K", KIB}, {"KiB", KIB}, {"M", MIB},
                                  {"MiB", MIB},    {"G", GIB}, {"GiB", GIB}, {NULL, 0}};
static const unit second_units[] = {{"", 1},      {"s", 1},      {"m", 60},
                                    {"h", 3600},  {"d", DAY},    {NULL, 0}};

static const unit *units_of(config_type t)
{
    switch (t) {
    case CONFIG_BYTES: return byte_units;
    case CONFIG_SECONDS: return second_units;
    default: return no_units;
    }
}

/* Parse a decimal integer with an optional suffix from `units`. Byte
 * suffixes ignore case; "m" is minutes and "M" mebibytes only because they
 * live in different tables. 0, or -1 when it is not such a number. */
static int parse_number(const char *text, const unit *units, long *out)
{
    if (!isdigit((unsigned char)text[0]) && !(text[0] == '-' && isdigit((unsigned char)text[1])))
        return -1;
    errno = 0;
    char *end;
    long v = strtol(text, &end, 10);
    if (errno == ERANGE) return -1;
    for (const unit *u = units; u->suffix; u++) {
        if (strcasecmp(end, u->suffix) != 0) continue;
        if (v > LONG_MAX / u->factor || v < LONG_MIN / u->factor) return -1;
        *out = v * u->factor;
        return 0;
    }
    return -1;
}

/* A number in its largest exact unit ("32M", "1d", "8080"), for --help and
 * messages. */
static void format_number(char *buf, size_t len, long v, config_type t)
{
    const unit *best = NULL;
    for (const unit *u = units_of(t); u->suffix; u++)
        if (u->factor > 1 && v != 0 && v % u->factor == 0 && strlen(u->suffix) == 1 &&
            (!best || u->factor > best->factor))
            best = u;
    if (best)
        snprintf(buf, len, "%ld%s", v / best->factor, best->suffix);
    else
        snprintf(buf, len, "%ld%s", v, t == CONFIG_SECONDS ? "s" : "");
}

/* What a value of this row must be: the tail of every "invalid value"
 * message, and the range column of --help. */
static void describe_rule(const config_setting *s, char *buf, size_t len)
{
    char lo[32], hi[32];
    format_number(lo, sizeof lo, s->min, s->type);
    format_number(hi, sizeof hi, s->max, s->type);
    switch (s->type) {
    case CONFIG_INT:
    case CONFIG_LONG:
        snprintf(buf, len, "must be an integer between %s and %s", lo, hi);
        break;
    case CONFIG_BYTES:
        snprintf(buf, len, "must be a size in bytes between %s and %s (suffix K, M or G allowed)",
                 lo, hi);
        break;
    case CONFIG_SECONDS:
        snprintf(buf, len,
                 "must be a duration between %s and %s (seconds, or suffix s, m, h or d)", lo, hi);
        break;
    case CONFIG_STRING:
        if (s->min > 0)
            snprintf(buf, len, "must be between %ld and %zu characters long", s->min, s->size - 1);
        else
            snprintf(buf, len, "must be at most %zu characters long", s->size - 1);
        break;
    case CONFIG_ENUM: {
        int n = snprintf(buf, len, "must be one of ");
        const char *c = s->choices;
        while (*c && n > 0 && (size_t)n < len) {
            size_t w = strcspn(c, "|");
            n += snprintf(buf + n, len - n, "%.*s%s", (int)w, c, c[w] ? ", " : "");
            c += w + (c[w] != 0);
        }
        break;
    }
    }
}

/* ================================================================ extra rules */

static const char *check_bind(char *value)
{
    unsigned char addr[16];
    if (inet_pton(AF_INET, value, addr) == 1 || inet_pton(AF_INET6, value, addr) == 1)
        return NULL;
    return "must be an IPv4 or IPv6 address such as 0.0.0.0, 127.0.0.1 or ::";
}

/* A prefix the router strips: "" or "/seg/seg", with URL-safe segments. */
static const char *check_base_path(char *value)
{
    static const char *rule = "must be empty or start with '/' and not end with '/' "
                              "(such as /nst; letters, digits and - _ . ~ between slashes)";
    if (!value[0]) return NULL;
    size_t n = strlen(value);
    if (value[0] != '/' || value[n - 1] == '/' || strstr(value, "//")) return rule;
    for (const char *p = value; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/-_.~", *p)) return rule;
    return NULL;
}

/* "", "*" or comma-separated "scheme://host[:port]" origins, exactly as a
 * browser sends them in the Origin header. Spaces after the commas are
 * dropped so the HTTP layer can compare byte for byte. */
static const char *check_cors_origins(char *value)
{
    static const char *rule = "must be empty, '*', or comma-separated origins such as "
                              "https://app.example.com (scheme and host, no path)";
    char *w = value;
    for (const char *r = value; *r; r++)
        if (*r != ' ' && *r != '\t') *w++ = *r;
    *w = 0;
    if (!value[0] || strcmp(value, "*") == 0) return NULL;
    for (const char *p = value;;) {
        size_t n = strcspn(p, ",");
        size_t scheme = strncmp(p, "https://", 8) == 0 ? 8 : strncmp(p, "http://", 7) == 0 ? 7 : 0;
        if (!scheme || n == scheme || memchr(p + scheme, '/', n - scheme)) return rule;
        if (!p[n]) return NULL;
        p += n + 1;
    }
}

/* Addresses and CIDR ranges (config/netaddr.h). */
static const char *check_trusted_proxies(char *value)
{
    static _Thread_local char msg[320];
    netaddr_range r[NETADDR_MAX_RANGES];
    char err[128];
    if (netaddr_ranges_parse(value, r, NETADDR_MAX_RANGES, err, sizeof err) >= 0) return NULL;
    snprintf(msg, sizeof msg, "must be comma-separated IP addresses or CIDR ranges such as "
             "127.0.0.1,10.0.0.0/8,fd00::/8: %s", err);
    return msg;
}

/* Empty, whsec_ and base64 (the Standard Webhooks form), or a plain secret. */
static const char *check_webhook_secret(char *value)
{
    if (strncmp(value, "whsec_", 6) != 0) return NULL;
    const char *b = value + 6;
    size_t n = strlen(b), pad = 0, ok = n > 0 && n % 4 == 0;
    for (size_t i = 0; ok && i < n; i++) {
        char c = b[i];
        if (c == '=') pad++;
        else if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '+' || c == '/'))
            ok = 0;
    }
    return ok && pad <= 2 ? NULL : "after whsec_ must come the key in base64 (A-Z a-z 0-9 + /, "
                                   "padded with = to a multiple of 4 characters)";
}

/* Addresses, CIDR ranges and host names (config/webhook_allow.h). */
static const char *check_webhook_allow(char *value)
{
    static _Thread_local char msg[320];
    static _Thread_local webhook_allow w;
    char err[160];
    if (webhook_allow_parse(value, &w, err, sizeof err) == 0) return NULL;
    snprintf(msg, sizeof msg, "must be comma-separated IP addresses, CIDR ranges or host names "
             "such as 127.0.0.1,10.0.0.0/8,hooks.internal: %s", err);
    return msg;
}

/* ================================================================ applying a value */

typedef enum { FROM_DEFAULT, FROM_FILE, FROM_ENV, FROM_FLAG } origin_kind;

typedef struct {
    origin_kind kind;
    const char *file; /* FROM_FILE */
    int line;
} origin;

/* The setting named as the user wrote it, then its other names:
 * "--port (NSTD_PORT)", "NSTD_PORT (--port)",
 * "port in nstd.conf line 3 (--port, NSTD_PORT)". */
static void describe_setting(const config_setting *s, const origin *o, char *buf, size_t len)
{
    switch (o->kind) {
    case FROM_FLAG: snprintf(buf, len, "%s (%s)", s->flag, s->env); break;
    case FROM_ENV: snprintf(buf, len, "%s (%s)", s->env, s->flag); break;
    case FROM_FILE:
        snprintf(buf, len, "%s in %s line %d (%s, %s)", s->file_key, o->file, o->line, s->flag,
                 s->env);
        break;
    case FROM_DEFAULT: snprintf(buf, len, "the default of %s", s->flag); break;
    }
}

/* Parse `value` by the row's type, check it, and store it in cfg. The one
 * place where values are interpreted. 0, or -1 with a message in err. */
static int config_apply(nstd_config *cfg, const config_setting *s, const char *value,
                        const origin *o, char *err, size_t errlen)
{
    char *field = (char *)cfg + s->offset;
    char rule[256];
    const char *why = NULL;
    size_t len = strlen(value);
    long v;

    switch (s->type) {
    case CONFIG_INT:
    case CONFIG_LONG:
    case CONFIG_BYTES:
    case CONFIG_SECONDS:
        if (parse_number(value, units_of(s->type), &v) != 0 || v < s->min || v > s->max) break;
        if (s->type == CONFIG_LONG || s->type == CONFIG_BYTES)
            *(long *)field = v;
        else
            *(int *)field = (int)v;
        return 0;
    case CONFIG_ENUM:
        for (const char *c = s->choices; *c;) {
            size_t w = strcspn(c, "|");
            if (w == len && strncmp(c, value, w) == 0) {
                memcpy(field, value, len + 1);
                return 0;
            }
            c += w + (c[w] != 0);
        }
        break;
    case CONFIG_STRING: {
        if ((long)len < s->min || len >= s->size) break;
        char prev[sizeof(nstd_config)]; /* room for any field */
        snprintf(prev, sizeof prev, "%s", field);
        memcpy(field, value, len + 1);
        if (s->check && (why = s->check(field)) != NULL) {
            snprintf(field, s->size, "%s", prev);
            break;
        }
        return 0;
    }
    }

    if (!why) {
        describe_rule(s, rule, sizeof rule);
        why = rule;
    }
    char name[700];
    describe_setting(s, o, name, sizeof name);
    if (err && strcmp(s->metavar, "SECRET") == 0)   /* a secret is never repeated */
        snprintf(err, errlen, "invalid value for %s: %s", name, why);
    else if (err)
        snprintf(err, errlen, "invalid value '%.*s' for %s: %s", VALUE_QUOTE_MAX, value, name,
                 why);
    return -1;
}

void config_defaults(nstd_config *cfg)
{
    static const origin def = {FROM_DEFAULT, NULL, 0};
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_SETTINGS; i++)
        config_apply(cfg, &settings[i], settings[i].def, &def, NULL, 0);
}

int config_set(nstd_config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    static const origin flag = {FROM_FLAG, NULL, 0};
    const config_setting *s = find_by_name(name);
    if (!s) {
        if (err) snprintf(err, errlen, "unknown setting '%s'", name);
        return -1;
    }
    return config_apply(cfg, s, value, &flag, err, errlen);
}

/* ================================================================ did you mean */

/* " (did you mean --port?)" for a near miss among the flags or file keys. */
static void suggest(const char *wrong, int by_flag, char *buf, size_t len)
{
    const char *names[N_SETTINGS]; /* NULL for a setting without a file key */
    for (size_t i = 0; i < N_SETTINGS; i++)
        names[i] = by_flag ? settings[i].flag : settings[i].file_key;
    const char *best = nst_suggest(wrong, names, N_SETTINGS, 0);
    if (best)
        snprintf(buf, len, " (did you mean %s?)", best);
    else
        snprintf(buf, len, "%s", by_flag ? " (see nstd --help)" : "");
}

/* ================================================================ sources */

/* The value of NAME in a NULL-terminated "NAME=value" array, or NULL. */
static const char *env_get(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) *--end = 0;
    return s;
}

/* Apply a config file: `key = value` lines; blank lines and lines whose
 * first non-blank character is # are skipped; a value may be wrapped in
 * double quotes to keep surrounding spaces or to be empty. */
static int load_file(nstd_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    while (rc == 0 && getline(&buf, &cap, f) >= 0) {
        lineno++;
        char *line = trim(buf);
        if (!*line || *line == '#') continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            snprintf(err, errlen, "%s line %d: expected `key = value`, got '%.*s'", path,
                     lineno, QUOTE_MAX, line);
            rc = -1;
            break;
        }
        *eq = 0;
        char *key = trim(line), *value = trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
            value[vlen - 1] = 0;
            value++;
        }
        const config_setting *s = find_by_key(key);
        if (!s) {
            char hint[64];
            suggest(key, 0, hint, sizeof hint);
            snprintf(err, errlen, "%s line %d: unknown setting '%.*s'%s", path, lineno,
                     QUOTE_MAX, key, hint);
            rc = -1;
            break;
        }
        origin o = {FROM_FILE, path, lineno};
        rc = config_apply(cfg, s, value, &o, err, errlen);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
        rc = -1;
    }
    free(buf);
    fclose(f);
    return rc;
}

typedef enum { OPT_SETTING, OPT_HELP, OPT_VERSION, OPT_ERROR } opt_kind;

/* Read the option at argv[*i] ("--port 8080", "--port=8080", "--help") and
 * advance *i past it. For a setting, *s and *value are filled. */
static opt_kind next_option(int argc, char **argv, int *i, const config_setting **s,
                            const char **value, char *err, size_t errlen)
{
    const char *arg = argv[(*i)++];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) return OPT_HELP;
    if (strcmp(arg, "--version") == 0) return OPT_VERSION;
    if (strncmp(arg, "--", 2) != 0 || arg[2] == 0) {
        snprintf(err, errlen, "unexpected argument '%.*s' (options look like --port 8080; "
                              "see nstd --help)", QUOTE_MAX, arg);
        return OPT_ERROR;
    }
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    *s = find_by_flag(arg, n);
    if (!*s) {
        char name[QUOTE_MAX + 1], hint[64];
        snprintf(name, sizeof name, "%.*s", (int)n, arg);
        suggest(name, 1, hint, sizeof hint);
        snprintf(err, errlen, "unknown option %s%s", name, hint);
        return OPT_ERROR;
    }
    if (eq) {
        *value = eq + 1;
    } else if (*i < argc) {
        *value = argv[(*i)++];
    } else {
        snprintf(err, errlen, "missing value for %s (%s): expected %s %s", (*s)->flag, (*s)->env,
                 (*s)->flag, (*s)->metavar);
        return OPT_ERROR;
    }
    return OPT_SETTING;
}

int config_load(nstd_config *cfg, int argc, char **argv, char **envp, FILE *out, char *err,
                size_t errlen)
{
    const config_setting *s;
    const char *value;
    const char *config_path = env_get(envp, "NSTD_CONFIG");

    config_defaults(cfg);

    /* First pass over the command line: syntax, --help, --version, and
     * which config file to read (a flag beats the environment). */
    for (int i = 1; i < argc;) {
        switch (next_option(argc, argv, &i, &s, &value, err, errlen)) {
        case OPT_HELP: config_print_help(out); return 1;
        case OPT_VERSION: fprintf(out, "nstd %s\n", NST_VERSION); return 1;
        case OPT_ERROR: return -1;
        case OPT_SETTING:
            if (s->offset == offsetof(nstd_config, config_file)) config_path = value;
            break;
        }
    }

    if (config_path && *config_path && load_file(cfg, config_path, err, errlen) != 0) return -1;

    origin env = {FROM_ENV, NULL, 0};
    for (size_t k = 0; k < N_SETTINGS; k++) {
        value = env_get(envp, settings[k].env);
        if (value && config_apply(cfg, &settings[k], value, &env, err, errlen) != 0) return -1;
    }

    origin flag = {FROM_FLAG, NULL, 0};
    for (int i = 1; i < argc;) {
        next_option(argc, argv, &i, &s, &value, err, errlen); /* checked above */
        if (config_apply(cfg, s, value, &flag, err, errlen) != 0) return -1;
    }
    return check_together(cfg, err, errlen);
}

/* Rules between settings, once all are in. */
static int check_together(const nstd_config *cfg, char *err, size_t errlen)
{
    if (strcmp(cfg->role, "all") != 0 && !cfg->redis_url[0]) {
        snprintf(err, errlen,
                 "role (--role, NSTD_ROLE): %s needs a shared store: set redis_url (--redis-url, "
                 "NSTD_REDIS_URL)",
                 cfg->role);
        return -1;
    }
    if (cfg->lease_timeout <= cfg->lease_renew) {
        snprintf(err, errlen,
                 "lease_timeout (--lease-timeout, NSTD_LEASE_TIMEOUT): %ds must be more than "
                 "lease_renew (%ds)",
                 cfg->lease_timeout, cfg->lease_renew);
        return -1;
    }
    return 0;
}

/* ================================================================ --help */

/* Print text from column `indent`, wrapped at word boundaries before column
 * HELP_WIDTH. */
static void print_wrapped(FILE *out, const char *text, int indent)
{
    int col = 0;
    while (*text) {
        size_t w = strcspn(text, " ");
        if (col > indent && col + 1 + (int)w > HELP_WIDTH) {
            fputc('\n', out);
            col = 0;
        }
        if (col == 0) col = fprintf(out, "%*s", indent, "");
        else col += fprintf(out, " ");
        col += fprintf(out, "%.*s", (int)w, text);
        text += w;
        while (*text == ' ') text++;
    }
    fputc('\n', out);
}

void config_print_help(FILE *out)
{
    fprintf(out,
            "Usage: nstd [OPTION]...\n"
            "Neural style transfer as an HTTP service (version %s).\n"
            "\n"
            "Every option can also be set by its environment variable or by a `key = value`\n"
            "line in the file named by --config. A flag overrides the environment, which\n"
            "overrides the file, which overrides the default. Sizes accept a K, M or G\n"
            "suffix (powers of 1024); durations are seconds or take s, m, h or d.\n"
            "\n"
            "Options:\n",
            NST_VERSION);
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const config_setting *s = &settings[i];
        char left[96], text[400], rule[256], key[64];
        snprintf(left, sizeof left, "%s %s", s->flag, s->metavar);
        fprintf(out, "  %-*s %s\n", HELP_OPTION_WIDTH, left, s->env);
        switch (s->type) {
        case CONFIG_STRING: rule[0] = 0; break;
        case CONFIG_ENUM: snprintf(rule, sizeof rule, "; one of %s", s->choices); break;
        default: {
            char lo[32], hi[32];
            format_number(lo, sizeof lo, s->min, s->type);
            format_number(hi, sizeof hi, s->max, s->type);
            snprintf(rule, sizeof rule, "; range %s to %s", lo, hi);
        }
        }
        if (s->file_key)
            snprintf(key, sizeof key, "; file key %s", s->file_key);
        else
            snprintf(key, sizeof key, "; not settable in the file");
        snprintf(text, sizeof text, "%s Default: %s%s%s%s%s.", s->help, s->def[0] ? "" : "\"",
                 s->def, s->def[0] ? "" : "\"", rule, key);
        print_wrapped(out, text, HELP_INDENT);
    }
    fprintf(out, "  %-*s print this help and exit\n", HELP_OPTION_WIDTH, "-h, --help");
    fprintf(out, "  %-*s print the version and exit\n", HELP_OPTION_WIDTH, "--version");
}

/* ================================================================ JSON view */

#define CONFIG_SHOWN_MAX 600   /* a published URL, password hidden */

/* url with the password of its user:password@ part as "***" (in shown),
 * or url itself when it has none. */
static const char *hide_password(const char *url, char shown[CONFIG_SHOWN_MAX])
{
    const char *scheme = strstr(url, "://");
    const char *start = scheme ? scheme + 3 : url;
    const char *at = strchr(start, '@');
    const char *colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
    if (!colon) return url;
    snprintf(shown, CONFIG_SHOWN_MAX, "%.*s***%s", (int)(colon + 1 - url), url, at);
    return shown;
}

/* The value of a number setting s in cfg. */
static double number_value(const config_setting *s, const nstd_config *cfg)
{
    const char *field = (const char *)cfg + s->offset;
    return s->type == CONFIG_INT || s->type == CONFIG_SECONDS ? *(const int *)field
                                                              : (double)*(const long *)field;
}

cJSON *config_limits_json(const nstd_config *cfg)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < N_SETTINGS; i++)
        if (settings[i].published &&
            !cJSON_AddNumberToObject(o, settings[i].published, number_value(&settings[i], cfg))) {
            cJSON_Delete(o);
            o = NULL;
        }
    return o;
}

char *config_to_json(const nstd_config *cfg)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    for (size_t i = 0; ok && i < N_SETTINGS; i++) {
        const config_setting *s = &settings[i];
        const char *field = (const char *)cfg + s->offset;
        switch (s->type) {
        case CONFIG_INT:
        case CONFIG_SECONDS:
        case CONFIG_LONG:
        case CONFIG_BYTES:
            ok = cJSON_AddNumberToObject(o, s->name, number_value(s, cfg)) != NULL;
            break;
        case CONFIG_STRING:
        case CONFIG_ENUM: {
            char shown[CONFIG_SHOWN_MAX];
            const char *v = strcmp(s->metavar, "URL") == 0      ? hide_password(field, shown)
                            : strcmp(s->metavar, "SECRET") == 0 ? (field[0] ? "***" : "")
                                                                 : field;
            ok = cJSON_AddStringToObject(o, s->name, v) != NULL;
            break;
        }
        }
    }
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}
