/* Must not compile: the engine knows nothing of HTTP. */
#include "api.h"

int probe_core_includes_api(void) { return 0; }
