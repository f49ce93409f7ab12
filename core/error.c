/*
 * error.c — error codes, the nst_error record every fallible call fills, and
 * the "did you mean" guess that messages about unknown names offer.
 */
#include <ctype.h>
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
    case NST_EFORMAT: return "unsupported image format";
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

/* ------------------------------------------------------------ did you mean */

#define SUGGEST_MAX_EDITS 2 /* farther candidates are not suggested */
#define SUGGEST_MAX_LEN 63  /* longer candidates are never suggested */

static int fold(int c, unsigned flags)
{
    if (!(flags & NST_SUGGEST_FOLD)) return c;
    return c == '-' ? '_' : tolower((unsigned char)c);
}

/* Levenshtein distance of a and b (b at most SUGGEST_MAX_LEN characters). */
static int edit_distance(const char *a, const char *b, size_t lb, unsigned flags)
{
    int row[SUGGEST_MAX_LEN + 1];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; a[i - 1]; i++) {
        int diag = row[0], ca = fold(a[i - 1], flags);
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (ca != fold(b[j - 1], flags));
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *nst_suggest(const char *wrong, const char *const *candidates, size_t n,
                        unsigned flags)
{
    const char *best = NULL;
    int best_d = SUGGEST_MAX_EDITS + 1;
    size_t lw = wrong ? strlen(wrong) : 0;
    for (size_t i = 0; wrong && i < n; i++) {
        const char *cand = candidates[i];
        size_t lc = cand ? strlen(cand) : 0;
        if (!cand || lc > SUGGEST_MAX_LEN || lw > lc + SUGGEST_MAX_EDITS) continue;
        int d = edit_distance(wrong, cand, lc, flags);
        if (d < best_d) best_d = d, best = cand;
    }
    return best;
}
