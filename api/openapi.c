/*
 * openapi.c — the OpenAPI 3.0 document of the HTTP API. Everything but the
 * operations is kept here as plain JSON, so that it reads (and diffs) like
 * the document it is; the operations come from the route table
 * (api/routes.c), whose rows carry their OpenAPI operation objects, so the
 * document describes exactly the routes the router serves. To each path
 * this file adds what is the same for all: the {id} parameter of the job
 * paths and the OPTIONS operation.
 *
 * The JSON is written with the JSON(...) macro of routes.h. The document
 * stops the macro only to splice in NST_VERSION. tests/api/test_openapi.c
 * parses the result and checks it against the route table.
 *
 * What it describes must match api/ (routes, statuses, error codes) and
 * core/params.c (parameter names, types, ranges). Defaults that depend on
 * the loaded model (alpha, beta, tv_weight, pooling, iterations …) are not
 * written here; GET /v1/info reports them.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "nst.h"
#include "openapi.h"
#include "routes.h"

static const char openapi_doc[] =
/* ================================================================ info */
JSON({
  "openapi": "3.0.3",
  "info": {
    "title": "nstd",
    "description": "Neural style transfer (Gatys, Ecker and Bethge, CVPR 2016) as an HTTP service. Upload a content image and one or more style images with optional parameters; a worker optimises the output image while you poll the job, follow its Server-Sent Events or watch its preview; download the PNG when it has succeeded. All bodies are JSON except the web page at /, images, events and metrics. Every error is {\"error\": {\"code\", \"message\", \"field\"}}; field is null when no single field is at fault. Every path that answers GET also answers HEAD. A path that exists answers a method it does not know with 405 (method_not_allowed) and an Allow header; a path that does not exist answers 404 (not_found). OPTIONS on any path lists its methods, or answers a CORS preflight. Any path answers 400 (bad_path, see components/responses/BadPath) when the request path or query has a control character, and 429 (too_many_connections, see components/responses/TooManyConnections) to a client that already has max_connections_per_ip requests open. Every request but those to /healthz, /readyz and /metrics counts against the client's request rate, and over it is answered 429 (rate_limited, see components/responses/RateLimited), on paths that do not exist and OPTIONS too.A POST or DELETE whose Origin header is neither this server's own origin nor one of cors_origins is refused with 403 (origin_not_allowed). Behind a reverse proxy every path carries the configured base path as a prefix. Any request may be answered 503 (too_many_connections, with Retry-After; the connection is then closed) while the server holds max_connections connections, and 400 (bad_request) when it has conflicting Content-Length headers. A connection whose request headers take longer than header_timeout, or whose body arrives slower than min_upload_rate, is closed without an answer (GET /v1/info lists these limits). With a tokens file (tokens_file) the job routes need a bearer token (security scheme bearer): 401 (unauthorized, with WWW-Authenticate) without a listed one, 429 (rate_limited, with Retry-After) beyond the token's requests a minute; a user's token sees and acts on only the jobs it submitted (another's answers 404 not_found, as a job that does not exist), an admin's on all. The web page, /v1/info, /v1/openapi.json, /healthz, /readyz and /metrics stay open.",
    "version": ) "\"" NST_VERSION "\"" JSON(,
    "license": {"name": "see the repository"}
  },
  "tags": [
    {"name": "jobs", "description": "Style-transfer jobs"},
    {"name": "service", "description": "Service information, health and metrics"}
  ],
/* ================================================================ paths */
  "paths": {},   /* filled from the route table (routes.c) */
/* ================================================================ components */
  "components": {
    "parameters": {
      "JobId": {
        "name": "id", "in": "path", "required": true,
        "description": "Job id: 128 random bits as 32 lower-case hex digits",
        "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}
      }
    },
    "headers": {
      "Location": {"description": "Path of the new job", "schema": {"type": "string"}},
      "PreferenceApplied": {"description": "wait=N when the request's Prefer: wait was honoured: N is the wait in seconds, cut to max_wait (GET /v1/info)", "schema": {"type": "string", "example": "wait=30"}},
      "IdempotentReplayed": {"description": "true when the Idempotency-Key created this job before (a retry): no new job was created", "schema": {"type": "string", "enum": ["true"]}},
      "ETag": {"description": "The image's checksum (FNV-1a, 64 bits, hex), stored with it and checked before it is served", "schema": {"type": "string"}},
      "RetryAfter": {"description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0}},
      "Allow": {"description": "Methods the path answers to", "schema": {"type": "string"}}
    },
    "responses": {
      "BadUpload": {"description": "The upload is not usable; field names the part when there is one. bad_multipart: no boundary, or a malformed or truncated body. missing_part: no content or no style part (field content or style). duplicate_part: a second content, content_mask or params part. unknown_part: a part other than content, style, style_mask, content_mask and params (field: its name). too_many_styles: more style parts than max_styles (GET /v1/info). mask_count: style_mask parts sent, but not one per style part (field style_mask). invalid_image: an empty file or one that does not decode (field content, style[i], style_mask[i] or content_mask; i counts from 0; an empty style_mask or content_mask part is no mask, not an error). unsupported_image_format: an image in another format than PNG or JPEG, such as GIF or BMP (field content, style[i], style_mask[i] or content_mask; the message names the format). invalid_json: the params part is not JSON (field params). invalid_idempotency_key: the Idempotency-Key header is empty, longer than 255 characters or has a character that is not printable ASCII (the message says which).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "BadQuery": {"description": "limit or offset is not an integer in its range (invalid_query; field names it)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Forbidden": {"description": "A CORS preflight, or a state-changing request (POST, DELETE) made by a browser, whose Origin header is neither this server's own origin (scheme://Host, the scheme and host as a trusted proxy forwards them) nor among the configured cors_origins (origin_not_allowed). Requests without Origin (curl, scripts) are not affected", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotFound": {"description": "No job with this id, or the id is not 32 lower-case hex digits, or the job belongs to another user's token (not_found; field id)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NoPreview": {"description": "No job with this id, a malformed id, or another user's job (not_found; field id); or the job has no preview yet (no_preview)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "MethodNotAllowed": {"description": "The path exists but not with this method (method_not_allowed); any path of this API answers so to a method it does not list", "headers": {"Allow": {"$ref": "#/components/headers/Allow"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Conflict": {"description": "The job has not succeeded, so there is no result (not_finished)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "PayloadTooLarge": {"description": "The request body exceeds max_upload_bytes, by its Content-Length or while it streams in (payload_too_large); or an image's dimensions exceed max_input_pixels, or a side exceeds 16384 pixels (image_too_large; field content, style[i], style_mask[i] or content_mask)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "UnsupportedMediaType": {"description": "The body is not multipart/form-data (unsupported_media_type)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "UnprocessableEntity": {"description": "The params are JSON but not valid (invalid_params): an unknown key, a value of the wrong type or out of range, an unknown layer name, a list of the wrong length (such as style_blend_weights not one per style image), style_scale × image_size over max_image_size; field names the parameter. A webhook (field webhook) that is not an http or https URL, is longer than webhook_max_url, has a host that does not resolve or resolves to a loopback, private, link-local or otherwise non-public address the webhook_allow setting does not list; webhook_events (field webhook_events) that are not a non-empty list of distinct start, progress, completed, or given without a webhook. Or a webhook asked of a server without a webhook_secret (webhooks_disabled; field webhook). Or the job's estimated peak memory (from the params and the images' dimensions) exceeds max_job_memory (job_too_large; the message states the estimate and the limit) Or the Idempotency-Key created a job with other inputs before (idempotency_key_reused; the message names the key and that job)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "BadPath": {"description": "Any path: the request path or query has a control character, plain or percent-encoded (%00 to %1F, %7F) (bad_path)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "TooManyConnections": {"description": "Any path: the client already has max_connections_per_ip requests open, such as event streams (too_many_connections); behind trusted proxies the client is the address they forward. Retry-After says when to try again", "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "TooManyRequests": {"description": "The job queue is full (queue_full); Retry-After estimates when a worker is free. Or, with a tokens file, the token already has its queue quota of queued and running jobs (quota_exceeded; Retry-After as for queue_full), or made more than its requests a minute (rate_limited; Retry-After says when the next one is allowed); or the client is over its request rate (rate_limited, see RateLimited). Also, as on any path, the client has too many requests open (too_many_connections)", "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Unauthorized": {"description": "With a tokens file: no Authorization: Bearer header, or a token that is not listed (unauthorized). WWW-Authenticate names the Bearer scheme (with error=\"invalid_token\" for a token that is not listed)", "headers": {"WWW-Authenticate": {"description": "Bearer realm=\"nstd\"", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "RateLimited": {"description": "The client is over its request rate (rate_limited), or, with a tokens file, the token is over its requests a minute (token_rate_limit, or its line's rate). A client's rate: rate_limit requests per second on average, rate_burst at once (GET /v1/info); behind trusted proxies the client is the address they forward. Every operation counts but those of /healthz, /readyz and /metrics. Retry-After is the whole seconds until the next request is allowed (at least 1)", "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "InternalError": {"description": "The server failed: the job store could not be read or written, or memory ran out (internal_error)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "InsufficientStorage": {"description": "The job store is short of space: storing the inputs would leave less than min_free_disk (GET /v1/info), or the store is full (insufficient_storage, with Retry-After)", "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "ServiceUnavailable": {"description": "The server is shutting down (shutting_down, with Retry-After); for POST /v1/jobs also not enough memory to buffer or decode an upload (out_of_memory; field content, style[i] or params)", "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Options": {"description": "No body. Allow lists the path's methods. To a CORS preflight from an allowed origin also Access-Control-Allow-Origin, Access-Control-Allow-Methods, Access-Control-Allow-Headers (the requested headers echoed) and Access-Control-Max-Age.", "headers": {"Allow": {"$ref": "#/components/headers/Allow"}, "Access-Control-Allow-Methods": {"$ref": "#/components/headers/Allow"}, "Access-Control-Max-Age": {"description": "Seconds a preflight answer may be cached", "schema": {"type": "integer"}}}}
    },
    "securitySchemes": {
      "bearer": {"type": "http", "scheme": "bearer", "description": "A token of the tokens file (tokens_file), as Authorization: Bearer <token>; only when the server has one"}
    },
    "schemas": {
      "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
          "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
              "code": {"type": "string", "description": "Stable machine-readable code, such as invalid_params or queue_full", "example": "invalid_params"},
              "message": {"type": "string", "description": "What is wrong, for people", "example": "beta must be a number from 0 to 1e+15"},
              "field": {"type": "string", "nullable": true, "description": "The parameter, form part or path segment at fault; null when there is none", "example": "beta"}
            }
          }
        }
      },
      "Root": {
        "type": "object",
        "required": ["name", "version", "description", "openapi"],
        "properties": {
          "name": {"type": "string", "example": "nstd"},
          "version": {"type": "string"},
          "description": {"type": "string"},
          "openapi": {"type": "string", "description": "Path of this document, with the base path", "example": "/v1/openapi.json"}
        }
      },
      "JobUpload": {
        "type": "object",
        "required": ["content", "style"],
        "properties": {
          "content": {"type": "string", "format": "binary", "description": "The content image: PNG or JPEG, recognised from its bytes (the part's Content-Type is not checked); a JPEG's Exif orientation is applied and transparency is composited on white"},
          "style": {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1, "description": "One or more style images in the same formats: repeat the part, up to max_styles (GET /v1/info)"},
          "style_mask": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "Where on the output each style applies: none, or one greyscale image per style part in the same order (white: the style applies, black: not; any size, resized to the output; the same formats and max_input_pixels). An empty part is no mask for that style: it joins the blend of the unmasked styles, everywhere. A masked style's loss is its own, on Gram matrices of the features times the mask at each layer's resolution normalised by the mask's area, weighted by its style_blend_weights entry"},
          "content_mask": {"type": "string", "format": "binary", "description": "The region kept as the photo (white): taken out of every style's region, and the content loss there weighs content_mask_weight times as much. Optional; an empty part is none"},
          "params": {"type": "string", "description": "A JSON object of Params (optional); see the Params schema", "example": "{\"iterations\": 200, \"image_size\": 512, \"preserve_colors\": \"luminance\"}"}
        }
      },
      "Layer": {
        "type": "string",
        "description": "A VGG19 convolution; the name denotes the activation after its ReLU",
        "enum": ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4", "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1", "conv5_2", "conv5_3", "conv5_4"]
      },
      "Params": {
        "type": "object",
        "description": "Parameters of a transfer; all optional, unknown keys rejected (422 naming the key). Values not given take the defaults of GET /v1/info, which may come from the loaded model.",
        "additionalProperties": false,
        "properties": {
          "content_layers": {"type": "array", "items": {"$ref": "#/components/schemas/Layer"}, "minItems": 1, "uniqueItems": true, "description": "Layers whose activations are matched to the content image", "default": ["conv4_2"]},
          "style_layers": {"type": "array", "items": {"$ref": "#/components/schemas/Layer"}, "minItems": 1, "uniqueItems": true, "description": "Layers whose Gram matrices are matched to the style images", "default": ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]},
          "style_layer_weights": {"type": "array", "items": {"type": "number", "minimum": 0}, "description": "Weight w_l of each style layer, one per entry of style_layers; default equal weights 1/n"},
          "alpha": {"type": "number", "minimum": 0, "maximum": 1e15, "description": "Content weight (alpha)"},
          "beta": {"type": "number", "minimum": 0, "maximum": 1e15, "description": "Style weight (beta)"},
          "tv_weight": {"type": "number", "minimum": 0, "maximum": 1e15, "description": "Total-variation weight (smoothness of the output)"},
          "iterations": {"type": "integer", "minimum": 1, "description": "Optimiser iterations; at most max_iterations (GET /v1/info)"},
          "optimizer": {"type": "string", "enum": ["lbfgs", "adam"], "default": "lbfgs", "description": "L-BFGS as in the paper, or Adam"},
          "learning_rate": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 10, "description": "Adam step size, for pixel values in [0, 1]"},
          "init": {"type": "string", "enum": ["content", "noise", "style"], "default": "content", "description": "Starting image"},
          "seed": {"type": "integer", "minimum": 0, "maximum": 9007199254740992, "description": "Random seed for init noise"},
          "image_size": {"type": "integer", "minimum": 16, "description": "Longest side of the output in pixels (the content's aspect is kept); at most max_image_size (GET /v1/info)"},
          "style_scale": {"type": "number", "minimum": 0.05, "maximum": 8, "default": 1, "description": "Size of the style images relative to the output before their features are taken"},
          "style_blend_weights": {"type": "array", "items": {"type": "number", "minimum": 0}, "nullable": true, "description": "Weight of each style image, one per style upload; default (or null) equal weights"},
          "content_mask_weight": {"type": "number", "minimum": 0, "maximum": 1e15, "default": 10, "description": "Weight of the content loss inside the content_mask part (the region kept as the photo) relative to outside; without a content mask it has no effect"},
          "pooling": {"type": "string", "enum": ["max", "avg"], "description": "Pooling in the network: max, or average as the paper suggests"},
          "preserve_colors": {"type": "string", "enum": ["none", "luminance", "histogram"], "default": "none", "description": "Keep the content image's colours: luminance-only transfer or colour histogram matching"},
          "preview_every": {"type": "integer", "minimum": 0, "maximum": 100000, "description": "Iterations between preview images, and one at the end of each scale; 0 for no previews at all (the preview route then answers 404 no_preview)"},
          "scales": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1, "description": "Coarse to fine: the number of resolutions, each half the next, ending at image_size; most iterations run at the lower ones, and a resolution whose longest side would be under 64 px is skipped. 1: full size only"},
          "tolerance": {"type": "number", "minimum": 0, "maximum": 1, "description": "Stop once the loss fell by less than this fraction over the last 10 iterations (at each resolution; the job then shows progress.stop_reason tolerance); 0: always run all iterations. The default (GET /v1/info) was chosen by measurement"},
          "webhook": {"type": "string", "format": "uri", "description": "Submit only (the job shows it as its webhook, not among its params): an http or https URL that gets a signed POST (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature v1 = HMAC-SHA256 with the server's webhook_secret) of {type: job.started | job.progress | job.completed, timestamp, data: the Job} at each event of webhook_events. At most webhook_max_url bytes; its host must resolve to public addresses only, unless the server's webhook_allow lists it. Failed deliveries are retried with backoff up to webhook_max_attempts (GET /v1/info); they never affect the job", "example": "https://example.com/nst-hook"},
          "webhook_events": {"type": "array", "items": {"type": "string", "enum": ["start", "progress", "completed"]}, "minItems": 1, "uniqueItems": true, "default": ["start", "progress", "completed"], "description": "Submit only, with webhook: the events delivered. start: each time a worker starts the job; progress: at most one every webhook_progress_ms; completed: once the job that ran ends (succeeded, failed or canceled)"}
        }
      },
      "Loss": {
        "type": "object",
        "description": "Loss terms after the latest iteration; null before the first",
        "required": ["total", "content", "style", "tv"],
        "properties": {
          "total": {"type": "number", "nullable": true},
          "content": {"type": "number", "nullable": true, "description": "alpha times the content loss"},
          "style": {"type": "number", "nullable": true, "description": "beta times the style loss"},
          "tv": {"type": "number", "nullable": true, "description": "tv_weight times the total variation"}
        }
      },
      "Progress": {
        "type": "object",
        "required": ["iteration", "iterations", "percent", "loss", "elapsed_s", "eta_s", "stop_reason"],
        "properties": {
          "iteration": {"type": "integer", "minimum": 0, "description": "Completed iterations"},
          "iterations": {"type": "integer", "minimum": 0, "description": "Planned iterations: at most this many run"},
          "percent": {"type": "number", "minimum": 0, "maximum": 100, "description": "iteration of iterations; 100 once the transfer ended, also when it stopped early"},
          "loss": {"$ref": "#/components/schemas/Loss"},
          "elapsed_s": {"type": "number", "minimum": 0, "description": "Seconds of computation so far"},
          "eta_s": {"type": "number", "nullable": true, "description": "Estimated seconds remaining; null while unknown"},
          "stop_reason": {"type": "string", "nullable": true, "enum": ["iterations", "tolerance", "converged", null], "description": "Why the transfer ended: it ran all iterations, the loss stopped falling (tolerance), or the optimiser found no lower point; null until then"}
        }
      },
      "JobLinks": {
        "type": "object",
        "required": ["self", "result", "preview", "events"],
        "properties": {
          "self": {"type": "string", "example": "/v1/jobs/3f2a9c0d4e5b6a7f8091a2b3c4d5e6f7"},
          "result": {"type": "string", "example": "/v1/jobs/3f2a9c0d4e5b6a7f8091a2b3c4d5e6f7/result"},
          "preview": {"type": "string", "example": "/v1/jobs/3f2a9c0d4e5b6a7f8091a2b3c4d5e6f7/preview"},
          "events": {"type": "string", "example": "/v1/jobs/3f2a9c0d4e5b6a7f8091a2b3c4d5e6f7/events"}
        }
      },
      "Job": {
        "type": "object",
        "description": "A job, the same in the POST answer, GET, the list and every event. Every key is always present; those that do not apply are null.",
        "required": ["id", "state", "position", "progress", "params", "model", "owner", "webhook", "created_at", "started_at", "finished_at", "attempts", "error", "links"],
        "properties": {
          "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
          "state": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "canceled"]},
          "position": {"type": "integer", "minimum": 1, "nullable": true, "description": "1-based place in the queue while queued (1: runs next), else null"},
          "progress": {"$ref": "#/components/schemas/Progress"},
          "params": {"$ref": "#/components/schemas/Params"},
          "model": {"type": "string", "description": "Name of the model that runs the job", "example": "vgg19-random"},
          "owner": {"type": "string", "nullable": true, "description": "Name of the token that submitted the job (see tokens_file); null for a job submitted without tokens", "example": "alice"},
          "webhook": {
            "type": "object",
            "nullable": true,
            "description": "The webhook the job was submitted with (params webhook and webhook_events); null without one",
            "required": ["url", "events"],
            "properties": {
              "url": {"type": "string", "format": "uri"},
              "events": {"type": "array", "items": {"type": "string", "enum": ["start", "progress", "completed"]}}
            }
          },
          "created_at": {"type": "string", "format": "date-time", "description": "RFC 3339, UTC"},
          "started_at": {"type": "string", "format": "date-time", "nullable": true},
          "finished_at": {"type": "string", "format": "date-time", "nullable": true},
          "attempts": {"type": "integer", "minimum": 0, "description": "Runs started: 0 while first queued; more than 1 when the job was resumed after a restart or taken over from a worker that stopped (at most max_attempts with a shared store)"},
          "error": {
            "type": "object",
            "nullable": true,
            "description": "Why the job failed; null unless failed",
            "required": ["code", "message"],
            "properties": {
              "code": {"type": "string"},
              "message": {"type": "string"},
              "field": {"type": "string", "nullable": true}
            }
          },
          "links": {"$ref": "#/components/schemas/JobLinks"}
        }
      },
      "JobList": {
        "type": "object",
        "required": ["jobs", "total", "next"],
        "properties": {
          "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}, "description": "Newest first"},
          "total": {"type": "integer", "minimum": 0, "description": "Jobs in the store"},
          "next": {"type": "string", "nullable": true, "description": "Path of the next page; null on the last page"}
        }
      },
      "Info": {
        "type": "object",
        "required": ["version", "model", "limits", "defaults"],
        "properties": {
          "version": {"type": "string"},
          "model": {
            "type": "object",
            "required": ["name", "pretrained"],
            "properties": {
              "name": {"type": "string", "example": "vgg19-random"},
              "pretrained": {"type": "boolean", "description": "false for the embedded random-weight network, whose results are weaker than with ImageNet weights"}
            }
          },
          "limits": {
            "type": "object",
            "description": "The server's limits, each the value of the setting that makes it (nstd --help)",
            "properties": {}
          },
          "webhooks": {"type": "string", "enum": ["signed", "disabled"], "description": "signed: jobs may ask for webhooks, signed with the server's webhook_secret; disabled: no secret, a webhook is refused (422 webhooks_disabled)"},
          "access": {"type": "string", "enum": ["open", "bearer"], "description": "bearer: the job routes need a token of the tokens file; open: no tokens file"},
          "defaults": {"$ref": "#/components/schemas/Params"},
          "workers": {"type": "integer"}
        }
      },
      "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}}
      },
      "Readiness": {
        "type": "object",
        "required": ["status", "reasons"],
        "properties": {
          "status": {"type": "string", "enum": ["ready", "not_ready"]},
          "reasons": {"type": "array", "items": {"type": "string"}, "description": "Why not ready; empty when ready"}
        }
      }
    }
  }
});

/* The path-level parameters of a path with a job id in it. */
static const char path_id_parameters[] = JSON([{"$ref": "#/components/parameters/JobId"}]);

/* The security requirement of an operation whose row needs a token. */
static const char bearer_security[] = JSON([{"bearer": []}]);

/* Every path answers OPTIONS (the router answers it from the route table);
 * %s is the path's operation name. */
static const char options_operation[] = JSON({
  "tags": ["service"],
  "operationId": "options%s",
  "summary": "Methods of this path; CORS preflight",
  "responses": {
    "204": {"$ref": "#/components/responses/Options"},
    "403": {"$ref": "#/components/responses/Forbidden"},
    "429": {"$ref": "#/components/responses/RateLimited"}
  }
});

/* The name of a path's operations for its OPTIONS operation: the
 * operationId of its GET (else of its first operation) without the leading
 * verb — getJobResult gives JobResult, listJobs gives Jobs. */
static const char *path_name(const cJSON *item)
{
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(item, "get");
    for (const cJSON *c = item->child; !op && c; c = c->next)
        if (strcmp(c->string, "parameters") != 0) op = c;
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "operationId"));
    if (!id) return "";
    while (islower((unsigned char)*id)) id++;
    return id;
}

/* Add item under key to obj; 0, or -1 (item freed) when either is missing. */
static int add(cJSON *obj, const char *key, cJSON *item)
{
    if (obj && item && cJSON_AddItemToObject(obj, key, item)) return 0;
    cJSON_Delete(item);
    return -1;
}

/* The document's "paths": one per path template of the route table, in
 * table order, holding the rows' operations under their lower-case methods. */
static int fill_paths(cJSON *paths)
{
    for (size_t i = 0; i < api_n_routes; i++) {
        const api_route *r = &api_routes[i];
        cJSON *item = cJSON_GetObjectItemCaseSensitive(paths, r->path);
        if (!item) {
            item = cJSON_CreateObject();
            if (add(paths, r->path, item) < 0) return -1;
            if (strstr(r->path, "{id}") &&
                add(item, "parameters", cJSON_Parse(path_id_parameters)) < 0)
                return -1;
        }
        char method[16];
        size_t k = 0;
        for (; r->method[k] && k + 1 < sizeof method; k++)
            method[k] = (char)tolower((unsigned char)r->method[k]);
        method[k] = 0;
        cJSON *op = cJSON_Parse(r->openapi);
        if (r->auth && add(op, "security", cJSON_Parse(bearer_security)) < 0) return -1;
        if (add(item, method, op) < 0) return -1;
    }
    cJSON *item;
    cJSON_ArrayForEach(item, paths)
    {
        char text[sizeof options_operation + 64];
        snprintf(text, sizeof text, options_operation, path_name(item));
        if (add(item, "options", cJSON_Parse(text)) < 0) return -1;
    }
    return 0;
}

/* Info's "limits": a property per setting config.c publishes (the same
 * table GET /v1/info reads), described by its help. */
static int fill_limits(cJSON *props)
{
    size_t n;
    const config_setting *set = config_settings(&n);
    for (size_t i = 0; i < n; i++) {
        const config_setting *s = &set[i];
        if (!s->published) continue;
        const char *unit = s->type == CONFIG_BYTES ? " In bytes." : s->type == CONFIG_SECONDS
                                                                        ? " In seconds." : "";
        char text[1024];
        snprintf(text, sizeof text, "%s%s Set by %s.", s->help, unit, s->flag);
        cJSON *prop = cJSON_CreateObject();
        if (add(prop, "type", cJSON_CreateString("integer")) < 0 ||
            add(prop, "description", cJSON_CreateString(text)) < 0 ||
            add(props, s->published, prop) < 0)
            return -1;
    }
    return 0;
}

static char *doc_text;
static pthread_once_t doc_once = PTHREAD_ONCE_INIT;

static void doc_build(void)
{
    cJSON *doc = cJSON_Parse(openapi_doc);
    cJSON *info = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "components"),
                                         "schemas"),
        "Info");
    cJSON *limits = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(info, "properties"),
                                         "limits"),
        "properties");
    if (doc && fill_paths(cJSON_GetObjectItemCaseSensitive(doc, "paths")) == 0 && limits &&
        fill_limits(limits) == 0)
        doc_text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
}

const char *api_openapi_json(void)
{
    pthread_once(&doc_once, doc_build);
    return doc_text;
}

char *api_openapi_render(const char *base_path)
{
    const char *text = api_openapi_json();
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    if (!doc) return NULL;
    cJSON *servers = cJSON_AddArrayToObject(doc, "servers");
    cJSON *server = cJSON_CreateObject();
    char *out = NULL;
    if (add(server, "url",
            cJSON_CreateString(base_path && base_path[0] ? base_path : "/")) == 0 &&
        servers && cJSON_AddItemToArray(servers, server))
        out = cJSON_PrintUnformatted(doc);
    else
        cJSON_Delete(server);
    cJSON_Delete(doc);
    return out;
}
