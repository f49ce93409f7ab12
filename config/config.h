/*
 * config.h — every nstd setting in one table (config.c): flag, environment
 * variable, config-file key, type, default, limits and help. Parsing of the
 * command line, the environment and the file, validation, and `nstd --help`
 * all read that table, so a new setting is one row there plus its field here.
 *
 * Precedence: flag > environment > file > default.
 */
#ifndef NSTD_CONFIG_H
#define NSTD_CONFIG_H

#include <stdio.h>

typedef struct {
    char bind[64];              /* NSTD_BIND, --bind (0.0.0.0) */
    int port;                   /* NSTD_PORT, --port (8080) */
    char data_dir[512];         /* NSTD_DATA_DIR, --data-dir (./data) */
    char model[512];            /* NSTD_MODEL, --model ("" = models/vgg19.safetensors
                                   when present, else embedded vgg19-random) */
    int workers;                /* NSTD_WORKERS, --workers (1) */
    int job_threads;           /* NSTD_JOB_THREADS, --job-threads: threads per job (0 = cores / workers) */
    int queue_size;             /* NSTD_QUEUE_SIZE, --queue-size (16): queued jobs */
    long max_upload_bytes;      /* NSTD_MAX_UPLOAD_BYTES, --max-upload-bytes (32 MiB), whole request */
    int max_image_size;         /* NSTD_MAX_IMAGE_SIZE, --max-image-size (1024): image_size limit */
    int preview_max_size;       /* NSTD_PREVIEW_MAX_SIZE, --preview-max-size (1024): preview's longest side */
    int checkpoint_interval;    /* NSTD_CHECKPOINT_INTERVAL, --checkpoint-interval (60 s): a large job's full-size checkpoints */
    long min_free_disk;         /* NSTD_MIN_FREE_DISK, --min-free-disk (64 MiB): store's free space floor */
    long max_input_pixels;      /* NSTD_MAX_INPUT_PIXELS, --max-input-pixels (50e6): uploaded image w*h */
    int max_iterations;         /* NSTD_MAX_ITERATIONS, --max-iterations (2000) */
    int max_styles;             /* NSTD_MAX_STYLES, --max-styles (4) */
    int job_ttl;                /* NSTD_JOB_TTL, --job-ttl (86400 s), finished jobs */
    char cors_origins[1024];    /* NSTD_CORS_ORIGINS, --cors-origins ("" = no CORS; "*" = any;
                                   else comma-separated origins) */
    char base_path[256];        /* NSTD_BASE_PATH, --base-path ("" ; e.g. "/nst") */
    char log_format[16];        /* NSTD_LOG_FORMAT, --log-format (json | text) */
    int connection_timeout;     /* NSTD_CONNECTION_TIMEOUT, --connection-timeout (30 s) */
    int max_connections_per_ip; /* NSTD_MAX_CONNECTIONS_PER_IP, --max-connections-per-ip (32) */
    int rate_limit;             /* NSTD_RATE_LIMIT, --rate-limit (20 requests/s per client; 0 = off) */
    int rate_burst;             /* NSTD_RATE_BURST, --rate-burst (100): requests at once */
    int rate_limit_clients;     /* NSTD_RATE_LIMIT_CLIENTS, --rate-limit-clients (65536): clients
                                   the rate limit remembers */
    int http_threads;           /* NSTD_HTTP_THREADS, --http-threads (4) */
    int http_nice;              /* NSTD_HTTP_NICE, --http-nice (10): HTTP threads' niceness above
                                   the workers' */
    int header_timeout;         /* NSTD_HEADER_TIMEOUT, --header-timeout (10 s): a request's headers */
    long min_upload_rate;       /* NSTD_MIN_UPLOAD_RATE, --min-upload-rate (4K bytes/s; 0 = none) */
    int max_connections;        /* NSTD_MAX_CONNECTIONS, --max-connections (1000; lowered to fit
                                   the open-file limit at start) */
    long max_discard_bytes;     /* NSTD_MAX_DISCARD_BYTES, --max-discard-bytes (64 MiB): body read
                                   and dropped to deliver an early refusal (0 = none) */
    long max_job_memory;        /* NSTD_MAX_JOB_MEMORY, --max-job-memory (4 GiB): a job's estimated peak */
    int max_wait;               /* NSTD_MAX_WAIT, --max-wait (60 s; 0 = Prefer: wait ignored):
                                   longest a POST /v1/jobs is held for its job to end */
    char config_file[512];      /* NSTD_CONFIG, --config: optional file of key = value lines */
    char trusted_proxies[1024]; /* NSTD_TRUSTED_PROXIES, --trusted-proxies ("" = none): peers
                                   whose X-Forwarded-For / X-Real-IP name the client */
    char redis_url[512];        /* NSTD_REDIS_URL, --redis-url ("" = the disk store) */
    char role[16];              /* NSTD_ROLE, --role (all | api | worker) */
    int lease_renew;            /* NSTD_LEASE_RENEW, --lease-renew (2 s) */
    int lease_timeout;          /* NSTD_LEASE_TIMEOUT, --lease-timeout (10 s) */
    int max_attempts;           /* NSTD_MAX_ATTEMPTS, --max-attempts (3) */
    char tokens_file[512];      /* NSTD_TOKENS_FILE, --tokens-file ("" = open access): bearer
                                   tokens (config/tokens.h), reloaded on SIGHUP */
    int token_queue_quota;      /* NSTD_TOKEN_QUEUE_QUOTA, --token-queue-quota (4; 0 = none):
                                   a token's queued + running jobs, unless its line says */
    int token_rate_limit;       /* NSTD_TOKEN_RATE_LIMIT, --token-rate-limit (600 a minute;
                                   0 = none): a token's requests, unless its line says */
    char webhook_secret[256];   /* NSTD_WEBHOOK_SECRET, --webhook-secret ("" = webhooks refused):
                                   whsec_<base64 key> or a plain secret; never published */
    char webhook_allow[1024];   /* NSTD_WEBHOOK_ALLOW, --webhook-allow (""): hosts, addresses and
                                   CIDR ranges webhooks may reach although not public */
    int webhook_timeout;        /* NSTD_WEBHOOK_TIMEOUT, --webhook-timeout (10 s): one attempt */
    int webhook_max_attempts;   /* NSTD_WEBHOOK_MAX_ATTEMPTS, --webhook-max-attempts (5) */
    int webhook_queue_size;     /* NSTD_WEBHOOK_QUEUE_SIZE, --webhook-queue-size (1000): messages
                                   waiting in this process */
    int webhook_progress_ms;    /* NSTD_WEBHOOK_PROGRESS_MS, --webhook-progress-ms (500): least
                                   time between two progress events of a job */
    int webhook_max_url;        /* NSTD_WEBHOOK_MAX_URL, --webhook-max-url (2048 bytes) */
} nstd_config;

/* Defaults of every setting. */
void config_defaults(nstd_config *cfg);

/* Fill cfg from defaults, the file named by --config/NSTD_CONFIG, the
 * environment (envp, NULL-terminated "NAME=value" strings) and argv, in
 * that order of increasing precedence.
 * Returns 0 on success; 1 when --help or --version was given (text already
 * written to `out`, caller exits 0); -1 on an invalid setting, with a message
 * naming the setting (flag or variable) and the allowed range in err. */
int config_load(nstd_config *cfg, int argc, char **argv, char **envp, FILE *out, char *err,
                size_t errlen);

/* Write `nstd --help` (generated from the table) to out. */
void config_print_help(FILE *out);

/* The settings as a JSON object text (for /v1/info and the start-up log);
 * malloc'd, caller free()s. */
char *config_to_json(const nstd_config *cfg);

/* ------------------------------------------------------------------ the table
 * One row per setting, exposed read-only so that tests and tools can walk it
 * (every flag appears in --help, every default validates, …). */

typedef enum {
    CONFIG_INT,     /* int field; min..max */
    CONFIG_LONG,    /* long field; min..max */
    CONFIG_BYTES,   /* long field; optional K, M or G suffix (powers of 1024) */
    CONFIG_SECONDS, /* int field; optional s, m, h or d suffix */
    CONFIG_STRING,  /* char[] field; min is the least length, the field size the most */
    CONFIG_ENUM     /* char[] field; one of `choices` ("json|text") */
} config_type;

typedef struct {
    const char *name;     /* key in config_to_json: "data_dir" */
    const char *flag;     /* "--data-dir" */
    const char *env;      /* "NSTD_DATA_DIR" */
    const char *file_key; /* key in the config file; NULL: not settable there */
    config_type type;
    size_t offset;        /* of the field in nstd_config */
    size_t size;          /* of the field */
    const char *def;      /* default, as text, parsed like any other value */
    long min, max;        /* numbers: inclusive range; strings: min length */
    const char *choices;  /* CONFIG_ENUM: '|'-separated */
    /* Extra rule, or NULL. May rewrite the stored value in place (only
     * shortening it); returns NULL when it is fine, else what it must be. */
    const char *(*check)(char *value);
    const char *metavar;  /* placeholder in --help: "N", "PATH" */
    const char *help;     /* one sentence or two */
    const char *published; /* a limit GET /v1/info lists: its key under "limits"
                              (NULL: not listed); numbers only */
} config_setting;

/* The table (static storage) and its number of rows in *n. */
const config_setting *config_settings(size_t *n);

/* The published settings (config_setting.published) with their values in
 * cfg, as a JSON object for GET /v1/info's "limits"; NULL when out of
 * memory. The caller owns it (cJSON_Delete). */
struct cJSON *config_limits_json(const nstd_config *cfg);

/* Fill cfg with the value `value` of one setting as if it came from the flag.
 * For tools and tests; 0, or -1 with the same message config_load gives. */
int config_set(nstd_config *cfg, const char *name, const char *value, char *err, size_t errlen);

#endif
