/* Must not compile: the engine knows nothing of the service. */
#include "jobs.h"

int probe_core_includes_server(void) { return 0; }
