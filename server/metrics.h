/*
 * metrics.h — the numbers an operator needs, counted where they happen and
 * rendered in the Prometheus text exposition format (version 0.0.4).
 *   nstd_http_requests_total{route,method,status}   counter
 *   nstd_http_request_duration_seconds{route}       histogram
 *   nstd_jobs_total{state}                          counter (transitions into a final state)
 *   nstd_jobs{state}                                gauge (current jobs per state)
 *   nstd_queue_depth                                gauge (with a shared store: the cluster's)
 *   nstd_workers_alive                              gauge (with a shared store: worker
 *                                                   processes with a recent heartbeat)
 *   nstd_http_clients                               gauge (clients with requests open)
 *   nstd_iteration_duration_seconds                 histogram
 *   nstd_job_duration_seconds                       histogram
 *   nstd_build_info{version}                        gauge, always 1
 *   nstd_start_time_seconds                         gauge
 *   nstd_metrics_overflow_total                     counter (label sets beyond the
 *                                                   fixed tables, unknown final states)
 * Thread-safe.
 */
#ifndef NSTD_METRICS_H
#define NSTD_METRICS_H

#include "job.h"

typedef struct metrics metrics;

metrics *metrics_create(void);
void metrics_free(metrics *m);

/* route is the route template ("/v1/jobs/{id}"), not the raw path. */
void metrics_request(metrics *m, const char *route, const char *method, int status,
                     double seconds);
void metrics_iteration(metrics *m, double seconds);
/* A job reached a final state (job_state_final; others count as overflow). */
void metrics_job_finished(metrics *m, job_state state, double seconds);
/* Current gauges, set by the job manager whenever they change: jobs by state. */
void metrics_set_jobs(metrics *m, const int counts[JOB_NSTATES]);
void metrics_set_queue_depth(metrics *m, int depth);
/* Worker processes alive (a shared store); -1 until known: not rendered. */
void metrics_set_workers_alive(metrics *m, int workers);
/* Distinct clients with requests open (by real address; set by the API). */
void metrics_set_http_clients(metrics *m, int clients);

/* The exposition text; malloc'd, caller free()s. */
char *metrics_render(metrics *m);

/* The Content-Type of metrics_render's text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
