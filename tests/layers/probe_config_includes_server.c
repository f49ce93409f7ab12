/* Must not compile: the settings table is below the job layer. */
#include "jobs.h"

int probe_config_includes_server(void) { return 0; }
