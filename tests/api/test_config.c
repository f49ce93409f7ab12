/*
 * test_config.c — the settings table and everything it drives: defaults,
 * config file, environment and flags with their precedence, the messages
 * for bad values, --help, --version and the JSON view.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "nst.h"
#include "test.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static char err[1024];

/* Write a config file under the test directory; returns its path (static). */
static const char *write_file(const char *name, const char *text)
{
    static char path[1024];
    const char *dir = getenv("NST_TEST_TMP");
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/tmp", name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

/* config_load with argv and envp, output captured into a malloc'd string
 * (*out, may be NULL). */
static int load(nstd_config *cfg, int argc, char **argv, char **envp, char **out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    err[0] = 0;
    int rc = config_load(cfg, argc, argv, envp, f, err, sizeof err);
    fclose(f);
    if (out)
        *out = buf;
    else
        free(buf);
    return rc;
}

static void test_defaults(void)
{
    nstd_config c;
    config_defaults(&c);
    CHECK(strcmp(c.bind, "0.0.0.0") == 0, "bind %s", c.bind);
    CHECK(c.port == 8080, "port %d", c.port);
    CHECK(strcmp(c.data_dir, "./data") == 0, "data_dir %s", c.data_dir);
    CHECK(c.model[0] == 0, "model %s", c.model);
    CHECK(c.workers == 1, "workers %d", c.workers);
    CHECK(c.job_threads == 0, "job_threads %d", c.job_threads);
    CHECK(c.queue_size == 16, "queue_size %d", c.queue_size);
    CHECK(c.max_upload_bytes == 32L * 1024 * 1024, "max_upload_bytes %ld", c.max_upload_bytes);
    CHECK(c.max_image_size == 1024, "max_image_size %d", c.max_image_size);
    CHECK(c.max_input_pixels == 50000000L, "max_input_pixels %ld", c.max_input_pixels);
    CHECK(c.max_iterations == 2000, "max_iterations %d", c.max_iterations);
    CHECK(c.max_styles == 4, "max_styles %d", c.max_styles);
    CHECK(c.job_ttl == 86400, "job_ttl %d", c.job_ttl);
    CHECK(c.cors_origins[0] == 0, "cors_origins %s", c.cors_origins);
    CHECK(c.base_path[0] == 0, "base_path %s", c.base_path);
    CHECK(strcmp(c.log_format, "json") == 0, "log_format %s", c.log_format);
    CHECK(c.connection_timeout == 30, "connection_timeout %d", c.connection_timeout);
    CHECK(c.max_connections_per_ip == 32, "max_connections_per_ip %d", c.max_connections_per_ip);
    CHECK(c.http_threads == 4, "http_threads %d", c.http_threads);
    CHECK(c.config_file[0] == 0, "config_file %s", c.config_file);

    /* No arguments, no environment: exactly the defaults. */
    nstd_config l;
    char *argv[] = {"nstd", NULL};
    char *envp[] = {NULL};
    CHECK(load(&l, 1, argv, envp, NULL) == 0, "%s", err);
    CHECK(memcmp(&c, &l, sizeof c) == 0, "load without input differs from defaults");
}

/* Every row is well-formed and its default passes its own rules. */
static void test_table(void)
{
    size_t n;
    const config_setting *t = config_settings(&n);
    CHECK(n >= 20, "%zu settings", n);
    for (size_t i = 0; i < n; i++) {
        CHECK(strncmp(t[i].flag, "--", 2) == 0, "%s flag %s", t[i].name, t[i].flag);
        CHECK(strncmp(t[i].env, "NSTD_", 5) == 0, "%s env %s", t[i].name, t[i].env);
        CHECK(t[i].help && strlen(t[i].help) > 10, "%s has no help", t[i].name);
        nstd_config c;
        config_defaults(&c);
        CHECK(config_set(&c, t[i].name, t[i].def, err, sizeof err) == 0, "default of %s: %s",
              t[i].name, err);
        for (size_t j = 0; j < i; j++) {
            CHECK(strcmp(t[i].flag, t[j].flag) != 0, "duplicate flag %s", t[i].flag);
            CHECK(strcmp(t[i].env, t[j].env) != 0, "duplicate env %s", t[i].env);
        }
    }
}

static void test_precedence(void)
{
    const char *path = write_file("test_config_precedence.conf",
                                  "# nstd settings\n"
                                  "\n"
                                  "port = 9000\n"
                                  "  workers=3  \n"
                                  "   # indented comment\n"
                                  "log_format = text\n"
                                  "max_upload_bytes = 8M\n"
                                  "job_ttl = 2h\n"
                                  "base_path = \"/nst\"\n"
                                  "cors_origins = https://a.example, http://b.example:8080\n"
                                  "model = \"\"\n");
    char envconf[1100];
    snprintf(envconf, sizeof envconf, "NSTD_CONFIG=%s", path);
    nstd_config c;

    /* file only */
    char *argv0[] = {"nstd", NULL};
    char *env0[] = {envconf, "HOME=/root", NULL};
    CHECK(load(&c, 1, argv0, env0, NULL) == 0, "%s", err);
    CHECK(c.port == 9000, "port %d", c.port);
    CHECK(c.workers == 3, "workers %d", c.workers);
    CHECK(strcmp(c.log_format, "text") == 0, "log_format %s", c.log_format);
    CHECK(c.max_upload_bytes == 8L << 20, "max_upload_bytes %ld", c.max_upload_bytes);
    CHECK(c.job_ttl == 7200, "job_ttl %d", c.job_ttl);
    CHECK(strcmp(c.base_path, "/nst") == 0, "base_path %s", c.base_path);
    CHECK(strcmp(c.cors_origins, "https://a.example,http://b.example:8080") == 0,
          "cors_origins %s", c.cors_origins);
    CHECK(strcmp(c.config_file, path) == 0, "config_file %s", c.config_file);

    /* env overrides file */
    char *env1[] = {"NSTD_PORT=9001", envconf, "NSTD_UNRELATED=1", "NSTD_BIN=/x", NULL};
    CHECK(load(&c, 1, argv0, env1, NULL) == 0, "%s", err);
    CHECK(c.port == 9001, "port %d", c.port);
    CHECK(c.workers == 3, "workers %d (from the file)", c.workers);

    /* flag overrides env, in both spellings */
    char *argv2[] = {"nstd", "--port", "9002", "--workers=5", "--bind=127.0.0.1", NULL};
    CHECK(load(&c, ARGC(argv2), argv2, env1, NULL) == 0, "%s", err);
    CHECK(c.port == 9002, "port %d", c.port);
    CHECK(c.workers == 5, "workers %d", c.workers);
    CHECK(strcmp(c.bind, "127.0.0.1") == 0, "bind %s", c.bind);
    CHECK(strcmp(c.log_format, "text") == 0, "log_format %s (from the file)", c.log_format);

    /* --config names the file without the environment; a flag beats NSTD_CONFIG */
    char *argv3[] = {"nstd", "--config", (char *)path, NULL};
    char *env3[] = {"NSTD_CONFIG=/nonexistent/nstd.conf", NULL};
    CHECK(load(&c, ARGC(argv3), argv3, env3, NULL) == 0, "%s", err);
    CHECK(c.port == 9000, "port %d", c.port);

    /* an empty value is a value: it overrides the file's */
    char *env4[] = {envconf, "NSTD_BASE_PATH=", NULL};
    CHECK(load(&c, 1, argv0, env4, NULL) == 0, "%s", err);
    CHECK(c.base_path[0] == 0, "base_path %s", c.base_path);
    char *argv5[] = {"nstd", "--base-path=", NULL};
    CHECK(load(&c, ARGC(argv5), argv5, env0, NULL) == 0, "%s", err);
    CHECK(c.base_path[0] == 0, "base_path %s", c.base_path);
}

static void test_units(void)
{
    static const struct {
        const char *name, *value;
        long want;
    } cases[] = {
        {"max_upload_bytes", "1024", 1024},         {"max_upload_bytes", "512K", 512L << 10},
        {"max_upload_bytes", "64MiB", 64L << 20},    {"max_upload_bytes", "2g", 2L << 30},
        {"job_ttl", "90", 90},                        {"job_ttl", "15m", 900},
        {"job_ttl", "7d", 7 * 86400},                 {"connection_timeout", "1h", 3600},
        {"max_input_pixels", "1000000", 1000000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nstd_config c;
        config_defaults(&c);
        CHECK(config_set(&c, cases[i].name, cases[i].value, err, sizeof err) == 0, "%s=%s: %s",
              cases[i].name, cases[i].value, err);
        long got = strcmp(cases[i].name, "max_upload_bytes") == 0   ? c.max_upload_bytes
                   : strcmp(cases[i].name, "max_input_pixels") == 0 ? c.max_input_pixels
                   : strcmp(cases[i].name, "job_ttl") == 0          ? c.job_ttl
                                                                    : c.connection_timeout;
        CHECK(got == cases[i].want, "%s=%s gives %ld, want %ld", cases[i].name, cases[i].value,
              got, cases[i].want);
    }
}

/* Each bad value fails with a message naming the flag, its variable and the rule. */
static void test_invalid(void)
{
    nstd_config c;
    char *env0[] = {NULL};

    char *argv1[] = {"nstd", "--port", "abc", NULL};
    CHECK(load(&c, ARGC(argv1), argv1, env0, NULL) == -1, "accepted --port abc");
    CHECK(strcmp(err, "invalid value 'abc' for --port (NSTD_PORT): must be an integer between 1 "
                      "and 65535") == 0,
          "message: %s", err);

    static const struct {
        const char *flag, *value, *expect;
    } cases[] = {
        {"--port", "0", "between 1 and 65535"},
        {"--port", "65536", "between 1 and 65535"},
        {"--port", "80x", "integer"},
        {"--port", "", "integer"},
        {"--port", " 80", "integer"},
        {"--workers", "0", "--workers (NSTD_WORKERS)"},
        {"--job-threads", "-1", "--job-threads (NSTD_JOB_THREADS)"},
        {"--queue-size", "99999999999999999999", "--queue-size"},
        {"--max-upload-bytes", "12Q", "suffix K, M or G"},
        {"--max-upload-bytes", "100", "between 1K and 4G"},
        {"--max-upload-bytes", "5G", "between 1K and 4G"},
        {"--max-image-size", "8", "--max-image-size (NSTD_MAX_IMAGE_SIZE)"},
        {"--max-input-pixels", "1e6", "--max-input-pixels"},
        {"--max-iterations", "0", "--max-iterations"},
        {"--max-styles", "17", "between 1 and 16"},
        {"--job-ttl", "1w", "--job-ttl (NSTD_JOB_TTL): must be a duration"},
        {"--connection-timeout", "0", "--connection-timeout"},
        {"--max-connections-per-ip", "-5", "--max-connections-per-ip"},
        {"--http-threads", "0", "--http-threads"},
        {"--log-format", "xml", "--log-format (NSTD_LOG_FORMAT): must be one of json, text"},
        {"--bind", "localhost", "--bind (NSTD_BIND): must be an IPv4 or IPv6 address"},
        {"--bind", "", "--bind"},
        {"--data-dir", "", "--data-dir (NSTD_DATA_DIR)"},
        {"--base-path", "/nst/", "--base-path (NSTD_BASE_PATH): must be empty or start with '/'"},
        {"--cors-origins", "https://a.example/", "--cors-origins"},
        {"--cors-origins", "a.example", "--cors-origins"},
        {"--cors-origins", "https://a.example,,https://b.example", "--cors-origins"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[] = {"nstd", (char *)cases[i].flag, (char *)cases[i].value, NULL};
        CHECK(load(&c, 3, argv, env0, NULL) == -1, "accepted %s '%s'", cases[i].flag,
              cases[i].value);
        CHECK(strstr(err, cases[i].expect) && strstr(err, cases[i].flag), "%s '%s': %s",
              cases[i].flag, cases[i].value, err);
    }

    /* a model path longer than the field */
    char longv[700];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    char *argv2[] = {"nstd", "--model", longv, NULL};
    CHECK(load(&c, 3, argv2, env0, NULL) == -1, "accepted a 699-character model path");
    CHECK(strstr(err, "at most 511 characters"), "%s", err);

    /* from the environment: named by its variable first */
    char *argv0[] = {"nstd", NULL};
    char *env1[] = {"NSTD_PORT=abc", NULL};
    CHECK(load(&c, 1, argv0, env1, NULL) == -1, "accepted NSTD_PORT=abc");
    CHECK(strncmp(err, "invalid value 'abc' for NSTD_PORT (--port)", 42) == 0, "%s", err);

    /* from the file: file and line */
    const char *path = write_file("test_config_invalid.conf", "port = 80\nworkers = many\n");
    char *argv3[] = {"nstd", "--config", (char *)path, NULL};
    CHECK(load(&c, 3, argv3, env0, NULL) == -1, "accepted workers = many");
    CHECK(strstr(err, "'many'") && strstr(err, "workers in ") && strstr(err, "line 2") &&
              strstr(err, "--workers"),
          "%s", err);

    /* a bad value in a lower source fails even when a higher one sets the setting */
    char *argv4[] = {"nstd", "--port", "80", NULL};
    CHECK(load(&c, 3, argv4, env1, NULL) == -1, "NSTD_PORT=abc hidden by --port");
}

static void test_unknown(void)
{
    nstd_config c;
    char *env0[] = {NULL};

    char *argv1[] = {"nstd", "--prot", "80", NULL};
    CHECK(load(&c, 3, argv1, env0, NULL) == -1, "accepted --prot");
    CHECK(strstr(err, "unknown option --prot") && strstr(err, "did you mean --port?"), "%s",
          err);

    char *argv2[] = {"nstd", "--frobnicate=1", NULL};
    CHECK(load(&c, 2, argv2, env0, NULL) == -1, "accepted --frobnicate");
    CHECK(strstr(err, "unknown option --frobnicate"), "%s", err);

    char *argv3[] = {"nstd", "serve", NULL};
    CHECK(load(&c, 2, argv3, env0, NULL) == -1, "accepted a positional argument");
    CHECK(strstr(err, "'serve'"), "%s", err);

    char *argv4[] = {"nstd", "--port", NULL};
    CHECK(load(&c, 2, argv4, env0, NULL) == -1, "accepted --port without value");
    CHECK(strstr(err, "missing value for --port"), "%s", err);

    const char *path = write_file("test_config_unknown.conf", "port = 80\nwokers = 2\n");
    char *argv5[] = {"nstd", "--config", (char *)path, NULL};
    CHECK(load(&c, 3, argv5, env0, NULL) == -1, "accepted file key wokers");
    CHECK(strstr(err, "line 2") && strstr(err, "unknown setting 'wokers'") &&
              strstr(err, "did you mean workers?"),
          "%s", err);

    path = write_file("test_config_syntax.conf", "port 80\n");
    char *argv6[] = {"nstd", "--config", (char *)path, NULL};
    CHECK(load(&c, 3, argv6, env0, NULL) == -1, "accepted a line without =");
    CHECK(strstr(err, "line 1") && strstr(err, "key = value"), "%s", err);

    path = write_file("test_config_self.conf", "config = /etc/other.conf\n");
    char *argv7[] = {"nstd", "--config", (char *)path, NULL};
    CHECK(load(&c, 3, argv7, env0, NULL) == -1, "a config file named another one");

    char *argv8[] = {"nstd", "--config", "/nonexistent/nstd.conf", NULL};
    CHECK(load(&c, 3, argv8, env0, NULL) == -1, "accepted a missing config file");
    CHECK(strstr(err, "/nonexistent/nstd.conf"), "%s", err);
}

static void test_base_path(void)
{
    static const struct {
        const char *value;
        int ok;
    } cases[] = {
        {"", 1},       {"/nst", 1},  {"/a/b-c_d.e~f", 1}, {"/", 0},        {"/nst/", 0},
        {"nst", 0},    {"//nst", 0}, {"/a//b", 0},         {"/a b", 0},     {"/a?b", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nstd_config c;
        config_defaults(&c);
        int rc = config_set(&c, "base_path", cases[i].value, err, sizeof err);
        CHECK((rc == 0) == cases[i].ok, "base_path '%s': rc %d (%s)", cases[i].value, rc, err);
        if (cases[i].ok) CHECK(strcmp(c.base_path, cases[i].value) == 0, "%s", c.base_path);
        if (!cases[i].ok) CHECK(c.base_path[0] == 0, "rejected value stored: %s", c.base_path);
    }
}

static void test_help_version(void)
{
    nstd_config c;
    char *env0[] = {NULL};
    char *out = NULL;

    char *argv1[] = {"nstd", "--port", "1", "--help", NULL};
    CHECK(load(&c, ARGC(argv1), argv1, env0, &out) == 1, "--help did not return 1");
    size_t n;
    const config_setting *t = config_settings(&n);
    for (size_t i = 0; i < n; i++) {
        CHECK(strstr(out, t[i].flag), "--help lacks %s", t[i].flag);
        CHECK(strstr(out, t[i].env), "--help lacks %s", t[i].env);
    }
    CHECK(strstr(out, "Default: 8080; range 1 to 65535; file key port."), "--help lacks the port's default");
    CHECK(strstr(out, "32M"), "--help lacks the upload default");
    CHECK(strstr(out, "--version"), "--help lacks --version");
    for (char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : 0)
        CHECK(strcspn(line, "\n") <= 79, "help line too long: %.*s", (int)strcspn(line, "\n"),
              line);
    free(out);

    char *argv2[] = {"nstd", "-h", NULL};
    CHECK(load(&c, 2, argv2, env0, NULL) == 1, "-h did not return 1");

    char *argv3[] = {"nstd", "--version", NULL};
    CHECK(load(&c, 2, argv3, env0, &out) == 1, "--version did not return 1");
    CHECK(strcmp(out, "nstd " NST_VERSION "\n") == 0, "--version printed '%s'", out);
    free(out);
}

static void test_json(void)
{
    nstd_config c;
    config_defaults(&c);
    CHECK(config_set(&c, "cors_origins", "*", err, sizeof err) == 0, "%s", err);
    char *text = config_to_json(&c);
    cJSON *o = cJSON_Parse(text);
    CHECK(o != NULL, "config_to_json is not JSON: %s", text);
    size_t n;
    const config_setting *t = config_settings(&n);
    for (size_t i = 0; o && i < n; i++)
        CHECK(cJSON_GetObjectItemCaseSensitive(o, t[i].name), "JSON lacks %s", t[i].name);
    cJSON *port = cJSON_GetObjectItemCaseSensitive(o, "port");
    CHECK(cJSON_IsNumber(port) && port->valueint == 8080, "port in JSON");
    cJSON *up = cJSON_GetObjectItemCaseSensitive(o, "max_upload_bytes");
    CHECK(cJSON_IsNumber(up) && up->valuedouble == 33554432.0, "max_upload_bytes in JSON");
    cJSON *cors = cJSON_GetObjectItemCaseSensitive(o, "cors_origins");
    CHECK(cJSON_IsString(cors) && strcmp(cors->valuestring, "*") == 0, "cors_origins in JSON");
    cJSON_Delete(o);
    free(text);
}

int main(void)
{
    TEST_RUN(test_defaults);
    TEST_RUN(test_table);
    TEST_RUN(test_precedence);
    TEST_RUN(test_units);
    TEST_RUN(test_invalid);
    TEST_RUN(test_unknown);
    TEST_RUN(test_base_path);
    TEST_RUN(test_help_version);
    TEST_RUN(test_json);
    return TEST_EXIT();
}
