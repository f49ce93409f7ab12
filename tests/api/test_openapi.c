/*
 * test_openapi.c — the OpenAPI document parses, is version 3, describes
 * every row of the route table (api/routes.c) with the statuses and error
 * codes the row declares, every $ref resolves, the Job, Error and
 * Params schemas have exactly the fields of the API, and the Params schema
 * agrees with the engine's parameter parser (same keys, every enum value
 * accepted).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "nst.h"
#include "openapi.h"
#include "routes.h"
#include "test.h"

static cJSON *doc;

/* The node at a '/'-separated path of object keys ("components/schemas/Job");
 * keys that contain '/' (paths, media types) are looked up one by one. */
static cJSON *at(cJSON *root, const char *path)
{
    char key[128];
    cJSON *node = root;
    while (node && *path) {
        size_t n = strcspn(path, "/");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        node = cJSON_GetObjectItemCaseSensitive(node, key);
        path += n + (path[n] == '/');
    }
    return node;
}

/* The operation object of a method on a path. */
static cJSON *operation(const char *path, const char *method)
{
    cJSON *p = cJSON_GetObjectItemCaseSensitive(at(doc, "paths"), path);
    return cJSON_GetObjectItemCaseSensitive(p, method);
}

static void test_parses(void)
{
    const char *text = api_openapi_json();
    CHECK(text && text == api_openapi_json(), "not a static string");
    doc = cJSON_Parse(text);
    CHECK(doc != NULL, "the document is not JSON near: %.80s", cJSON_GetErrorPtr());
    if (!doc) return;
    cJSON *v = at(doc, "openapi");
    CHECK(cJSON_IsString(v) && strncmp(v->valuestring, "3.", 2) == 0, "openapi version");
    v = at(doc, "info/version");
    CHECK(cJSON_IsString(v) && strcmp(v->valuestring, NST_VERSION) == 0, "info.version");
    CHECK(cJSON_IsString(at(doc, "info/title")), "info.title");
}

/* The descriptions of an operation's responses ($refs followed), joined. */
static void response_text(cJSON *op, const char *status, char *buf, size_t len)
{
    cJSON *r = cJSON_GetObjectItemCaseSensitive(at(op, "responses"), status);
    const char *ref = cJSON_GetStringValue(at(r, "$ref"));
    if (ref && strncmp(ref, "#/", 2) == 0) r = at(doc, ref + 2);
    const char *d = cJSON_GetStringValue(at(r, "description"));
    size_t n = strlen(buf);
    snprintf(buf + n, len - n, " %s", d ? d : "");
}

/* The next space-separated word of *s, into w; 0 at the end. */
static int next_word(const char **s, char *w, size_t n)
{
    *s += strspn(*s, " ");
    size_t k = strcspn(*s, " ");
    if (!k) return 0;
    snprintf(w, n, "%.*s", (int)k, *s);
    *s += k;
    return 1;
}

static void test_routes(void)
{
    /* Every row of the route table (api/routes.c): its operation is in the
     * document with exactly the statuses the row says its handler (and the
     * router, for ids) can answer, and the row's error codes are named in
     * those responses' descriptions. */
    if (!doc) return;
    int n_paths = 0;
    for (size_t i = 0; i < api_n_routes; i++) {
        const api_route *r = &api_routes[i];
        char method[16];
        size_t k = 0;
        for (; r->method[k] && k + 1 < sizeof method; k++) method[k] = (char)tolower((unsigned char)r->method[k]);
        method[k] = 0;
        const char *path = r->path;
        size_t first = 0;
        while (strcmp(api_routes[first].path, path) != 0) first++;
        n_paths += first == i;
        cJSON *op = operation(path, method);
        CHECK(op != NULL, "no %s %s", method, path);
        CHECK(cJSON_IsString(at(op, "summary")), "%s %s has no summary", method, path);
        CHECK(cJSON_IsString(at(op, "operationId")), "%s %s has no operationId", method, path);
        CHECK(r->statuses && *r->statuses, "%s %s declares no statuses", method, path);
        char text[4096] = "", status[8];
        int n = 0;
        for (const char *s = r->statuses; next_word(&s, status, sizeof status); n++) {
            CHECK(cJSON_GetObjectItemCaseSensitive(at(op, "responses"), status),
                  "%s %s lacks response %s", method, path, status);
            if (status[0] != '2') response_text(op, status, text, sizeof text);
        }
        CHECK(cJSON_GetArraySize(at(op, "responses")) == n,
              "%s %s lists %d statuses, the handler answers %d", method, path,
              cJSON_GetArraySize(at(op, "responses")), n);
        /* the request rate: every operation but the exempt ones answers 429 */
        CHECK(!r->exempt == (strstr(r->codes, "rate_limited") != NULL) &&
                  !r->exempt == (strstr(r->statuses, "429") != NULL),
              "%s %s: 429 rate_limited %s", method, path,
              r->exempt ? "listed though exempt" : "not listed");
        char code[32];
        for (const char *c = r->codes; next_word(&c, code, sizeof code);)
            CHECK(strstr(text, code), "%s %s does not name %s", method, path, code);
        /* a route that needs a token (with a tokens file) says so, and can
         * answer 401 and 429; one that does not, neither */
        CHECK(!!r->auth == !!at(op, "security"), "%s %s: security only when the row needs a token",
              method, path);
        CHECK(!r->auth == !strstr(r->statuses, "401"), "%s %s: 401 exactly when it needs a token",
              method, path);
        CHECK(!r->auth || (strstr(r->statuses, "429") && strstr(r->codes, "unauthorized") &&
                           strstr(r->codes, "rate_limited")),
              "%s %s: a token route answers 401 unauthorized and 429 rate_limited", method, path);
        /* a job id in the path: the path declares the parameter */
        cJSON *params = cJSON_GetObjectItemCaseSensitive(at(doc, "paths"), path);
        CHECK((strstr(path, "{id}") != NULL) ==
                  (cJSON_GetObjectItemCaseSensitive(params, "parameters") != NULL),
              "%s: the {id} parameter", path);
    }
    /* Every path answers OPTIONS: its methods, or a CORS preflight (403 when
     * the origin is refused). */
    cJSON *p;
    cJSON_ArrayForEach(p, at(doc, "paths"))
    {
        cJSON *op = cJSON_GetObjectItemCaseSensitive(p, "options");
        char text[2048] = "";
        CHECK(op && cJSON_IsString(at(op, "operationId")), "no OPTIONS on %s", p->string);
        CHECK(op && at(op, "responses/204") && at(op, "responses/403") &&
                  at(op, "responses/429") && cJSON_GetArraySize(at(op, "responses")) == 3,
              "OPTIONS %s: 204, 403 and 429", p->string);
        response_text(op, "403", text, sizeof text);
        CHECK(strstr(text, "origin_not_allowed"), "OPTIONS %s: 403 code", p->string);
        response_text(op, "429", text, sizeof text);
        CHECK(strstr(text, "rate_limited"), "OPTIONS %s: 429 code", p->string);
    }
    const char *d = cJSON_GetStringValue(at(doc, "components/responses/MethodNotAllowed/description"));
    CHECK(d && strstr(d, "method_not_allowed"), "405 code");
    /* what the router answers on any path */
    d = cJSON_GetStringValue(at(doc, "components/responses/BadPath/description"));
    CHECK(d && strstr(d, "bad_path"), "400 bad_path");
    d = cJSON_GetStringValue(at(doc, "components/responses/TooManyConnections/description"));
    CHECK(d && strstr(d, "too_many_connections"), "429 too_many_connections");
    CHECK(at(doc, "components/responses/TooManyConnections/headers/Retry-After"),
          "429 too_many_connections Retry-After");
    CHECK(at(doc, "components/responses/RateLimited/headers/Retry-After"),
          "429 rate_limited Retry-After");
    d = cJSON_GetStringValue(at(doc, "info/description"));
    CHECK(d && strstr(d, "bad_path") && strstr(d, "too_many_connections") &&
              strstr(d, "origin_not_allowed") && strstr(d, "rate_limited"),
          "the description names the router's answers");

    /* the bearer scheme, and what a refused token gets */
    CHECK(!strcmp(cJSON_GetStringValue(at(doc, "components/securitySchemes/bearer/scheme")) ?: "",
                  "bearer"),
          "securitySchemes bearer");
    CHECK(at(doc, "components/responses/Unauthorized/headers/WWW-Authenticate"),
          "401 WWW-Authenticate");
    CHECK(at(doc, "components/responses/RateLimited/headers/Retry-After"), "429 Retry-After");
    CHECK(!at(doc, "security"), "no document-wide security: the service routes are open");

    /* no path and no operation beyond the table's (and OPTIONS) */
    int n = cJSON_GetArraySize(at(doc, "paths")), ops = 0;
    CHECK(n == n_paths, "%d paths, the route table has %d", n, n_paths);
    cJSON_ArrayForEach(p, at(doc, "paths"))
        ops += cJSON_GetArraySize(p) - !!cJSON_GetObjectItemCaseSensitive(p, "parameters");
    CHECK(ops == (int)api_n_routes + n, "%d operations", ops);

    /* the upload */
    cJSON *upload = at(doc, "components/schemas/JobUpload/properties");
    CHECK(!strcmp(cJSON_GetStringValue(at(upload, "content/format")), "binary"), "content");
    CHECK(!strcmp(cJSON_GetStringValue(at(upload, "style/type")), "array") &&
              !strcmp(cJSON_GetStringValue(at(upload, "style/items/format")), "binary"),
          "style is an array of files");
    CHECK(!strcmp(cJSON_GetStringValue(at(upload, "style_mask/type")), "array") &&
              !strcmp(cJSON_GetStringValue(at(upload, "style_mask/items/format")), "binary"),
          "style_mask is an array of files");
    CHECK(!strcmp(cJSON_GetStringValue(at(upload, "content_mask/format")), "binary"),
          "content_mask");
    CHECK(!strcmp(cJSON_GetStringValue(at(upload, "params/type")), "string"), "params");
    cJSON *body = at(operation("/v1/jobs", "post"), "requestBody/content");
    CHECK(cJSON_GetObjectItemCaseSensitive(body, "multipart/form-data"), "POST is multipart");

    /* headers that clients rely on */
    CHECK(at(operation("/v1/jobs", "post"), "responses/202/headers/Location"), "Location");
    CHECK(at(doc, "components/responses/TooManyRequests/headers/Retry-After"), "Retry-After");
    CHECK(at(doc, "components/responses/MethodNotAllowed/headers/Allow"), "405 Allow");
    CHECK(at(doc, "components/responses/ServiceUnavailable/headers/Retry-After"), "503 Retry-After");
    CHECK(at(doc, "components/responses/Options/headers/Allow"), "OPTIONS Allow");
    CHECK(cJSON_GetObjectItemCaseSensitive(
              at(operation("/v1/jobs/{id}/events", "get"), "responses/200/content"),
              "text/event-stream"),
          "events are text/event-stream");
    CHECK(cJSON_GetObjectItemCaseSensitive(
              at(operation("/v1/jobs/{id}/result", "get"), "responses/200/content"), "image/png"),
          "result is a PNG");
    /* GET / is the web page, or JSON for clients that ask for it */
    cJSON *root = at(operation("/", "get"), "responses/200/content");
    CHECK(cJSON_GetObjectItemCaseSensitive(root, "text/html") &&
              cJSON_GetObjectItemCaseSensitive(root, "application/json"),
          "GET / is text/html or application/json");
    CHECK(at(operation("/", "get"), "responses/301/headers/Location"), "GET / redirect Location");
}

/* Every "$ref" in the tree points at an existing node of the document. */
static void check_refs(cJSON *node, int *count)
{
    for (cJSON *c = node ? node->child : NULL; c; c = c->next) {
        if (c->string && !strcmp(c->string, "$ref")) {
            const char *ref = cJSON_GetStringValue(c);
            (*count)++;
            CHECK(ref && strncmp(ref, "#/", 2) == 0 && at(doc, ref + 2), "dangling $ref %s",
                  ref ? ref : "(not a string)");
        }
        check_refs(c, count);
    }
}

static void test_refs(void)
{
    if (!doc) return;
    int count = 0;
    check_refs(doc, &count);
    CHECK(count > 30, "only %d $refs", count);
}

/* The object's property names, in order, as one comma-separated string. */
static void property_names(cJSON *schema, char *buf, size_t len)
{
    buf[0] = 0;
    cJSON *p;
    cJSON_ArrayForEach(p, at(schema, "properties"))
    {
        size_t n = strlen(buf);
        snprintf(buf + n, len - n, "%s%s", n ? "," : "", p->string);
    }
}

static void test_schemas(void)
{
    if (!doc) return;
    char names[1024];

    property_names(at(doc, "components/schemas/Job"), names, sizeof names);
    CHECK(!strcmp(names, "id,state,position,progress,params,model,owner,webhook,created_at,"
                         "started_at,finished_at,attempts,error,links"),
          "Job fields: %s", names);
    property_names(at(doc, "components/schemas/Progress"), names, sizeof names);
    CHECK(!strcmp(names, "iteration,iterations,percent,loss,elapsed_s,eta_s,stop_reason"), "progress: %s",
          names);
    property_names(at(doc, "components/schemas/Loss"), names, sizeof names);
    CHECK(!strcmp(names, "total,content,style,tv"), "loss: %s", names);
    property_names(at(doc, "components/schemas/JobLinks"), names, sizeof names);
    CHECK(!strcmp(names, "self,result,preview,events"), "links: %s", names);
    property_names(at(doc, "components/schemas/Job/properties/error"), names, sizeof names);
    CHECK(!strcmp(names, "code,message,field"), "job error: %s", names);
    property_names(at(doc, "components/schemas/Error/properties/error"), names, sizeof names);
    CHECK(!strcmp(names, "code,message,field"), "Error: %s", names);
    CHECK(cJSON_GetArraySize(at(doc, "components/schemas/Error/properties/error/required")) == 3,
          "every error has code, message and field (null when none)");
    property_names(at(doc, "components/schemas/Error"), names, sizeof names);
    CHECK(!strcmp(names, "error"), "Error wrapper: %s", names);

    char states[128] = "";
    cJSON *s;
    cJSON_ArrayForEach(s, at(doc, "components/schemas/Job/properties/state/enum"))
    {
        size_t n = strlen(states);
        snprintf(states + n, sizeof states - n, "%s%s", n ? "," : "", s->valuestring);
    }
    CHECK(!strcmp(states, "queued,running,succeeded,failed,canceled"), "states: %s", states);
    /* position is 1-based (1: runs next) and null unless queued */
    cJSON *pos = at(doc, "components/schemas/Job/properties/position");
    CHECK(cJSON_IsNumber(at(pos, "minimum")) && at(pos, "minimum")->valueint == 1,
          "position minimum 1");
    CHECK(cJSON_IsTrue(at(pos, "nullable")), "position nullable");

    property_names(at(doc, "components/schemas/Params"), names, sizeof names);
    CHECK(!strcmp(names, "content_layers,style_layers,style_layer_weights,alpha,beta,tv_weight,"
                         "iterations,optimizer,learning_rate,init,seed,image_size,style_scale,"
                         "style_blend_weights,content_mask_weight,pooling,preserve_colors,preview_every,"
                         "scales,tolerance,"
                         "webhook,webhook_events"),
          "Params: %s", names);
    CHECK(cJSON_IsFalse(at(doc, "components/schemas/Params/additionalProperties")),
          "Params must reject unknown keys");
    cJSON *p;
    cJSON_ArrayForEach(p, at(doc, "components/schemas/Params/properties"))
        CHECK(cJSON_IsString(at(p, "description")), "param %s has no description", p->string);
}

/* The params of the service, not the engine's: the API takes them out of
 * params before the engine parses the rest (api/routes_jobs.c). */
static int service_param(const char *key)
{
    return !strcmp(key, "webhook") || !strcmp(key, "webhook_events");
}

/* The Params schema and the engine's parser agree: the effective params
 * have exactly the schema's keys but the service's, and every enum value
 * parses. */
static void test_params_match_engine(void)
{
    if (!doc) return;
    cJSON *props = at(doc, "components/schemas/Params/properties");
    nst_params p;
    nst_params_default(&p, NULL);
    char *json = nst_params_to_json(&p);
    cJSON *eff = json ? cJSON_Parse(json) : NULL;
    free(json);
    CHECK(eff != NULL, "nst_params_to_json");
    cJSON *item;
    cJSON_ArrayForEach(item, eff)
        CHECK(cJSON_GetObjectItemCaseSensitive(props, item->string), "param %s not in schema",
              item->string);
    cJSON_ArrayForEach(item, props)
        CHECK(service_param(item->string) || cJSON_GetObjectItemCaseSensitive(eff, item->string),
              "schema param %s unknown", item->string);
    cJSON_Delete(eff);

    nst_limits lim = {0, 0};
    cJSON_ArrayForEach(item, props)
    {
        cJSON *v;
        cJSON_ArrayForEach(v, at(item, "enum"))
        {
            char text[160];
            nst_error err = {0};
            nst_params_default(&p, NULL);
            snprintf(text, sizeof text, "{\"%s\": \"%s\"}", item->string, v->valuestring);
            CHECK(nst_params_parse(&p, text, strlen(text), &lim, &err) == NST_OK,
                  "engine rejects %s: %s", text, err.message);
        }
    }
    cJSON *layer;
    cJSON_ArrayForEach(layer, at(doc, "components/schemas/Layer/enum"))
        CHECK(nst_layer_index(layer->valuestring) >= 0, "unknown layer %s", layer->valuestring);
    CHECK(cJSON_GetArraySize(at(doc, "components/schemas/Layer/enum")) == NST_NUM_LAYERS,
          "layer count");
}

static void test_render(void)
{
    char *text = api_openapi_render("/nst");
    cJSON *d = text ? cJSON_Parse(text) : NULL;
    CHECK(d != NULL, "rendered document does not parse");
    cJSON *url = at(cJSON_GetArrayItem(at(d, "servers"), 0), "url");
    CHECK(cJSON_IsString(url) && !strcmp(url->valuestring, "/nst"), "servers url");
    CHECK(cJSON_GetObjectItemCaseSensitive(at(d, "paths"), "/v1/jobs"),
          "rendered document lost its paths");
    cJSON_Delete(d);
    free(text);

    text = api_openapi_render(NULL);
    d = text ? cJSON_Parse(text) : NULL;
    url = at(cJSON_GetArrayItem(at(d, "servers"), 0), "url");
    CHECK(cJSON_IsString(url) && !strcmp(url->valuestring, "/"), "default servers url");
    cJSON_Delete(d);
    free(text);
}

int main(void)
{
    TEST_RUN(test_parses);
    TEST_RUN(test_routes);
    TEST_RUN(test_refs);
    TEST_RUN(test_schemas);
    TEST_RUN(test_params_match_engine);
    TEST_RUN(test_render);
    cJSON_Delete(doc);
    return TEST_EXIT();
}
