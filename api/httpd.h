/*
 * httpd.h — the libmicrohttpd daemon of nstd: listening socket, thread pool,
 * connection limits and timeouts, wired to the API's callbacks (api/api.h).
 */
#ifndef NSTD_HTTPD_H
#define NSTD_HTTPD_H

#include <stddef.h>

#include "api.h"
#include "config.h"

typedef struct httpd httpd;

/* Fit cfg->max_connections to the open-file limit (raising the soft limit
 * to the hard one first): 1 when it was lowered, with why in note; else 0.
 * Call before the settings are published. */
int httpd_fit_limits(nstd_config *cfg, char *note, size_t notelen);
/* Listen on cfg->bind:cfg->port with cfg->http_threads threads. a is
 * borrowed. On failure -1 and a message in err. Caller frees with httpd_stop. */
int httpd_start(httpd **out, const nstd_config *cfg, api *a, char *err, size_t errlen);
/* Stop accepting connections; open ones are still served. */
void httpd_quiesce(httpd *h);
/* End event streams (waiting up to wait_ms for them to close) and stop the
 * daemon; frees h. */
void httpd_stop(httpd *h, int wait_ms);

#endif
