/* Must not compile: HTTP uses libnst through nst.h only. */
#include "ops.h"

int probe_api_includes_core_private(void) { return 0; }
