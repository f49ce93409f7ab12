/*
 * fuzz_multipart.c — libFuzzer target for the body of POST /v1/jobs: any
 * bytes as multipart/form-data, read by api/upload.c and checked by the
 * submit handler (parts, images, params).
 *
 * The upload code reads the body through libmicrohttpd's post processor,
 * which exists only on a live connection. So the target starts a real nstd
 * HTTP daemon in-process, once: 127.0.0.1 on a free port, a store in a
 * fresh temporary directory, tiny limits (3 KiB bodies, 64×64
 * pixels, 2 styles). Each input is sent over loopback as the chunked body of
 * a POST with a fixed boundary (BOUNDARY), and the server must answer with a
 * status line: 202, or 400, 413 or 422 with an error object. When the
 * connection ends without an answer, /healthz must still answer. An accepted
 * job is deleted at once; the job manager decodes stored inputs under a
 * 1-pixel limit, so such a job fails at once instead of running a transfer.
 *
 * The server logs each request on stderr: run with -close_fd_mask=2 (the
 * ctest does) to keep only libFuzzer's and the sanitizers' output.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "httpd.h"
#include "jobs.h"
#include "log.h"

#define BOUNDARY "nstdfuzzboundary"
#define MAX_UPLOAD 3072
#define RESPONSE_MAX 65536

static nstd_config cfg;
static char data_dir[512];
static FILE *report;   /* our own messages; stderr may be closed by libFuzzer */

static void fail(const char *what, const char *response)
{
    FILE *out = report ? report : stderr;
    fprintf(out, "fuzz_multipart: %s\n%s\n", what, response ? response : "");
    fflush(out);
    abort();
}

/* ------------------------------------------------------------ the server */

/* A port nothing listens on now (a race with other programs is possible,
 * so start_server tries a few). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void remove_data_dir(void)
{
    nftw(data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void start_server(void)
{
    char err[512];
    const char *tmp = getenv("NST_TEST_TMP");
    snprintf(data_dir, sizeof data_dir, "%s/fuzz-multipart-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(data_dir)) fail("cannot create a data directory", data_dir);
    atexit(remove_data_dir);

    config_defaults(&cfg);
    snprintf(cfg.bind, sizeof cfg.bind, "127.0.0.1");
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", data_dir);
    cfg.max_upload_bytes = MAX_UPLOAD;
    cfg.max_input_pixels = 64 * 64;
    cfg.max_image_size = 64;
    cfg.max_iterations = 10;
    cfg.max_styles = 2;
    cfg.queue_size = 64;
    cfg.workers = 1;
    cfg.http_threads = 1;
    cfg.connection_timeout = 10;
    cfg.max_connections_per_ip = 0;
    cfg.rate_limit = 0;   /* the fuzzer sends requests as fast as it can */
    log_init("text");

    static nst_model *model;
    static store *st;
    static jobs *jb;
    static api *a;
    static httpd *h;
    nst_error e;
    if (nst_model_random(&model, &e) != NST_OK) fail("nst_model_random", e.message);
    if (store_disk_open(&st, data_dir, err, sizeof err) < 0) fail("store_open", err);
    jobs_config jc = {.workers = 1, .job_threads = 1, .queue_size = cfg.queue_size,
                      .job_ttl = 3600, .max_input_pixels = 1,   /* stored jobs fail at once */
                      .limits = {cfg.max_iterations, cfg.max_image_size}};
    if (jobs_start(&jb, &jc, st, NULL, model, err, sizeof err) < 0) fail("jobs_start", err);
    api_deps deps = {.cfg = &cfg, .jobs = jb, .store = st, .metrics = metrics_create(), .model = model};
    if (api_create(&a, &deps) < 0) fail("api_create", NULL);
    for (int tries = 0; tries < 20 && !h; tries++) {
        cfg.port = free_port();
        if (cfg.port > 0 && httpd_start(&h, &cfg, a, err, sizeof err) < 0) h = NULL;
    }
    if (!h) fail("httpd_start", err);
}

/* ------------------------------------------------------------ the client */

/* Send request (head, then body as one chunk when chunked) on a new
 * connection and read the answer until the server closes. The answer's
 * length, or -1 when nothing came back. */
static int exchange(const char *head, const uint8_t *body, size_t len, int chunked, char *resp)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail("socket", strerror(errno));
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) fail("connect", strerror(errno));

    /* The server may answer and close before it has read everything:
     * failed sends are expected, the answer is what counts. */
    char size[32];
    int n = chunked && len ? snprintf(size, sizeof size, "%zx\r\n", len) : 0;
    send(fd, head, strlen(head), MSG_NOSIGNAL);
    send(fd, size, (size_t)n, MSG_NOSIGNAL);
    if (len) send(fd, body, len, MSG_NOSIGNAL);
    if (chunked) send(fd, len ? "\r\n0\r\n\r\n" : "0\r\n\r\n", len ? 7 : 5, MSG_NOSIGNAL);

    int got = 0;
    for (;;) {
        ssize_t k = recv(fd, resp + got, RESPONSE_MAX - 1 - got, 0);
        if (k <= 0) break;
        got += (int)k;
        if (got == RESPONSE_MAX - 1) break;
    }
    close(fd);
    resp[got] = 0;
    return got ? got : -1;
}

/* The status of an HTTP/1.x answer, 0 when it has no status line. */
static int status_of(const char *resp)
{
    int status = 0;
    if (strncmp(resp, "HTTP/1.", 7) != 0 || sscanf(resp + 8, " %3d", &status) != 1) return 0;
    return status;
}

/* A request without a body; its status (0: no answer). */
static int simple(const char *method, const char *path, char *resp)
{
    char head[256];
    snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n",
             method, path);
    return exchange(head, NULL, 0, 0, resp) < 0 ? 0 : status_of(resp);
}

/* Delete an accepted job: a queued one is canceled first, then removed. */
static void delete_job(const char *resp)
{
    const char *id = strstr(resp, "\"id\":\"");
    if (!id || strspn(id + 6, "0123456789abcdef") != JOB_ID_LEN) fail("202 without a job id", resp);
    char path[64], *answer = malloc(RESPONSE_MAX);
    snprintf(path, sizeof path, "/v1/jobs/%.*s", JOB_ID_LEN, id + 6);
    int status = 0;
    for (int tries = 0; tries < 1000; tries++) {
        status = simple("DELETE", path, answer);
        if (status == 204 || status == 404) break;
        if (status != 200 && status != 202) fail("DELETE of an accepted job", answer);
        usleep(1000);
    }
    if (status != 204 && status != 404) fail("an accepted job would not go away", answer);
    free(answer);
}

/* ------------------------------------------------------------ the target */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int fd = dup(2);
    report = fd >= 0 ? fdopen(fd, "w") : NULL;
    signal(SIGPIPE, SIG_IGN);
    start_server();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *resp;
    if (!resp && !(resp = malloc(RESPONSE_MAX))) abort();
    static const char head[] = "POST /v1/jobs HTTP/1.1\r\n"
                               "Host: fuzz\r\n"
                               "Content-Type: multipart/form-data; boundary=" BOUNDARY "\r\n"
                               "Transfer-Encoding: chunked\r\n"
                               "Connection: close\r\n\r\n";
    if (exchange(head, data, size, 1, resp) < 0) {
        /* No answer at all (a reset can swallow it): the server must live on. */
        if (simple("GET", "/healthz", resp) != 200) fail("the server stopped answering", resp);
        return 0;
    }
    int status = status_of(resp);
    if (status == 202) {
        delete_job(resp);
    } else if (status == 400 || status == 413 || status == 422) {
        if (!strstr(resp, "{\"error\":{\"code\":\"")) fail("an error without an error object", resp);
    } else {
        fail("unexpected answer", resp);
    }
    return 0;
}
