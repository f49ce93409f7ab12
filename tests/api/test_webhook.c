/*
 * test_webhook.c — webhook signatures and checks (server/webhook.c): the
 * Standard Webhooks test vector, keys from whsec_ and plain secrets, and
 * what webhooks_check accepts and refuses (a policy callback decides about
 * addresses; only IP literals, so no DNS is needed).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "test.h"
#include "webhook.h"

static void test_sign(void)
{
    unsigned char key[256];
    char sig[128];
    /* the vector of the Standard Webhooks specification */
    size_t n = webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, sizeof key);
    CHECK(n == 24, "whsec_ key: %zu bytes", n);
    const char *body = "{\"test\": 2432232314}";
    CHECK(webhook_sign(key, n, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body), sig,
                       sizeof sig) == 0, "sign");
    CHECK(!strcmp(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), "signature %s", sig);

    /* a plain secret is the key's bytes (computed with Python's hmac) */
    n = webhook_key("plain-secret", key, sizeof key);
    CHECK(n == 12 && !memcmp(key, "plain-secret", 12), "plain key: %zu bytes", n);
    CHECK(webhook_sign(key, n, "msg_1", 1700000000, "{}", 2, sig, sizeof sig) == 0, "sign 2");
    CHECK(!strcmp(sig, "v1,p6NQsMzLWth/nlsTq5oslSVPNvyHmbQZrni4qovDPj4="), "signature %s", sig);

    CHECK(webhook_key("", key, sizeof key) == 0, "an empty secret");
    CHECK(webhook_key("whsec_", key, sizeof key) == 0, "whsec_ without a key");
    CHECK(webhook_key("whsec_abc", key, sizeof key) == 0, "whsec_ with broken base64");
    CHECK(webhook_sign(key, 1, "id", 1, "", 0, sig, 10) < 0, "a short output buffer");
}

/* The policy of the checks below: 127.0.0.1 only among loopback addresses. */
static int permit(void *user, const char *host, const struct sockaddr *sa)
{
    (void)user;
    (void)host;
    if (sa->sa_family != AF_INET) return 0;
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    return ntohl(s4->sin_addr.s_addr) == 0x7f000001;
}

static int check(webhooks *h, const char *url_json, const char *events_json, cJSON **out,
                 const char **field)
{
    char why[512] = "";
    cJSON *url = url_json ? cJSON_Parse(url_json) : NULL;
    cJSON *events = events_json ? cJSON_Parse(events_json) : NULL;
    int rc = webhooks_check(h, url, events, out, field, why, sizeof why);
    CHECK(rc == 0 || why[0], "a refusal without a reason");
    cJSON_Delete(url);
    cJSON_Delete(events);
    return rc;
}

static void test_check(void)
{
    webhook_config cfg = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 2, 3, 10, 500, 64, permit, NULL};
    webhooks *h = webhooks_create(&cfg);
    CHECK(h && webhooks_enabled(h), "created, enabled");
    cJSON *out = NULL;
    const char *field = NULL;

    CHECK(check(h, NULL, NULL, &out, &field) == 0 && !out, "no webhook");
    CHECK(check(h, "\"http://127.0.0.1:9/x\"", NULL, &out, &field) == 0 && out, "accepted");
    char *text = cJSON_PrintUnformatted(out);
    CHECK(text && !strcmp(text, "{\"url\":\"http://127.0.0.1:9/x\",\"events\":[\"start\","
                                "\"progress\",\"completed\"]}"),
          "every event by default: %s", text ? text : "");
    free(text);
    cJSON_Delete(out);
    CHECK(check(h, "\"https://127.0.0.1/\"", "[\"completed\",\"start\"]", &out, &field) == 0,
          "events");
    text = cJSON_PrintUnformatted(cJSON_GetObjectItem(out, "events"));
    CHECK(text && !strcmp(text, "[\"start\",\"completed\"]"), "events in order: %s", text);
    free(text);
    cJSON_Delete(out);

    struct {
        const char *url, *events, *field;
    } bad[] = {
        {"\"http://127.0.0.2/\"", NULL, "webhook"},          /* not permitted */
        {"\"http://[::1]/\"", NULL, "webhook"},
        {"\"ftp://127.0.0.1/\"", NULL, "webhook"},
        {"\"127.0.0.1\"", NULL, "webhook"},
        {"\"\"", NULL, "webhook"},
        {"42", NULL, "webhook"},
        {"\"http://127.0.0.1/0123456789012345678901234567890123456789012345678901\"", NULL,
         "webhook"},                                         /* longer than max_url 64 */
        {"\"http://127.0.0.1/\"", "[]", "webhook_events"},
        {"\"http://127.0.0.1/\"", "\"start\"", "webhook_events"},
        {"\"http://127.0.0.1/\"", "[\"end\"]", "webhook_events"},
        {"\"http://127.0.0.1/\"", "[\"start\",\"start\"]", "webhook_events"},
        {NULL, "[\"start\"]", "webhook_events"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        out = NULL;
        int rc = check(h, bad[i].url, bad[i].events, &out, &field);
        CHECK(rc == -1 && !out && !strcmp(field, bad[i].field), "case %zu (%s %s): %d, field %s",
              i, bad[i].url ? bad[i].url : "-", bad[i].events ? bad[i].events : "-", rc, field);
    }
    webhooks_free(h);

    webhook_config none = cfg;
    none.secret = "";
    h = webhooks_create(&none);
    CHECK(!webhooks_enabled(h), "no secret: disabled");
    CHECK(check(h, "\"http://127.0.0.1/\"", NULL, &out, &field) == -2 && !out, "disabled: -2");
    webhooks_free(h);
    CHECK(!webhooks_enabled(NULL), "no sender: disabled");
}

int main(void)
{
    TEST_RUN(test_sign);
    TEST_RUN(test_check);
    return TEST_EXIT();
}
