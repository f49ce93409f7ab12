/*
 * log.c — structured log lines on stderr (see log.h).
 *
 * A line is built completely in memory and written with one fwrite under a
 * mutex, so lines from the HTTP threads, the workers and the event loop
 * never interleave. JSON lines start with ts (RFC 3339, UTC, milliseconds),
 * level and event, then the caller's fields in their order; text lines are
 * "ts level event key=value …" with strings quoted only when they need it.
 *
 * This is the one module with mutable globals: the format and the mutex.
 * The log is process-wide like stderr itself, set once at start-up, and
 * reached from every thread; passing a handle through every call would buy
 * nothing. Not here: levels filtering, rotation, sinks other than stderr.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_text; /* 0: JSON lines (the default), 1: text; guarded by log_lock */

void log_init(const char *format)
{
    pthread_mutex_lock(&log_lock);
    log_text = format && strcmp(format, "text") == 0;
    pthread_mutex_unlock(&log_lock);
}

/* "2024-05-01T12:34:56.789Z" */
static void timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

/* ================================================================ line builders */

/* A growing buffer for a text line. */
typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->len + n + 2 > b->cap) {
        size_t cap = (b->len + n + 2) * 2;
        char *p = realloc(b->p, cap);
        if (!p) return; /* out of memory: the line is cut short, never corrupt */
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void buf_str(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* A text value: bare when it is a plain word, else as a JSON string. */
static void text_value(buf *b, const cJSON *item)
{
    if (cJSON_IsString(item)) {
        const char *s = item->valuestring;
        int plain = s[0] != 0;
        for (const char *p = s; *p && plain; p++)
            plain = (unsigned char)*p > ' ' && *p != '"' && *p != '=' && *p != '\\' &&
                    (unsigned char)*p < 0x7f;
        if (plain) {
            buf_str(b, s);
            return;
        }
    }
    char *printed = cJSON_PrintUnformatted(item);
    if (printed) buf_str(b, printed);
    free(printed);
}

static char *text_line(const char *ts, const char *level, const char *event, const cJSON *fields)
{
    buf b = {0};
    buf_str(&b, ts);
    buf_str(&b, " ");
    buf_str(&b, level);
    buf_str(&b, " ");
    buf_str(&b, event);
    const cJSON *item;
    if (cJSON_IsObject(fields)) {
        cJSON_ArrayForEach(item, fields)
        {
            buf_str(&b, " ");
            buf_str(&b, item->string ? item->string : "field");
            buf_str(&b, "=");
            text_value(&b, item);
        }
    } else if (fields) {
        buf_str(&b, " fields=");
        text_value(&b, fields);
    }
    return b.p;
}

/* The caller's fields are moved (not copied) into the line object, after
 * ts, level and event. A field that would repeat one of those keys gets a
 * leading underscore, so a line never has a duplicate key. */
static char *json_line(const char *ts, const char *level, const char *event, cJSON *fields)
{
    cJSON *line = cJSON_CreateObject();
    if (!line) return NULL;
    cJSON_AddStringToObject(line, "ts", ts);
    cJSON_AddStringToObject(line, "level", level);
    cJSON_AddStringToObject(line, "event", event);
    if (cJSON_IsObject(fields)) {
        cJSON *item;
        while ((item = fields->child) != NULL) {
            cJSON_DetachItemViaPointer(fields, item);
            const char *name = item->string ? item->string : "field";
            char key[128];
            snprintf(key, sizeof key, "%s%s",
                     cJSON_GetObjectItemCaseSensitive(line, name) ? "_" : "", name);
            cJSON_AddItemToObject(line, key, item);
        }
    } else if (fields) {
        cJSON_AddItemReferenceToObject(line, "fields", fields);
    }
    char *text = cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    return text;
}

/* ================================================================ log_event */

void log_event(const char *level, const char *event, cJSON *fields)
{
    char ts[40];
    timestamp(ts, sizeof ts);
    if (!level) level = "info";
    if (!event) event = "log";

    pthread_mutex_lock(&log_lock);
    int text = log_text;
    pthread_mutex_unlock(&log_lock);
    char *line = text ? text_line(ts, level, event, fields) : json_line(ts, level, event, fields);

    pthread_mutex_lock(&log_lock);
    if (line) {
        size_t n = strlen(line);
        line[n] = '\n'; /* replaces the NUL; written by length below */
        fwrite(line, 1, n + 1, stderr);
        fflush(stderr);
    }
    pthread_mutex_unlock(&log_lock);
    free(line);
    cJSON_Delete(fields);
}
