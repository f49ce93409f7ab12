/*
 * auth.h — access control with bearer tokens (--tokens-file), for api/:
 * who a request is from, whether its token may make one more request this
 * minute, and whether it may queue one more job. Without a tokens file
 * every request passes as nobody in particular (the open service).
 *
 * The table of tokens (config/tokens.h) is replaced whole by auth_reload
 * (SIGHUP); what each token has used — its rate budget and the submits it
 * has in flight — is kept by name across reloads. Not for use outside api/.
 */
#ifndef NSTD_API_AUTH_H
#define NSTD_API_AUTH_H

#include <stddef.h>

#include "jobs.h"
#include "tokens.h"

typedef struct api_auth api_auth;

/* Who a request is from: a copy, valid whatever reloads happen. */
typedef struct {
    int known;                  /* tokens are on and the request named a listed token */
    char name[TOKENS_NAME_SIZE];
    token_role role;
    int queue_quota;            /* 0: no limit */
    int rate_limit;             /* requests a minute; 0: no limit */
} auth_principal;

typedef enum {
    AUTH_OK = 0,                /* tokens off, or a known token within its rate */
    AUTH_MISSING,               /* tokens on, no Authorization: Bearer header */
    AUTH_INVALID,               /* a bearer token that is not listed, or malformed */
    AUTH_RATE_LIMITED           /* a known token over its rate; *retry_after_s set */
} auth_result;

/* table (taken, NULL: open access) was read from path; the defaults are
 * for reloads. 0, or -1 out of memory (table freed). */
int auth_create(api_auth **out, tokens_table *table, const char *path, int default_quota,
                int default_rate);
void auth_free(api_auth *a);

/* 1 when a tokens file is in force. */
int auth_enabled(api_auth *a);

/* Check the Authorization header's value (NULL when absent), fill *who and
 * spend one request of the token's rate. */
auth_result auth_check(api_auth *a, const char *authorization, auth_principal *who,
                       int *retry_after_s);

/* Re-read the tokens file. 0 and the number of tokens in *n, or -1 with a
 * message in err (the old table stays); 1 when there is no tokens file. */
int auth_reload(api_auth *a, size_t *n, char *err, size_t errlen);

/* Before a submit, against who's queue quota: its queued and running jobs
 * plus its submits in flight. 1: under the quota, and this submit now
 * counts as in flight until auth_submit_end (call it once the job is in
 * the job table, or refused); 0: no quota applies (no token, or none set);
 * -1: at the quota (*active gets the count). */
int auth_submit_begin(api_auth *a, const auth_principal *who, jobs *jb, int *active);
void auth_submit_end(api_auth *a, const auth_principal *who);

#endif
