/*
 * redis_server.h — a real redis-server for the Redis store's tests: started
 * by the test on a free port of 127.0.0.1 and a Unix socket in a temporary
 * directory (no persistence), stopped on every way out (call
 * redis_server_init first, from main). Static functions: include it once,
 * in a test's main file.
 */
#ifndef NSTD_TEST_REDIS_SERVER_H
#define NSTD_TEST_REDIS_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "store.h"
#include "test.h"

#define REDIS_SERVER "/usr/bin/redis-server"
#define START_WAIT_MS 10000
#define STOP_WAIT_MS 5000
#define RACE_ROUNDS 20

static char dir[512], sock_path[600], url[128], log_path[600];
static int port;
static pid_t server = -1;
static redisContext *raw_c;   /* the test's own connection, for looking at keys */

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int p = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        p = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return p;
}

static void raw_close(void)
{
    if (raw_c) redisFree(raw_c);
    raw_c = NULL;
}

/* A raw command's reply (caller frees); NULL when the server is not there. */
static redisReply *raw(const char *fmt, ...)
{
    if (!raw_c) {
        struct timeval tv = {1, 0};
        raw_c = redisConnectWithTimeout("127.0.0.1", port, tv);
        if (!raw_c || raw_c->err) {
            raw_close();
            return NULL;
        }
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(raw_c, fmt, ap);
    va_end(ap);
    if (!r) raw_close();
    return r;
}

static void server_stop(void)
{
    raw_close();
    if (server <= 0) return;
    kill(server, SIGTERM);
    int waited = 0;
    while (waitpid(server, NULL, WNOHANG) == 0) {
        if (waited >= STOP_WAIT_MS) {
            kill(server, SIGKILL);
            waitpid(server, NULL, 0);
            break;
        }
        sleep_ms(20);
        waited += 20;
    }
    server = -1;
}

/* Start redis-server on port and the socket; 0 once it answers PING. */
static int server_start(void)
{
    if (access(REDIS_SERVER, X_OK) != 0) {
        CHECK(0, "%s not found: install the Debian package redis-server (scripts/test does)",
              REDIS_SERVER);
        return -1;
    }
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    fflush(NULL);
    server = fork();
    if (server < 0) return -1;
    if (server == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* never outlive a crashed test */
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(REDIS_SERVER, REDIS_SERVER, "--port", port_text, "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--dir", dir, "--unixsocket", sock_path, "--unixsocketperm",
              "700", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    for (int waited = 0; waited < START_WAIT_MS; waited += 50) {
        if (waitpid(server, NULL, WNOHANG) == server) {
            server = -1;
            CHECK(0, "redis-server exited at start: see %s", log_path);
            return -1;
        }
        redisReply *r = raw("PING");
        int up = r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG");
        freeReplyObject(r);
        if (up) return 0;
        sleep_ms(50);
    }
    CHECK(0, "redis-server did not answer PING in %d ms: see %s", START_WAIT_MS, log_path);
    server_stop();
    return -1;
}

static store *open_url(const char *u)
{
    store *s = NULL;
    char err[512] = "";
    CHECK(store_redis_open(&s, u, err, sizeof err) == 0, "store_redis_open %s: %s", u, err);
    return s;
}

static store *open_store(void)
{
    return open_url(url);
}

/* Name the server's directory, socket, log and URL after the test; the
 * server stops at exit. */
static void redis_server_init(const char *test)
{
    const char *tmp = getenv("NST_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/%s.%d", tmp && *tmp ? tmp : "/tmp", test, (int)getpid());
    if (strlen(dir) > 80)   /* a Unix socket path is at most 107 bytes */
        snprintf(dir, sizeof dir, "/tmp/%s.%d", test, (int)getpid());
    mkdir(dir, 0700);
    snprintf(sock_path, sizeof sock_path, "%s/redis.sock", dir);
    snprintf(log_path, sizeof log_path, "%s/redis.log", dir);
    signal(SIGPIPE, SIG_DFL);   /* the store must cope without nstd's SIG_IGN */
    port = free_port();
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    atexit(server_stop);
}

/* Remove the server's files after a run without failures. */
static void redis_server_tidy(void)
{
    server_stop();
    if (test_failures_) return;
    unlink(sock_path);
    unlink(log_path);
    rmdir(dir);
}

#endif
