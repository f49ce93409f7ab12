/*
 * openapi.h — the OpenAPI 3.0 description of nstd's HTTP API (DESIGN §4):
 * every route, the multipart upload, the Params, Job and Error schemas, and
 * the status codes each route answers with. Served at /v1/openapi.json.
 */
#ifndef NSTD_OPENAPI_H
#define NSTD_OPENAPI_H

/* The document as JSON text, built from the route table on the first call
 * (thread-safe) and kept for the life of the program, never freed; NULL
 * when it could not be built (out of memory). Paths are relative to the
 * server root (no "servers" entry). */
const char *api_openapi_json(void);

/* The same document with "servers": [{"url": base_path}] so that clients
 * behind a reverse proxy prefix ("/nst") resolve paths correctly; "" or
 * NULL gives "/". malloc'd, caller free()s; NULL when out of memory. */
char *api_openapi_render(const char *base_path);

#endif
