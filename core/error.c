/*
 * error.c — error codes and the nst_error record every fallible call fills.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nst.h"

const char *nst_strerror(int code)
{
    switch (code) {
    case NST_OK: return "success";
    case NST_ENOMEM: return "out of memory";
    case NST_EINVAL: return "invalid parameter";
    case NST_EIO: return "input/output error";
    case NST_EMODEL: return "invalid model file";
    case NST_EIMAGE: return "invalid image";
    case NST_ETOOBIG: return "image too large";
    case NST_ECANCELED: return "canceled";
    default: return "unknown error";
    }
}

int nst_error_set(nst_error *err, int code, const char *field, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        snprintf(err->field, sizeof err->field, "%s", field ? field : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}
