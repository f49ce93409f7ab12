/*
 * routes.h — the route table: every operation of the HTTP API in one row.
 * The router dispatches from it, api/openapi.c builds the document's
 * "paths" from it, and tests/api/test_openapi.c and
 * tests/integration/test_routes.sh check the two against each other and
 * against the running server. Adding a route is one row in routes.c plus
 * its handler.
 */
#ifndef NSTD_API_ROUTES_H
#define NSTD_API_ROUTES_H

#include <stddef.h>

#include "internal.h"

/* JSON written as macro arguments: the preprocessor's # operator turns the
 * tokens into one string literal, escaping every quote, so the JSON needs
 * no backslashes and reads like the document it becomes. Whitespace
 * collapses to single spaces on the way. */
#define JSON(...) #__VA_ARGS__

struct api_route {
    const char *method;         /* "GET", "POST", "DELETE"; GET also answers HEAD */
    const char *path;           /* template; "{id}" stands for one path segment
                                   (a job id: the router answers 404 when malformed) */
    api_handler fn;
    int body;                   /* the handler reads a request body */
    int auth;                   /* with a tokens file, the route needs a bearer token
                                   (401, 429 rate_limited) and a user's token reaches
                                   only its own jobs; the document adds the security
                                   requirement */
    int exempt;                 /* not rate limited (probes and scrapes of
                                   orchestrators); every other operation lists
                                   429 rate_limited */
    const char *statuses;       /* every status the handler (and the router, for
                                   ids) can answer, space-separated: exactly the
                                   operation's "responses" */
    const char *codes;          /* the error codes those answers carry, each named
                                   in the description of an error response */
    const char *openapi;        /* the OpenAPI operation object (JSON) */
};

extern const api_route api_routes[];
extern const size_t api_n_routes;

#endif
