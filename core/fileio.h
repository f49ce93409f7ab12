/*
 * fileio.h — the name the engine's sources include for the file functions
 * (whole-file reads, crash-safe replacement). They are public, declared in
 * nst.h, since the nst command and the server's job store use them too.
 */
#ifndef NST_FILEIO_H
#define NST_FILEIO_H

#include "nst.h"

#endif
