/* Must not compile: the job layer never reaches up into HTTP. */
#include "api.h"

int probe_server_includes_api(void) { return 0; }
