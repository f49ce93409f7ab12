/* Must not compile: the job layer uses libnst through nst.h only. */
#include "fileio.h"

int probe_server_includes_core_private(void) { return 0; }
