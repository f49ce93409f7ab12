/* Must not compile: the nst command uses libnst through nst.h only. */
#include "model.h"

int probe_nst_includes_core_private(void) { return 0; }
