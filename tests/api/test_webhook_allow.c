/*
 * test_webhook_allow.c — which webhook targets are permitted
 * (config/webhook_allow.c, netaddr_public): public addresses always;
 * loopback, private, link-local, … only when webhook_allow lists the
 * address, a range holding it, or the URL's host name; what the setting
 * refuses.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "netaddr.h"
#include "test.h"
#include "webhook_allow.h"

/* An address as a socket address. */
static struct sockaddr_storage SA(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) s4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) s6->sin6_family = AF_INET6;
    else CHECK(0, "'%s' is no address", text);
    return ss;
}

static int permits(const webhook_allow *w, const char *host, const char *addr)
{
    struct sockaddr_storage ss = SA(addr);
    return webhook_allow_permits(w, host, (struct sockaddr *)&ss);
}

static void test_public(void)
{
    const char *public[] = {"93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1",
                            "2606:2800:220:1::1", "::ffff:8.8.8.8"};
    const char *internal[] = {"127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "172.31.255.255",
                              "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
                              "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00::1",
                              "fc00::2", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
                              "64:ff9b::a00:1", "2001:db8::1"};
    for (size_t i = 0; i < sizeof public / sizeof *public; i++) {
        netaddr a;
        CHECK(netaddr_parse(public[i], strlen(public[i]), &a) == 0 && netaddr_public(&a),
              "%s is public", public[i]);
    }
    for (size_t i = 0; i < sizeof internal / sizeof *internal; i++) {
        netaddr a;
        CHECK(netaddr_parse(internal[i], strlen(internal[i]), &a) == 0 && !netaddr_public(&a),
              "%s is not public", internal[i]);
    }
}

static void test_permits(void)
{
    webhook_allow w;
    char err[160];
    CHECK(webhook_allow_parse("", &w, err, sizeof err) == 0, "empty: %s", err);
    CHECK(permits(&w, "example.com", "93.184.216.34"), "a public address without a list");
    CHECK(!permits(&w, "localhost", "127.0.0.1"), "loopback without a list");
    CHECK(!permits(&w, "x", "::1"), "IPv6 loopback without a list");

    CHECK(webhook_allow_parse(" 127.0.0.1, 10.0.0.0/8 ,fd00::/8,Hooks.Internal,,", &w, err,
                              sizeof err) == 0, "a list: %s", err);
    CHECK(w.n_ranges == 3 && w.n_hosts == 1, "%d ranges, %d hosts", w.n_ranges, w.n_hosts);
    CHECK(permits(&w, "a", "127.0.0.1"), "a listed address");
    CHECK(permits(&w, "a", "::ffff:127.0.0.1"), "a listed address, IPv4-mapped");
    CHECK(!permits(&w, "a", "127.0.0.2"), "another loopback address");
    CHECK(permits(&w, "a", "10.200.0.1"), "an address in a listed range");
    CHECK(!permits(&w, "a", "192.168.0.1"), "a private address outside the ranges");
    CHECK(permits(&w, "a", "fd12::1"), "an IPv6 address in a listed range");
    CHECK(permits(&w, "hooks.internal", "192.168.0.1"), "a listed host name, any case");
    CHECK(!permits(&w, "other.internal", "192.168.0.1"), "another host name");
    CHECK(permits(&w, "a", "1.1.1.1"), "a public address with a list");

    const char *bad[] = {"10.0.0.0/40", "1.2.3.4/", "http://x", "a b", "::1/200", "x/8"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(webhook_allow_parse(bad[i], &w, err, sizeof err) < 0 && err[0], "'%s' refused",
              bad[i]);
}

static void test_setting(void)
{
    nstd_config c;
    char err[512];
    config_defaults(&c);
    CHECK(config_set(&c, "webhook_allow", "127.0.0.1,hooks.internal", err, sizeof err) == 0, "%s",
          err);
    CHECK(config_set(&c, "webhook_allow", "10.0.0.0/33", err, sizeof err) < 0 &&
              strstr(err, "--webhook-allow"),
          "a bad range: %s", err);
    CHECK(config_set(&c, "webhook_secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", err,
                     sizeof err) == 0, "%s", err);
    CHECK(config_set(&c, "webhook_secret", "any plain text", err, sizeof err) == 0, "%s", err);
    CHECK(config_set(&c, "webhook_secret", "whsec_not*base64", err, sizeof err) < 0 &&
              !strstr(err, "not*base64") && strstr(err, "--webhook-secret"),
          "a bad whsec_ secret (and not repeated): %s", err);
    char *text = config_to_json(&c);
    CHECK(text && strstr(text, "\"webhook_secret\":\"***\"") && !strstr(text, "plain text"),
          "the secret is hidden: %s", text ? text : "(null)");
    free(text);
}

int main(void)
{
    TEST_RUN(test_public);
    TEST_RUN(test_permits);
    TEST_RUN(test_setting);
    return TEST_EXIT();
}
