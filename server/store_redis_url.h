/*
 * store_redis_url.h — where the Redis store connects: its URL, parsed.
 *
 *   redis://[user:password@]host[:port][/db]   TCP; port 6379 and db 0 by
 *                                              default; ":password@" for a
 *                                              password alone; user and
 *                                              password may be %XX-encoded;
 *                                              an IPv6 host in [brackets]
 *   unix:///path/to.sock[?db=N]                a Unix socket, absolute path
 *
 * Anything else is refused with a message that names the problem (never
 * the password). Not here: connecting (store_redis_conn.c).
 */
#ifndef NSTD_STORE_REDIS_URL_H
#define NSTD_STORE_REDIS_URL_H

#include <stddef.h>

#define STORE_REDIS_PORT 6379

typedef struct {
    int is_unix;          /* 1: path is a Unix socket; 0: host and port */
    char host[256];
    int port;
    char path[108];       /* sizeof sockaddr_un.sun_path */
    char user[128];       /* "": none (AUTH password, or no AUTH) */
    char password[256];   /* "": no AUTH */
    int db;               /* SELECT when not 0 */
} store_redis_url;

/* Parse url into *out. 0, or -1 with a message in err. */
int store_redis_url_parse(const char *url, store_redis_url *out, char *err, size_t errlen);

#endif
