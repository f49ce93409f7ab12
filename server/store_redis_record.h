/*
 * store_redis_record.h — the Redis store's record as hash fields, both
 * ways: one field per stored field of job_fields[], named by its record key
 * ("loss/total"), its value as text (numbers %.17g, bools 1/0, the state
 * by name, params as JSON text), present when job_to_json has it. Not here:
 * Redis itself (store_redis.c); what a record means (job.h).
 */
#ifndef NSTD_STORE_REDIS_RECORD_H
#define NSTD_STORE_REDIS_RECORD_H

#include "job.h"

#define STORE_REDIS_FIELDS_MAX 40

typedef struct {
    int n;
    const char *key[STORE_REDIS_FIELDS_MAX];   /* record keys (static) */
    char *val[STORE_REDIS_FIELDS_MAX];         /* malloc'd */
} store_redis_fields;

/* The record's fields. 0, or -ENOMEM (t then owns nothing). */
int store_redis_fields_of(const job_info *rec, store_redis_fields *t);
void store_redis_fields_free(store_redis_fields *t);

/* Add hash field name = text to o, the JSON record job_from_json reads
 * (nested by the key's '/'). Other names (fence, claim) and text that is
 * not of the field's kind are left out. */
void store_redis_field_json(cJSON *o, const char *name, const char *text);

#endif
