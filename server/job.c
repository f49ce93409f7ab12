/*
 * job.c — the job record (see job.h): state names, ids, the field table
 * compiled from JOB_FIELDS, copies, and the stored record as JSON, both
 * ways, driven by the table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "job.h"

/* ================================================================ states and ids */

static const char *const state_names[JOB_NSTATES] = {
    "queued", "running", "succeeded", "failed", "canceled"};

const char *job_state_name(job_state s)
{
    return s >= 0 && s < JOB_NSTATES ? state_names[s] : "unknown";
}

int job_state_from_name(const char *name)
{
    for (int i = 0; i < JOB_NSTATES; i++)
        if (name && strcmp(name, state_names[i]) == 0) return i;
    return -1;
}

int job_state_final(job_state s)
{
    return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_CANCELED;
}

int job_id_valid(const char *id)
{
    if (!id) return 0;
    for (int i = 0; i < JOB_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return 0;
    return id[JOB_ID_LEN] == 0;
}

void job_id_new(char id[JOB_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[JOB_ID_LEN / 2];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = getrandom(r + got, sizeof r - got, 0);
        if (k > 0) got += (size_t)k;
        else if (errno != EINTR) abort();   /* no randomness: ids would collide */
    }
    for (size_t i = 0; i < sizeof r; i++) {
        id[2 * i] = hex[r[i] >> 4];
        id[2 * i + 1] = hex[r[i] & 15];
    }
    id[JOB_ID_LEN] = 0;
}

/* ================================================================ the table */

const job_field job_fields[] = {
#define JOB_ROW(type, member, kind, rkey, rrule, vkey, vrule, digits) \
    {#member, kind, offsetof(job_info, member), sizeof(type), rkey, rrule, vkey, vrule, digits},
    JOB_FIELDS(JOB_ROW)
#undef JOB_ROW
};
const size_t job_n_fields = sizeof job_fields / sizeof job_fields[0];

/* ================================================================ copies */

int job_info_copy(job_info *dst, const job_info *src)
{
    memcpy(dst, src, sizeof *dst);
    int ok = 1;
    for (size_t i = 0; i < job_n_fields; i++) {
        const job_field *f = &job_fields[i];
        if (f->kind != JOB_F_JSON) continue;
        cJSON **to = JOB_FIELD_PTR(dst, f);
        if (*to && !(*to = cJSON_Duplicate(*to, 1))) ok = 0;
    }
    if (!ok) {
        job_info_free(dst);
        return -1;
    }
    return 0;
}

void job_info_free(job_info *info)
{
    if (!info) return;
    for (size_t i = 0; i < job_n_fields; i++) {
        const job_field *f = &job_fields[i];
        if (f->kind != JOB_F_JSON) continue;
        cJSON **v = JOB_FIELD_PTR(info, f);
        cJSON_Delete(*v);
        *v = NULL;
    }
}

/* ================================================================ the stored record */

cJSON *job_json_parent(cJSON *o, const char *key, int create, const char **leaf)
{
    char part[64];
    *leaf = key;
    for (const char *slash; (slash = strchr(key, '/')) != NULL; key = slash + 1) {
        size_t n = (size_t)(slash - key);
        if (n >= sizeof part) return NULL;
        memcpy(part, key, n);
        part[n] = 0;
        cJSON *next = cJSON_GetObjectItemCaseSensitive(o, part);
        if (!next && create) next = cJSON_AddObjectToObject(o, part);
        if (!cJSON_IsObject(next)) return NULL;
        o = next;
    }
    *leaf = key;
    return o;
}

cJSON *job_field_json(const job_info *info, const job_field *f)
{
    const void *p = JOB_FIELD_PTR(info, f);
    switch (f->kind) {
    case JOB_F_TEXT: return cJSON_CreateString(p);
    case JOB_F_STATE: return cJSON_CreateString(job_state_name(*(const job_state *)p));
    case JOB_F_INT: return cJSON_CreateNumber(*(const int *)p);
    case JOB_F_COUNT: return cJSON_CreateNumber((double)*(const unsigned long *)p);
    case JOB_F_NUM:
    case JOB_F_TIME: return cJSON_CreateNumber(*(const double *)p);
    case JOB_F_BOOL: return cJSON_CreateBool(*(const int *)p);
    case JOB_F_JSON: {
        const cJSON *v = *(cJSON *const *)p;
        return v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
    }
    }
    return NULL;
}

/* Set one field from its JSON value; a value of the wrong type leaves the
 * field as it is (zero). */
static void field_set(job_info *info, const job_field *f, const cJSON *v)
{
    void *p = JOB_FIELD_PTR(info, f);
    switch (f->kind) {
    case JOB_F_TEXT:
        if (cJSON_IsString(v)) {
            char *dst = p;
            size_t n = strlen(v->valuestring);
            if (n >= f->size) n = f->size - 1;
            memcpy(dst, v->valuestring, n);
            dst[n] = 0;
        }
        break;
    case JOB_F_STATE: {
        int s = job_state_from_name(cJSON_GetStringValue(v));
        if (s >= 0) *(job_state *)p = (job_state)s;
        break;
    }
    case JOB_F_INT:
        if (cJSON_IsNumber(v)) *(int *)p = (int)v->valuedouble;
        break;
    case JOB_F_COUNT:
        if (cJSON_IsNumber(v) && v->valuedouble >= 0) *(unsigned long *)p = (unsigned long)v->valuedouble;
        break;
    case JOB_F_NUM:
    case JOB_F_TIME:
        if (cJSON_IsNumber(v)) *(double *)p = v->valuedouble;
        break;
    case JOB_F_BOOL:
        *(int *)p = cJSON_IsTrue(v);
        break;
    case JOB_F_JSON:
        if (v && !cJSON_IsNull(v)) *(cJSON **)p = cJSON_Duplicate(v, 1);
        break;
    }
}

static int record_has(const job_info *info, const job_field *f)
{
    switch (f->record) {
    case JOB_R_ALWAYS: return 1;
    case JOB_R_LOSS: return info->has_loss;
    case JOB_R_ERROR: return info->error_code[0] != 0;
    case JOB_R_NONE: break;
    }
    return 0;
}

cJSON *job_to_json(const job_info *info)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < job_n_fields; i++) {
        const job_field *f = &job_fields[i];
        if (!record_has(info, f)) continue;
        const char *leaf;
        cJSON *parent = job_json_parent(o, f->record_key, 1, &leaf);
        cJSON *v = job_field_json(info, f);
        if (!parent || !v || !cJSON_AddItemToObject(parent, leaf, v)) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

int job_from_json(const cJSON *o, job_info *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(o)) {
        *why = "the record is not a JSON object";
        return -1;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(o, "state");
    if (!job_id_valid(cJSON_GetStringValue(id)) || job_state_from_name(cJSON_GetStringValue(state)) < 0 ||
        !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "params"))) {
        *why = "the record lacks a valid id, state or params";
        return -1;
    }
    for (size_t i = 0; i < job_n_fields; i++) {
        const job_field *f = &job_fields[i];
        if (f->record == JOB_R_NONE) continue;
        const char *leaf;
        cJSON *parent = job_json_parent((cJSON *)o, f->record_key, 0, &leaf);
        const cJSON *v = parent ? cJSON_GetObjectItemCaseSensitive(parent, leaf) : NULL;
        if (!v) continue;
        field_set(out, f, v);
        if (f->record == JOB_R_LOSS) out->has_loss = 1;
    }
    if (out->error_code[0] == 0 && cJSON_GetObjectItemCaseSensitive(o, "error"))
        memcpy(out->error_code, "internal_error", sizeof "internal_error");
    if (!out->params) {
        *why = "out of memory";
        return -1;
    }
    return 0;
}
