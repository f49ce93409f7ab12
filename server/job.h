/*
 * job.h — the job record: what nstd knows about one job, written down once.
 *
 * JOB_FIELDS is the one table of the record's fields. Each row gives the C
 * type and member (the macro expands the rows into struct job_info), how the
 * value is encoded, its key in the stored record (NULL: not stored) and when
 * it is stored, and its key in the JSON view of the API (NULL: not shown)
 * and when it shows a value rather than null. The stored record (job_to_json,
 * job_from_json), the snapshot (job_info_copy) and the API's job view all
 * walk job_fields[], the table compiled from these rows. Adding a field is
 * one row here plus the code that sets it.
 *
 * Keys with a '/' are nested objects ("progress/loss/total" is the member
 * total of the object loss of the object progress).
 *
 * Not here: the queue and workers (jobs.h), where records are kept
 * (store.h), JSON text and HTTP (api/view.c renders the view).
 */
#ifndef NSTD_JOB_H
#define NSTD_JOB_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define JOB_ID_LEN 32   /* 128 random bits as lowercase hex */

typedef enum {
    JOB_QUEUED = 0,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    JOB_FAILED,
    JOB_CANCELED,
    JOB_NSTATES
} job_state;

/* "queued", "running", …; "unknown" for anything else. */
const char *job_state_name(job_state s);
/* The state of a name, or -1. */
int job_state_from_name(const char *name);
/* 1 for succeeded, failed and canceled: a job in one of them never runs again. */
int job_state_final(job_state s);

/* 1 when id is a well-formed job id: exactly JOB_ID_LEN lower-case hex digits. */
int job_id_valid(const char *id);
/* A new random id (getrandom; aborts when the kernel has no randomness). */
void job_id_new(char id[JOB_ID_LEN + 1]);

/* The types of the table's fixed-size text members. */
typedef char job_id[JOB_ID_LEN + 1];
typedef char job_name[64];
typedef char job_code[32];
typedef char job_text[256];
typedef char job_digest[33];   /* 128 bits as lowercase hex (jobs_idem_digest) */

/* How a field is encoded (in the record and in the view). */
typedef enum {
    JOB_F_TEXT,     /* a fixed char array (job_id, job_name …), a JSON string */
    JOB_F_STATE,    /* job_state, its name */
    JOB_F_INT,      /* int */
    JOB_F_COUNT,    /* unsigned long */
    JOB_F_NUM,      /* double */
    JOB_F_TIME,     /* double, Unix seconds; 0: unset (the view writes RFC 3339 or null) */
    JOB_F_BOOL,     /* int, 0 or 1 */
    JOB_F_JSON      /* cJSON *, owned (copied by job_info_copy) */
} job_kind;

/* When the stored record has the field. */
typedef enum {
    JOB_R_NONE,     /* never stored: computed at run time */
    JOB_R_ALWAYS,
    JOB_R_LOSS,     /* only once losses are known; its presence sets has_loss */
    JOB_R_ERROR     /* only when the job has an error code */
} job_record_rule;

/* When the view shows the field's value rather than null. */
typedef enum {
    JOB_V_NONE,     /* not in the view */
    JOB_V_ALWAYS,
    JOB_V_QUEUED,   /* while the job is queued */
    JOB_V_LOSS,     /* once losses are known (and finite) */
    JOB_V_KNOWN,    /* when the value is >= 0 */
    JOB_V_FAILED,   /* when the job failed; else the field's whole object is null */
    JOB_V_SET       /* when the text is not empty */
} job_view_rule;

/* The rows: X(type, member, kind, record key, record rule, view key, view rule, digits)
 * digits: decimals the view rounds a number to (-1: as it is). */
#define JOB_FIELDS(X) \
    X(job_id,        id,                   JOB_F_TEXT,  "id",                   JOB_R_ALWAYS, "id",                  JOB_V_ALWAYS, -1) \
    X(job_state,     state,                JOB_F_STATE, "state",                JOB_R_ALWAYS, "state",               JOB_V_ALWAYS, -1) \
    X(unsigned long, seq,                  JOB_F_COUNT, "seq",                  JOB_R_ALWAYS, NULL,                  JOB_V_NONE,   -1) \
    X(int,           position,             JOB_F_INT,   NULL,                   JOB_R_NONE,   "position",            JOB_V_QUEUED, -1) \
    X(int,           iteration,            JOB_F_INT,   "iteration",            JOB_R_ALWAYS, "progress/iteration",  JOB_V_ALWAYS, -1) \
    X(int,           iterations,           JOB_F_INT,   "iterations",           JOB_R_ALWAYS, "progress/iterations", JOB_V_ALWAYS, -1) \
    X(int,           has_loss,             JOB_F_BOOL,  NULL,                   JOB_R_NONE,   NULL,                  JOB_V_NONE,   -1) \
    X(double,        loss_total,           JOB_F_NUM,   "loss/total",           JOB_R_LOSS,   "progress/loss/total", JOB_V_LOSS,   -1) \
    X(double,        loss_content,         JOB_F_NUM,   "loss/content",         JOB_R_LOSS,   "progress/loss/content", JOB_V_LOSS, -1) \
    X(double,        loss_style,           JOB_F_NUM,   "loss/style",           JOB_R_LOSS,   "progress/loss/style", JOB_V_LOSS,   -1) \
    X(double,        loss_tv,              JOB_F_NUM,   "loss/tv",              JOB_R_LOSS,   "progress/loss/tv",    JOB_V_LOSS,   -1) \
    X(double,        elapsed_s,            JOB_F_NUM,   "elapsed_s",            JOB_R_ALWAYS, "progress/elapsed_s",  JOB_V_ALWAYS,  3) \
    X(double,        eta_s,                JOB_F_NUM,   NULL,                   JOB_R_NONE,   "progress/eta_s",      JOB_V_KNOWN,   1) \
    /* why the transfer ended (nst_stop_name: iterations, tolerance, converged); "" before */ \
    X(job_name,      stop_reason,          JOB_F_TEXT,  "stop_reason",          JOB_R_ALWAYS, "progress/stop_reason", JOB_V_SET,   -1) \
    X(cJSON *,       params,               JOB_F_JSON,  "params",               JOB_R_ALWAYS, "params",              JOB_V_ALWAYS, -1) \
    X(job_name,      model,                JOB_F_TEXT,  "model",                JOB_R_ALWAYS, "model",               JOB_V_ALWAYS, -1) \
    /* the name of the token that submitted the job; "" without tokens */ \
    X(job_name,      owner,                JOB_F_TEXT,  "owner",                JOB_R_ALWAYS, "owner",               JOB_V_SET,    -1) \
    /* the submit's Idempotency-Key ("" none; per owner) and the digest of its inputs */ \
    X(job_text,      idem_key,             JOB_F_TEXT,  "idempotency/key",      JOB_R_ALWAYS, NULL,                  JOB_V_NONE,   -1) \
    X(job_digest,    idem_digest,          JOB_F_TEXT,  "idempotency/digest",   JOB_R_ALWAYS, NULL,                  JOB_V_NONE,   -1) \
    /* {"url", "events"} when the job asked for webhooks (webhook.h); else NULL */ \
    X(cJSON *,       webhook,              JOB_F_JSON,  "webhook",              JOB_R_ALWAYS, "webhook",             JOB_V_ALWAYS, -1) \
    X(int,           n_styles,             JOB_F_INT,   "n_styles",             JOB_R_ALWAYS, NULL,                  JOB_V_NONE,   -1) \
    /* which masks the job has (jobs.h: JOBS_MASK_CONTENT, jobs_mask_blob); 0: none */ \
    X(int,           masks,                JOB_F_INT,   "masks",                JOB_R_ALWAYS, NULL,                  JOB_V_NONE,   -1) \
    X(double,        created_at,           JOB_F_TIME,  "created_at",           JOB_R_ALWAYS, "created_at",          JOB_V_ALWAYS, -1) \
    X(double,        started_at,           JOB_F_TIME,  "started_at",           JOB_R_ALWAYS, "started_at",          JOB_V_ALWAYS, -1) \
    X(double,        finished_at,          JOB_F_TIME,  "finished_at",          JOB_R_ALWAYS, "finished_at",         JOB_V_ALWAYS, -1) \
    X(int,           checkpoint_iteration, JOB_F_INT,   "checkpoint_iteration", JOB_R_ALWAYS, NULL,                  JOB_V_NONE,   -1) \
    X(int,           has_preview,          JOB_F_BOOL,  "has_preview",          JOB_R_ALWAYS, NULL,                  JOB_V_NONE,   -1) \
    X(int,           attempts,             JOB_F_INT,   "attempts",             JOB_R_ALWAYS, "attempts",            JOB_V_ALWAYS, -1) \
    X(job_code,      error_code,           JOB_F_TEXT,  "error/code",           JOB_R_ERROR,  "error/code",          JOB_V_FAILED, -1) \
    X(job_text,      error_message,        JOB_F_TEXT,  "error/message",        JOB_R_ERROR,  "error/message",       JOB_V_FAILED, -1) \
    /* grows with every change, from 1 (0: never seen, for watchers) */ \
    X(unsigned long, version,              JOB_F_COUNT, NULL,                   JOB_R_NONE,   NULL,                  JOB_V_NONE,   -1)

/* One job: the record the store keeps and the snapshot callers get. A
 * snapshot is owned by its holder: job_info_free releases what it owns. */
typedef struct {
#define JOB_MEMBER(type, member, ...) type member;
    JOB_FIELDS(JOB_MEMBER)
#undef JOB_MEMBER
} job_info;

/* A row of the table, compiled. */
typedef struct {
    const char *member;
    job_kind kind;
    size_t offset, size;
    const char *record_key;
    job_record_rule record;
    const char *view_key;
    job_view_rule view;
    int digits;
} job_field;

extern const job_field job_fields[];
extern const size_t job_n_fields;

/* The field's value in a record. */
#define JOB_FIELD_PTR(info, f) ((void *)((char *)(info) + (f)->offset))

/* dst = a deep copy of src (dst's old contents are not freed). 0, or -1 out
 * of memory (dst then owns nothing). */
int job_info_copy(job_info *dst, const job_info *src);
void job_info_free(job_info *info);

/* The stored record as a JSON object (caller owns it); NULL out of memory. */
cJSON *job_to_json(const job_info *info);
/* Read a stored record back into *out (zeroed first; free with
 * job_info_free). -1 with a reason in *why when the record lacks its id,
 * state or params, or is not an object. */
int job_from_json(const cJSON *o, job_info *out, const char **why);

/* The JSON value of one field in its kind's plain encoding (the stored
 * record's): text, a state's name, a number, a bool, a copy of the JSON.
 * Caller owns it; NULL out of memory. */
cJSON *job_field_json(const job_info *info, const job_field *f);

/* The object at a '/'-separated key inside o, creating objects on the way
 * (create) or only finding them; *leaf gets the last segment. NULL when
 * missing or out of memory. Shared by the record and the API's view. */
cJSON *job_json_parent(cJSON *o, const char *key, int create, const char **leaf);

#endif
