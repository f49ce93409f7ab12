/*
 * api.h — the HTTP API of nstd (DESIGN §4) as libmicrohttpd callbacks.
 *
 * The daemon (api/httpd.c) passes every request to api_access and every
 * finished request to api_completed; everything in between — routing,
 * CORS, the base path, multipart uploads, JSON views, the error model,
 * Server-Sent Events, access log and request metrics — lives in api/.
 * The API drives the job manager (server/jobs.h) and never touches the
 * engine's compute side.
 *
 * Server-Sent Events park their connection (MHD suspend) while nothing is
 * new; a pump thread started by api_create resumes them when jobs change.
 * So the daemon must be started with MHD_ALLOW_SUSPEND_RESUME, and
 * api_begin_shutdown must be called (it ends every stream) before the
 * daemon is stopped.
 */
#ifndef NSTD_API_H
#define NSTD_API_H

#include <microhttpd.h>

#include "config.h"
#include "jobs.h"
#include "metrics.h"
#include "nst.h"
#include "store.h"
#include "tokens.h"

/* What the API serves from; all borrowed, all must outlive the api. */
typedef struct {
    const nstd_config *cfg;
    jobs *jobs;
    store *store;
    metrics *metrics;
    const nst_model *model;
    tokens_table *tokens;       /* taken by api_create (freed with the api, also when
                                   it fails); NULL: no tokens file, open access */
    webhooks *hooks;            /* checks a submit's webhook; NULL: webhooks refused */
} api_deps;

typedef struct api api;

/* Caller frees with api_free (after the daemon stopped). 0 or -1. */
int api_create(api **out, const api_deps *deps);
void api_free(api *a);

/* MHD_AccessHandlerCallback and MHD_RequestCompletedCallback; cls is the api. */
enum MHD_Result api_access(void *cls, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **req_cls);
void api_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                   enum MHD_RequestTerminationCode toe);

/* MHD_OPTION_URI_LOG_CALLBACK (cls is the api): looks at the raw request
 * target before libmicrohttpd decodes it, for api_access. */
void *api_uri_log(void *cls, const char *uri, struct MHD_Connection *conn);

/* Re-read the tokens file (SIGHUP): 0 and the number of tokens in *n;
 * -1 with a message naming the file and line in err, the tokens in force
 * staying; 1 when the service runs without a tokens file. */
int api_reload_tokens(api *a, size_t *n, char *err, size_t errlen);

/* The job as GET /v1/jobs/{id} shows it (a webhook_render_fn; user is the
 * api). Caller owns it; NULL out of memory. */
cJSON *api_job_json(void *user, const job_info *job);

/* Refuse new jobs (503) and end every event stream. */
void api_begin_shutdown(api *a);
/* Number of event streams and held submits (Prefer: wait) still open (the
 * daemon waits for 0 before it stops, since a parked connection must not
 * outlive the daemon). */
int api_open_streams(api *a);

#endif
