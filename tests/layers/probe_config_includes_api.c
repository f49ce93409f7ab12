/* Must not compile: the settings table is below HTTP. */
#include "api.h"

int probe_config_includes_api(void) { return 0; }
