/* Must not compile: the job layer takes its settings as arguments, not from the table. */
#include "config.h"

int probe_server_includes_config(void) { return 0; }
