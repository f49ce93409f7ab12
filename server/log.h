/*
 * log.h — structured log lines on stderr: one JSON object per line
 * ({"ts":"…","level":"info","event":"request",…fields}) or, with format
 * "text", "ts level event key=value …". Thread-safe; a line is written whole.
 */
#ifndef NSTD_LOG_H
#define NSTD_LOG_H

#include <cjson/cJSON.h>

/* format: "json" or "text". Call once at start-up. */
void log_init(const char *format);
/* Write one line. fields is a cJSON object (or NULL) and is consumed (deleted). */
void log_event(const char *level, const char *event, cJSON *fields);

#endif
