/*
 * test_netaddr.c — the trusted_proxies setting (config/netaddr.c): IPv4
 * and IPv6 addresses and CIDR ranges, what the setting refuses, and the
 * real client of a request from the X-Forwarded-For / X-Real-IP headers of
 * trusted proxies (rightmost untrusted hop; a spoofed header from an
 * untrusted peer changes nothing).
 */
#include <string.h>

#include "config.h"
#include "netaddr.h"
#include "test.h"

static netaddr A(const char *text)
{
    netaddr a;
    memset(&a, 0, sizeof a);
    CHECK(netaddr_parse(text, strlen(text), &a) == 0, "'%s' parses", text);
    return a;
}

static const char *fmt(const netaddr *a)
{
    static char buf[NETADDR_TEXT];
    netaddr_format(a, buf, sizeof buf);
    return buf;
}

static void test_parse(void)
{
    netaddr a;
    netaddr x = A("10.1.2.3");
    CHECK(!strcmp(fmt(&x), "10.1.2.3"), "%s", fmt(&x));
    x = A(" ::1 ");
    CHECK(!strcmp(fmt(&x), "::1"), "%s", fmt(&x));
    x = A("[2001:db8::7]");
    CHECK(!strcmp(fmt(&x), "2001:db8::7"), "%s", fmt(&x));
    x = A("::ffff:192.0.2.1");   /* a dual-stack socket's IPv4 peer */
    CHECK(!strcmp(fmt(&x), "192.0.2.1"), "%s", fmt(&x));
    const char *bad[] = {"", " ", "1.2.3", "1.2.3.4:80", "unknown", "[1.2.3.4]", "::g", "1.2.3.4.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(netaddr_parse(bad[i], strlen(bad[i]), &a) < 0, "'%s' refused", bad[i]);
}

static void test_ranges(void)
{
    netaddr_range r[NETADDR_MAX_RANGES];
    char err[128];
    int n = netaddr_ranges_parse("127.0.0.1, 10.0.0.0/8,fd00::/8 ,192.168.1.77/24", r,
                                 NETADDR_MAX_RANGES, err, sizeof err);
    CHECK(n == 4, "4 ranges, got %d (%s)", n, n < 0 ? err : "");
    struct {
        const char *addr;
        int in;
    } cases[] = {{"127.0.0.1", 1},  {"127.0.0.2", 0},     {"10.255.0.1", 1},   {"11.0.0.1", 0},
                 {"fd12::1", 1},    {"fe80::1", 0},       {"192.168.1.1", 1},  {"192.168.2.1", 0},
                 {"::1", 0},        {"::ffff:10.0.0.9", 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        netaddr a = A(cases[i].addr);
        CHECK(netaddr_in_ranges(r, n, &a) == cases[i].in, "%s in: %d", cases[i].addr, cases[i].in);
    }
    CHECK(netaddr_ranges_parse("", r, NETADDR_MAX_RANGES, err, sizeof err) == 0, "empty");
    n = netaddr_ranges_parse("0.0.0.0/0", r, NETADDR_MAX_RANGES, err, sizeof err);
    netaddr v6 = A("2001:db8::1"), v4 = A("8.8.8.8");
    CHECK(n == 1 && netaddr_in_ranges(r, n, &v4) && !netaddr_in_ranges(r, n, &v6),
          "0.0.0.0/0 is every IPv4 address and no IPv6 one");
    const char *bad[] = {"localhost", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x",
                         "1.2.3.4/8/8", "10.0.0.0/-1", "1.2.3.4;5.6.7.8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(netaddr_ranges_parse(bad[i], r, NETADDR_MAX_RANGES, err, sizeof err) < 0 && err[0],
              "'%s' refused with a message", bad[i]);
    }
}

static void test_setting(void)
{
    nstd_config cfg;
    char err[512];
    config_defaults(&cfg);
    CHECK(cfg.trusted_proxies[0] == 0, "trusts none by default");
    CHECK(config_set(&cfg, "trusted_proxies", "127.0.0.1,::1,172.16.0.0/12", err, sizeof err) == 0,
          "valid list: %s", err);
    CHECK(config_set(&cfg, "trusted_proxies", "10.0.0.0/40", err, sizeof err) < 0 &&
              strstr(err, "--trusted-proxies") && strstr(err, "10.0.0.0/40"),
          "a bad range names the setting and the value: %s", err);
    CHECK(!strcmp(cfg.trusted_proxies, "127.0.0.1,::1,172.16.0.0/12"), "kept the valid value");
}

static void test_client(void)
{
    netaddr_range r[NETADDR_MAX_RANGES];
    char err[128];
    int n = netaddr_ranges_parse("127.0.0.1,10.0.0.0/8", r, NETADDR_MAX_RANGES, err, sizeof err);
    netaddr proxy = A("127.0.0.1"), direct = A("198.51.100.9"), c;
    struct {
        const netaddr *peer;
        const char *xff, *xri, *client;
        int trusted;
    } cases[] = {
        /* a direct client's headers are not believed */
        {&direct, "203.0.113.5", "203.0.113.6", "198.51.100.9", 0},
        /* through the proxy: the hop it appended */
        {&proxy, "203.0.113.5", NULL, "203.0.113.5", 1},
        /* a client's own claim left of the hop the proxy saw is ignored */
        {&proxy, "1.1.1.1, 203.0.113.5", NULL, "203.0.113.5", 1},
        /* trusted hops on the right are skipped */
        {&proxy, "1.1.1.1, 203.0.113.5, 10.0.0.3,127.0.0.1", NULL, "203.0.113.5", 1},
        {&proxy, "2001:db8::5, 10.1.1.1", NULL, "2001:db8::5", 1},
        /* every hop trusted: the leftmost */
        {&proxy, "10.0.0.7, 10.0.0.3", NULL, "10.0.0.7", 1},
        /* garbage: the last trusted hop */
        {&proxy, "203.0.113.5, junk, 10.0.0.3", NULL, "10.0.0.3", 1},
        {&proxy, "junk", NULL, "127.0.0.1", 1},
        /* X-Real-IP only without X-Forwarded-For */
        {&proxy, NULL, "203.0.113.8", "203.0.113.8", 1},
        {&proxy, "", "203.0.113.8", "203.0.113.8", 1},
        {&proxy, "203.0.113.5", "203.0.113.8", "203.0.113.5", 1},
        {&proxy, NULL, "nonsense", "127.0.0.1", 1},
        {&proxy, NULL, NULL, "127.0.0.1", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int t = netaddr_client(r, n, cases[i].peer, cases[i].xff, cases[i].xri, &c);
        CHECK(t == cases[i].trusted && !strcmp(fmt(&c), cases[i].client),
              "case %zu (%s | %s): client %s trusted %d, expected %s %d", i,
              cases[i].xff ? cases[i].xff : "-", cases[i].xri ? cases[i].xri : "-", fmt(&c), t,
              cases[i].client, cases[i].trusted);
    }
}

int main(void)
{
    TEST_RUN(test_parse);
    TEST_RUN(test_ranges);
    TEST_RUN(test_setting);
    TEST_RUN(test_client);
    return TEST_EXIT();
}
