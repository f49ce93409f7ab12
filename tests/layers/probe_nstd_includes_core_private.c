/* Must not compile: nstd uses libnst through nst.h only. */
#include "objective.h"

int probe_nstd_includes_core_private(void) { return 0; }
