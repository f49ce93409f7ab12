/* nstd's main (programs/nstd.c) sees every layer's public headers. */
#include "api.h"
#include "httpd.h"
#include "config.h"
#include "jobs.h"
#include "store.h"
#include "metrics.h"
#include "log.h"
#include "nst.h"

int probe_nstd_ok(void) { return 0; }
