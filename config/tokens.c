/*
 * tokens.c — the tokens file (format in tokens.h): parsing and validation
 * line by line, and the constant-time lookup of a presented token.
 *
 * Nothing here ever copies a token into a message: a bad token is named by
 * its line only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokens.h"

#define MAX_FIELDS 5
#define NAME_QUOTE_MAX 63

static const char token_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=";
static const char name_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._@";

const char *token_role_name(token_role r)
{
    return r == TOKEN_ADMIN ? "admin" : "user";
}

void tokens_free(tokens_table *t)
{
    if (!t) return;
    if (t->entries) explicit_bzero(t->entries, t->n * sizeof *t->entries);
    free(t->entries);
    free(t);
}

/* A word of n bytes made only of chars. */
static int all_of(const char *w, size_t n, const char *chars)
{
    for (size_t i = 0; i < n; i++)
        if (!w[i] || !strchr(chars, w[i])) return 0;
    return 1;
}

/* A limit field: "-" (the default) or a number in [0, max]. */
static int parse_limit(const char *w, size_t n, int dflt, int max, int *out)
{
    if (n == 1 && w[0] == '-') {
        *out = dflt;
        return 0;
    }
    if (n == 0 || n > 9 || !all_of(w, n, "0123456789")) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (w[i] - '0');
    if (v > max) return -1;
    *out = (int)v;
    return 0;
}

/* Split a line into at most MAX_FIELDS + 1 words (one more shows there are
 * too many); a word starting with # ends the line. */
static int split(const char *line, size_t len, const char **w, size_t *wl)
{
    int n = 0;
    size_t i = 0;
    while (i < len && n <= MAX_FIELDS) {
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
        if (i >= len || line[i] == '#') break;
        size_t start = i;
        while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') i++;
        w[n] = line + start;
        wl[n] = i - start;
        n++;
    }
    return n;
}

/* One line into e; NULL, or why it is wrong. */
static const char *parse_line(const char *line, size_t len, int default_quota, int default_rate,
                              token_entry *e, int *blank)
{
    const char *w[MAX_FIELDS + 1];
    size_t wl[MAX_FIELDS + 1];
    int n = split(line, len, w, wl);
    *blank = n == 0;
    if (n == 0) return NULL;
    if (memchr(line, 0, len)) return "the line has a NUL byte";
    if (n < 3) return "expected `TOKEN NAME ROLE [QUEUE_QUOTA] [RATE_PER_MIN]`";
    if (n > MAX_FIELDS) return "too many fields (expected `TOKEN NAME ROLE [QUEUE_QUOTA] "
                               "[RATE_PER_MIN]`)";
    if (wl[0] < TOKENS_MIN_LEN || wl[0] > TOKENS_MAX_LEN)
        return "the token must be 16 to 128 characters long";
    if (!all_of(w[0], wl[0], token_chars))
        return "the token may hold only letters, digits and - . _ ~ + / =";
    if (wl[1] >= TOKENS_NAME_SIZE || !all_of(w[1], wl[1], name_chars))
        return "the name must be 1 to 63 letters, digits or - . _ @";
    memset(e, 0, sizeof *e);
    memcpy(e->secret, w[0], wl[0]);
    e->len = wl[0];
    memcpy(e->name, w[1], wl[1]);
    if (wl[2] == 4 && memcmp(w[2], "user", 4) == 0)
        e->role = TOKEN_USER;
    else if (wl[2] == 5 && memcmp(w[2], "admin", 5) == 0)
        e->role = TOKEN_ADMIN;
    else
        return "the role must be user or admin";
    e->queue_quota = default_quota;
    e->rate_limit = default_rate;
    if (n > 3 && parse_limit(w[3], wl[3], default_quota, TOKENS_MAX_QUOTA, &e->queue_quota) < 0)
        return "the queue quota must be - or a number from 0 (no limit) to 100000";
    if (n > 4 && parse_limit(w[4], wl[4], default_rate, TOKENS_MAX_RATE, &e->rate_limit) < 0)
        return "the rate must be - or a number of requests a minute from 0 (no limit) to "
               "1000000";
    return NULL;
}

int tokens_parse(const char *text, size_t len, const char *source, int default_quota,
                 int default_rate, tokens_table **out, char *err, size_t errlen)
{
    *out = NULL;
    tokens_table *t = calloc(1, sizeof *t);
    size_t cap = 0;
    if (!t) {
        snprintf(err, errlen, "%s: out of memory", source);
        return -1;
    }
    int lineno = 0;
    const char *why = NULL;
    char dup[128];
    for (size_t pos = 0; pos < len && !why;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        const char *line = text + pos;
        pos += n + 1;
        lineno++;
        token_entry e;
        int blank;
        why = parse_line(line, n, default_quota, default_rate, &e, &blank);
        if (why || blank) continue;
        for (size_t i = 0; i < t->n && !why; i++) {
            /* file order, not secrets, decides the message: no timing matters here */
            if (t->entries[i].len == e.len && memcmp(t->entries[i].secret, e.secret, e.len) == 0) {
                snprintf(dup, sizeof dup, "the same token as the one for %.63s",
                         t->entries[i].name);
                why = dup;
            } else if (strcmp(t->entries[i].name, e.name) == 0) {
                snprintf(dup, sizeof dup, "the name %.63s is already used", e.name);
                why = dup;
            }
        }
        if (!why && t->n >= TOKENS_MAX_ENTRIES) why = "more than 10000 tokens";
        if (!why && t->n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            token_entry *ne = calloc(ncap, sizeof *ne);
            if (!ne) {
                why = "out of memory";
            } else {
                if (t->n) memcpy(ne, t->entries, t->n * sizeof *ne);
                if (t->entries) explicit_bzero(t->entries, t->n * sizeof *ne);
                free(t->entries);
                t->entries = ne;
                cap = ncap;
            }
        }
        if (!why) t->entries[t->n++] = e;
        explicit_bzero(&e, sizeof e);
    }
    if (why) {
        snprintf(err, errlen, "%s line %d: %s", source, lineno, why);
    } else if (t->n == 0) {
        snprintf(err, errlen, "%s: no tokens (expected lines of `TOKEN NAME ROLE "
                              "[QUEUE_QUOTA] [RATE_PER_MIN]`)", source);
        why = "";
    }
    if (why) {
        tokens_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int tokens_load(const char *path, int default_quota, int default_rate, tokens_table **out,
                char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read tokens file %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(TOKENS_MAX_FILE_BYTES + 1);
    size_t len = buf ? fread(buf, 1, TOKENS_MAX_FILE_BYTES + 1, f) : 0;
    int bad = !buf || ferror(f);
    int saved = errno;
    fclose(f);
    int rc = -1;
    if (bad)
        snprintf(err, errlen, "cannot read tokens file %s: %s", path,
                 buf ? strerror(saved) : "out of memory");
    else if (len > TOKENS_MAX_FILE_BYTES)
        snprintf(err, errlen, "tokens file %s: larger than %ld bytes", path,
                 TOKENS_MAX_FILE_BYTES);
    else
        rc = tokens_parse(buf, len, path, default_quota, default_rate, out, err, errlen);
    if (buf) explicit_bzero(buf, len);
    free(buf);
    return rc;
}

long tokens_find(const tokens_table *t, const char *token, size_t len)
{
    unsigned char probe[TOKENS_MAX_LEN];
    memset(probe, 0, sizeof probe);
    memcpy(probe, token, len < TOKENS_MAX_LEN ? len : TOKENS_MAX_LEN);
    long found = -1;
    for (size_t i = 0; t && i < t->n; i++) {
        const token_entry *e = &t->entries[i];
        unsigned char acc = 0;
        for (size_t k = 0; k < TOKENS_MAX_LEN; k++) acc |= (unsigned char)(e->secret[k] ^ probe[k]);
        size_t d = (e->len ^ len) | acc;
        /* 1 when d is 0, without a branch on it */
        long same = (long)(1 ^ ((d | (0 - d)) >> (sizeof d * 8 - 1)));
        found = (found & ~(0 - same)) | ((long)i & (0 - same));
    }
    explicit_bzero(probe, sizeof probe);
    return found;
}
