/*
 * test_tokens.c — the tokens file (config/tokens.c): a good file with
 * comments, defaults and explicit limits; every kind of bad line refused
 * with its file and line and without the token's value; the lookup finds
 * exactly the presented token (not a prefix, not a longer one); a file is
 * read from disk.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tokens.h"

#define A_TOKEN "alice-token-0123456789"
#define B_TOKEN "bob-token-abcdefghijkl"
#define R_TOKEN "root-token-ABCDEFGHIJK"

static char err[512];

static tokens_table *parse(const char *text)
{
    tokens_table *t = NULL;
    err[0] = 0;
    if (tokens_parse(text, strlen(text), "tokens.txt", 4, 600, &t, err, sizeof err) < 0) return NULL;
    return t;
}

static void test_good(void)
{
    tokens_table *t = parse("# who may call\n"
                            "\n"
                            A_TOKEN " alice user\n"
                            "  " B_TOKEN "\tbob user 2 30   # two jobs, 30 a minute\n"
                            R_TOKEN " root admin - 0\r\n"
                            "   # the end");
    CHECK(t != NULL, "%s", err);
    if (!t) return;
    CHECK(t->n == 3, "%zu entries", t->n);
    CHECK(!strcmp(t->entries[0].name, "alice") && t->entries[0].role == TOKEN_USER &&
              t->entries[0].queue_quota == 4 && t->entries[0].rate_limit == 600,
          "alice: the defaults");
    CHECK(!strcmp(t->entries[1].name, "bob") && t->entries[1].queue_quota == 2 &&
              t->entries[1].rate_limit == 30,
          "bob: his limits");
    CHECK(!strcmp(t->entries[2].name, "root") && t->entries[2].role == TOKEN_ADMIN &&
              t->entries[2].queue_quota == 4 && t->entries[2].rate_limit == 0,
          "root: default quota, no rate limit (CRLF line)");
    CHECK(!strcmp(token_role_name(TOKEN_ADMIN), "admin") &&
              !strcmp(token_role_name(TOKEN_USER), "user"),
          "role names");

    CHECK(tokens_find(t, A_TOKEN, strlen(A_TOKEN)) == 0, "alice's token");
    CHECK(tokens_find(t, B_TOKEN, strlen(B_TOKEN)) == 1, "bob's token");
    CHECK(tokens_find(t, R_TOKEN, strlen(R_TOKEN)) == 2, "root's token");
    CHECK(tokens_find(t, A_TOKEN, strlen(A_TOKEN) - 1) == -1, "a prefix is not the token");
    CHECK(tokens_find(t, A_TOKEN "x", strlen(A_TOKEN) + 1) == -1, "a longer one is not");
    CHECK(tokens_find(t, "", 0) == -1, "nor the empty one");
    char big[300];
    memset(big, 'a', sizeof big);
    memcpy(big, A_TOKEN, strlen(A_TOKEN));
    CHECK(tokens_find(t, big, sizeof big) == -1, "nor one over the longest");
    CHECK(tokens_find(NULL, A_TOKEN, strlen(A_TOKEN)) == -1, "no table");
    tokens_free(t);
    tokens_free(NULL);
}

/* A bad file: refused, the message names the file and line, never a token. */
static void bad(const char *text, int line, const char *words)
{
    tokens_table *t = parse(text);
    CHECK(t == NULL, "accepted: %s", text);
    tokens_free(t);
    char where[64];
    snprintf(where, sizeof where, "tokens.txt line %d: ", line);
    CHECK(line == 0 || strstr(err, where), "'%s' for: %s", err, text);
    CHECK(strstr(err, words), "'%s' lacks '%s'", err, words);
    CHECK(!strstr(err, "token-0123") && !strstr(err, "short"), "a token in '%s'", err);
}

static void test_bad(void)
{
    bad("", 0, "no tokens");
    bad("# only a comment\n\n", 0, "no tokens");
    bad(A_TOKEN " alice\n", 1, "TOKEN NAME ROLE");
    bad("# x\n" A_TOKEN " alice owner\n", 2, "user or admin");
    bad(A_TOKEN " alice user 1 2 3\n", 1, "too many fields");
    bad("short alice user\n", 1, "16 to 128");
    bad("alice-token-0123456789\xc3\xa9 alice user\n", 1, "letters, digits");
    bad(A_TOKEN " al/ice user\n", 1, "name");
    bad(A_TOKEN " alice user many\n", 1, "queue quota");
    bad(A_TOKEN " alice user 100001\n", 1, "queue quota");
    bad(A_TOKEN " alice user 1 -5\n", 1, "rate");
    bad(A_TOKEN " alice user\n" A_TOKEN " bob user\n", 2, "same token");
    bad(A_TOKEN " alice user\n" B_TOKEN " alice user\n", 2, "alice is already used");
    char nul[] = A_TOKEN " alice user\0x\n";
    tokens_table *t = NULL;
    CHECK(tokens_parse(nul, sizeof nul - 1, "tokens.txt", 4, 600, &t, err, sizeof err) < 0 &&
              strstr(err, "line 1") && strstr(err, "NUL"),
          "a NUL byte: %s", err);
    tokens_free(t);
    char longname[200];
    snprintf(longname, sizeof longname, A_TOKEN " %064d user\n", 0);
    bad(longname, 1, "name");
}

static void test_file(void)
{
    const char *dir = getenv("NST_TEST_TMP");
    char path[512];
    snprintf(path, sizeof path, "%s/test_tokens.txt", dir ? dir : "/tmp");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    fprintf(f, "%s alice user\n%s root admin 0 0\n", A_TOKEN, R_TOKEN);
    fclose(f);
    tokens_table *t = NULL;
    CHECK(tokens_load(path, 1, 2, &t, err, sizeof err) == 0, "%s", err);
    CHECK(t && t->n == 2 && t->entries[0].queue_quota == 1 && t->entries[0].rate_limit == 2 &&
              t->entries[1].queue_quota == 0,
          "from the file");
    tokens_free(t);
    remove(path);
    CHECK(tokens_load(path, 1, 2, &t, err, sizeof err) < 0 && strstr(err, path) && t == NULL,
          "a missing file: %s", err);
}

int main(void)
{
    TEST_RUN(test_good);
    TEST_RUN(test_bad);
    TEST_RUN(test_file);
    return TEST_EXIT();
}
