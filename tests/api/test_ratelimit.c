/*
 * test_ratelimit.c — the per-client token buckets (api/ratelimit.c) on a
 * clock of the test's own: a burst is served and the next request waits,
 * tokens come back at the rate, Retry-After is whole seconds and at least
 * one, refusals in a row are counted, clients do not share buckets, idle clients are forgotten and the
 * table never holds more than max_clients.
 */
#include <string.h>

#include "netaddr.h"
#include "ratelimit.h"
#include "test.h"

static netaddr A(const char *text)
{
    netaddr a;
    memset(&a, 0, sizeof a);
    CHECK(netaddr_parse(text, strlen(text), &a) == 0, "'%s' parses", text);
    return a;
}

static int take(ratelimit *rl, const netaddr *a, double now)
{
    long run;
    return ratelimit_take(rl, a, now, &run);
}

static void test_burst_and_rate(void)
{
    ratelimit *rl;
    CHECK(ratelimit_create(&rl, 2, 5, 100) == 0, "create");
    netaddr a = A("192.0.2.1"), b = A("2001:db8::1");
    for (int i = 0; i < 5; i++) CHECK(take(rl, &a, 10.0) == 0, "burst request %d", i);
    CHECK(take(rl, &a, 10.0) == 1, "over the burst: retry in 1 s");
    CHECK(take(rl, &b, 10.0) == 0, "another client has its own bucket");
    CHECK(take(rl, &a, 10.25) == 1, "half a token is not enough");
    CHECK(take(rl, &a, 10.5) == 0, "a token after 1/rate s");
    CHECK(take(rl, &a, 10.5) == 1, "and only one");
    CHECK(take(rl, &a, 9.0) == 1, "a clock step back gives nothing");
    /* a steady 2/s is served for ever */
    int refused = 0;
    for (int i = 1; i <= 100; i++) refused += take(rl, &a, 10.5 + i * 0.5) != 0;
    CHECK(refused == 0, "%d of 100 requests at the rate refused", refused);
    ratelimit_free(rl);

    CHECK(ratelimit_create(&rl, 0.25, 1, 100) == 0, "create");
    CHECK(take(rl, &a, 0) == 0, "first");
    CHECK(take(rl, &a, 0) == 4, "1/rate = 4 s to the next token");
    CHECK(take(rl, &a, 2.5) == 2, "1.5 s left: 2 (rounded up)");
    ratelimit_free(rl);

    CHECK(ratelimit_create(&rl, 1000, 1, 100) == 0, "create");
    CHECK(take(rl, &a, 0) == 0, "first");
    CHECK(take(rl, &a, 0) == 1, "Retry-After is at least 1 s");
    ratelimit_free(rl);
}

static void test_runs(void)
{
    /* refusals in a row are numbered; the next request that goes on
     * reports how many there were */
    ratelimit *rl;
    long run;
    CHECK(ratelimit_create(&rl, 1, 2, 10) == 0, "create");
    netaddr a = A("192.0.2.7");
    for (int i = 0; i < 2; i++)
        CHECK(ratelimit_take(rl, &a, 0, &run) == 0 && run == 0, "served, run %ld", run);
    for (long k = 1; k <= 3; k++)
        CHECK(ratelimit_take(rl, &a, 0, &run) == 1 && run == k, "refusal %ld: run %ld", k, run);
    CHECK(ratelimit_take(rl, &a, 1, &run) == 0 && run == 3, "served after 3 refusals: %ld", run);
    CHECK(ratelimit_take(rl, &a, 1, &run) == 1 && run == 1, "a new run: %ld", run);
    CHECK(ratelimit_take(rl, &a, 2, &run) == 0 && run == 1, "served after 1: %ld", run);
    ratelimit_free(rl);
}

static void test_memory_bound(void)
{
    ratelimit *rl;
    CHECK(ratelimit_create(&rl, 1, 2, 3) == 0, "create");
    netaddr c[5] = {A("10.0.0.1"), A("10.0.0.2"), A("10.0.0.3"), A("10.0.0.4"), A("10.0.0.5")};
    for (int i = 0; i < 3; i++) {
        take(rl, &c[i], 0);
        take(rl, &c[i], 0);
        CHECK(take(rl, &c[i], 0) == 1, "client %d spent its burst", i);
    }
    CHECK(ratelimit_clients(rl) == 3, "%d clients", ratelimit_clients(rl));
    /* a fourth client takes the place of the least recently seen (c[0]) */
    CHECK(take(rl, &c[3], 0.1) == 0, "a new client at the cap is served");
    CHECK(ratelimit_clients(rl) == 3, "capped: %d clients", ratelimit_clients(rl));
    CHECK(take(rl, &c[1], 0.1) == 1, "c[1] is still remembered");
    CHECK(take(rl, &c[0], 0.1) == 0, "c[0] was forgotten: a full bucket");
    /* idle for burst / rate seconds: the bucket is full, the entry dropped */
    CHECK(take(rl, &c[4], 10.0) == 0, "after a long idle");
    CHECK(ratelimit_clients(rl) == 1, "idle clients forgotten: %d left", ratelimit_clients(rl));
    /* many clients: never more than the cap */
    for (int i = 0; i < 1000; i++) {
        netaddr x;
        memset(&x, 0, sizeof x);
        x.b[10] = x.b[11] = 0xff;
        x.b[12] = 198, x.b[13] = 51, x.b[14] = (unsigned char)(i >> 8), x.b[15] = (unsigned char)i;
        take(rl, &x, 20.0);
    }
    CHECK(ratelimit_clients(rl) == 3, "1000 clients at once: %d kept", ratelimit_clients(rl));
    ratelimit_free(rl);
}

int main(void)
{
    TEST_RUN(test_burst_and_rate);
    TEST_RUN(test_runs);
    TEST_RUN(test_memory_bound);
    return TEST_EXIT();
}
