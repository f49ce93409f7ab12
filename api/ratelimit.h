/*
 * ratelimit.h — requests per second per client: a token bucket for each
 * client address (the real client, see client.c), holding up to `burst`
 * tokens and refilled at `rate` tokens per second; a request takes one.
 *
 * Memory is bounded: a client whose bucket has refilled completely is the
 * same as one never seen, so its entry is dropped (oldest first, as
 * requests come in), and at `max_clients` entries the least recently seen
 * client's entry makes room for a new one. Thread-safe; every call is O(1)
 * amortised under one mutex.
 */
#ifndef NSTD_API_RATELIMIT_H
#define NSTD_API_RATELIMIT_H

#include "netaddr.h"

typedef struct ratelimit ratelimit;

/* rate (> 0, tokens per second), burst (>= 1), max_clients (>= 1);
 * 0, or -1 when out of memory. */
int ratelimit_create(ratelimit **out, double rate, int burst, int max_clients);
void ratelimit_free(ratelimit *rl);

/* Take a token for client a at monotonic time now (seconds): 0 when the
 * request may go on, else the whole seconds (at least 1) until the client
 * has a token again, for Retry-After. *run is the client's refusals in a
 * row: this one's place among them when refused (1 for the first), those
 * just before when it goes on (0 when none). */
int ratelimit_take(ratelimit *rl, const netaddr *a, double now, long *run);

/* Clients with an entry (their bucket not yet full again). */
int ratelimit_clients(ratelimit *rl);

#endif
