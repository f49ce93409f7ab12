/*
 * store_redis_record.c — the record as the Redis store's hash fields (see
 * store_redis_record.h), through job_to_json and job_from_json so that the
 * rules are the disk store's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_redis_record.h"

void store_redis_fields_free(store_redis_fields *t)
{
    for (int i = 0; i < t->n; i++) free(t->val[i]);
    t->n = 0;
}

static char *value_text(const cJSON *v)
{
    char num[40];
    if (cJSON_IsString(v)) return strdup(v->valuestring);
    if (cJSON_IsBool(v)) return strdup(cJSON_IsTrue(v) ? "1" : "0");
    if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "%.17g", v->valuedouble);
        return strdup(num);
    }
    return cJSON_PrintUnformatted(v);
}

int store_redis_fields_of(const job_info *rec, store_redis_fields *t)
{
    t->n = 0;
    cJSON *o = job_to_json(rec);
    if (!o) return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < job_n_fields && rc == 0; i++) {
        const job_field *f = &job_fields[i];
        if (f->record == JOB_R_NONE) continue;
        const char *leaf;
        cJSON *parent = job_json_parent(o, f->record_key, 0, &leaf);
        const cJSON *v = parent ? cJSON_GetObjectItemCaseSensitive(parent, leaf) : NULL;
        if (!v) continue;
        if (t->n >= STORE_REDIS_FIELDS_MAX) abort();   /* the record table outgrew the array */
        t->key[t->n] = f->record_key;
        if (!(t->val[t->n] = value_text(v))) rc = -ENOMEM;
        else t->n++;
    }
    cJSON_Delete(o);
    if (rc < 0) store_redis_fields_free(t);
    return rc;
}

void store_redis_field_json(cJSON *o, const char *name, const char *text)
{
    if (!name || !text) return;
    const job_field *f = NULL;
    for (size_t k = 0; k < job_n_fields && !f; k++)
        if (job_fields[k].record != JOB_R_NONE && strcmp(job_fields[k].record_key, name) == 0)
            f = &job_fields[k];
    if (!f) return;   /* fence, claim */
    cJSON *v = NULL;
    char *end;
    switch (f->kind) {
    case JOB_F_TEXT:
    case JOB_F_STATE: v = cJSON_CreateString(text); break;
    case JOB_F_BOOL: v = cJSON_CreateBool(strcmp(text, "1") == 0 || strcmp(text, "true") == 0); break;
    case JOB_F_JSON: v = cJSON_Parse(text); break;
    case JOB_F_INT:
    case JOB_F_COUNT:
    case JOB_F_NUM:
    case JOB_F_TIME: {
        double d = strtod(text, &end);
        if (end != text && !*end) v = cJSON_CreateNumber(d);
        break;
    }
    }
    const char *leaf;
    cJSON *parent = v ? job_json_parent(o, f->record_key, 1, &leaf) : NULL;
    if (!parent || !cJSON_AddItemToObject(parent, leaf, v)) cJSON_Delete(v);
}
