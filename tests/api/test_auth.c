/*
 * test_auth.c — api/auth.c in-process: without a tokens file everything
 * passes as nobody; with one, the Authorization header's forms (missing,
 * another scheme, an unknown token, a listed one with spaces around); the
 * principal copied out; the rate limit's burst, refusal and Retry-After;
 * a reload that adds and removes tokens and keeps a name's spent budget;
 * a bad reload that keeps the tokens in force.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "test.h"

#define A "alice-token-0123456789abcdef"
#define B "bob-token-0123456789abcdefgh"
#define C "carol-token-0123456789abcdef"

static char path[512];
static char err[512];

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void test_open(void)
{
    api_auth *a;
    CHECK(auth_create(&a, NULL, "", 4, 600) == 0, "create");
    CHECK(!auth_enabled(a), "enabled without a table");
    auth_principal who;
    int retry;
    CHECK(auth_check(a, NULL, &who, &retry) == AUTH_OK && !who.known, "no header, open");
    CHECK(auth_check(a, "Bearer whatever-it-is-0123456", &who, &retry) == AUTH_OK && !who.known,
          "a header is ignored");
    size_t n;
    CHECK(auth_reload(a, &n, err, sizeof err) == 1, "reload without a file");
    auth_free(a);
}

static void test_tokens(void)
{
    write_file(A " alice user 2 3\n" B " bob admin\n");
    tokens_table *t;
    CHECK(tokens_load(path, 4, 600, &t, err, sizeof err) == 0, "%s", err);
    api_auth *a;
    CHECK(auth_create(&a, t, path, 4, 600) == 0, "create");
    CHECK(auth_enabled(a), "enabled");
    auth_principal who;
    int retry;
    CHECK(auth_check(a, NULL, &who, &retry) == AUTH_MISSING && !who.known, "no header");
    CHECK(auth_check(a, "Basic " A, &who, &retry) == AUTH_INVALID, "another scheme");
    CHECK(auth_check(a, "Bearer", &who, &retry) == AUTH_INVALID, "no token");
    CHECK(auth_check(a, "Bearer " A " x", &who, &retry) == AUTH_INVALID, "two words");
    CHECK(auth_check(a, "Bearer unknown-token-0123456789", &who, &retry) == AUTH_INVALID,
          "unknown");
    CHECK(auth_check(a, "Bearer " B, &who, &retry) == AUTH_OK && who.known &&
              !strcmp(who.name, "bob") && who.role == TOKEN_ADMIN && who.queue_quota == 4 &&
              who.rate_limit == 600,
          "bob, with the defaults");

    /* alice: 3 a minute, a burst of 3, then one every 20 s */
    CHECK(auth_check(a, "  bearer\t" A "  ", &who, &retry) == AUTH_OK && who.known &&
              !strcmp(who.name, "alice") && who.role == TOKEN_USER && who.queue_quota == 2 &&
              who.rate_limit == 3,
          "alice (scheme in any case, blanks around)");
    CHECK(auth_check(a, "Bearer " A, &who, &retry) == AUTH_OK, "alice 2");
    CHECK(auth_check(a, "Bearer " A, &who, &retry) == AUTH_OK, "alice 3");
    CHECK(auth_check(a, "Bearer " A, &who, &retry) == AUTH_RATE_LIMITED && who.known &&
              retry >= 19 && retry <= 20,
          "alice 4: limited, retry %d", retry);
    CHECK(auth_check(a, "Bearer " B, &who, &retry) == AUTH_OK, "bob is not");

    /* reload: carol in, bob out, alice's spent budget kept */
    write_file("# new\n" A " alice user 2 3\n" C " carol user\n");
    size_t n;
    CHECK(auth_reload(a, &n, err, sizeof err) == 0 && n == 2, "reload: %s", err);
    CHECK(auth_check(a, "Bearer " B, &who, &retry) == AUTH_INVALID, "bob gone");
    CHECK(auth_check(a, "Bearer " C, &who, &retry) == AUTH_OK && !strcmp(who.name, "carol"),
          "carol in");
    CHECK(auth_check(a, "Bearer " A, &who, &retry) == AUTH_RATE_LIMITED,
          "alice's budget survives the reload");

    /* a bad file: the tokens in force stay */
    write_file(A " alice user\n" C " carol nobody\n");
    CHECK(auth_reload(a, &n, err, sizeof err) < 0 && strstr(err, "line 2") && !strstr(err, C),
          "bad reload: %s", err);
    CHECK(auth_check(a, "Bearer " C, &who, &retry) == AUTH_OK, "carol still in");
    auth_free(a);
    remove(path);
}

int main(void)
{
    const char *dir = getenv("NST_TEST_TMP");
    snprintf(path, sizeof path, "%s/test_auth_tokens.txt", dir ? dir : "/tmp");
    TEST_RUN(test_open);
    TEST_RUN(test_tokens);
    return TEST_EXIT();
}
