/*
 * tokens.h — the bearer tokens of --tokens-file: the file format, its
 * validation and the lookup of a presented token.
 *
 * One token a line, fields separated by spaces or tabs:
 *
 *     TOKEN NAME ROLE [QUEUE_QUOTA] [RATE_PER_MIN]
 *
 * TOKEN: 16 to 128 characters of A-Z a-z 0-9 - . _ ~ + / = (the token68
 * characters of RFC 6750); NAME: 1 to 63 of A-Z a-z 0-9 - . _ @ (jobs are
 * owned by it, logs show it); ROLE: user or admin; QUEUE_QUOTA: queued and
 * running jobs the token may have, RATE_PER_MIN: requests a minute it may
 * make — each a number (0: no limit) or "-" for the default given to the
 * loader (--token-queue-quota, --token-rate-limit). Blank lines are
 * skipped; a word starting with # starts a comment to the end of the line.
 * Tokens and names are unique; a file without a token is refused.
 *
 * Messages name the file and line, never a token's value.
 */
#ifndef NSTD_TOKENS_H
#define NSTD_TOKENS_H

#include <stddef.h>

#define TOKENS_MIN_LEN 16
#define TOKENS_MAX_LEN 128
#define TOKENS_NAME_SIZE 64         /* with its NUL; a job's owner field has the same size */
#define TOKENS_MAX_ENTRIES 10000
#define TOKENS_MAX_FILE_BYTES (4L * 1024 * 1024)
#define TOKENS_MAX_QUOTA 100000
#define TOKENS_MAX_RATE 1000000

typedef enum { TOKEN_USER = 0, TOKEN_ADMIN = 1 } token_role;

typedef struct {
    unsigned char secret[TOKENS_MAX_LEN];   /* zero-padded, so every comparison reads it all */
    size_t len;
    char name[TOKENS_NAME_SIZE];
    token_role role;
    int queue_quota;                        /* 0: no limit */
    int rate_limit;                         /* requests a minute; 0: no limit */
} token_entry;

typedef struct {
    token_entry *entries;
    size_t n;
} tokens_table;

/* Parse the text of a tokens file (len bytes; need not be NUL-terminated);
 * source names it in messages. Defaults stand for "-" and omitted fields.
 * 0 and *out (free with tokens_free), or -1 with "SOURCE line N: why" in
 * err. */
int tokens_parse(const char *text, size_t len, const char *source, int default_quota,
                 int default_rate, tokens_table **out, char *err, size_t errlen);

/* Read and parse the file at path (tokens_parse). */
int tokens_load(const char *path, int default_quota, int default_rate, tokens_table **out,
                char *err, size_t errlen);

/* Wipes the secrets. NULL is fine. */
void tokens_free(tokens_table *t);

/* The index of the entry whose token is the len bytes at token, or -1.
 * Constant time in the token's contents: every entry is compared over
 * TOKENS_MAX_LEN bytes, with no early exit. */
long tokens_find(const tokens_table *t, const char *token, size_t len);

/* "user" or "admin". */
const char *token_role_name(token_role r);

#endif
