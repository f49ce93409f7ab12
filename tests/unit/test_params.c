/*
 * test_params.c — the parameter validator (core/params.c): defaults, every
 * key accepted, every kind of error naming its field, the command-line
 * setter, and the JSON view parsing back to the same parameters.
 * Runs without a model (m = NULL: the paper's defaults).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "nst.h"
#include "test.h"

static int parse(nst_params *p, const char *json, const nst_limits *lim, nst_error *err)
{
    return nst_params_parse(p, json, strlen(json), lim, err);
}

static int params_equal(const nst_params *a, const nst_params *b)
{
    int same = a->n_content_layers == b->n_content_layers &&
               a->n_style_layers == b->n_style_layers &&
               a->n_style_blend_weights == b->n_style_blend_weights &&
               a->alpha == b->alpha && a->beta == b->beta && a->tv_weight == b->tv_weight &&
               a->iterations == b->iterations && a->optimizer == b->optimizer &&
               a->learning_rate == b->learning_rate && a->init == b->init &&
               a->seed == b->seed && a->image_size == b->image_size &&
               a->style_scale == b->style_scale && a->pooling == b->pooling &&
               a->preserve_colors == b->preserve_colors && a->preview_every == b->preview_every &&
               a->scales == b->scales && a->tolerance == b->tolerance &&
               a->content_mask_weight == b->content_mask_weight;
    for (int i = 0; same && i < a->n_content_layers; i++)
        same = a->content_layers[i] == b->content_layers[i];
    for (int i = 0; same && i < a->n_style_layers; i++)
        same = a->style_layers[i] == b->style_layers[i] &&
               a->style_layer_weights[i] == b->style_layer_weights[i];
    for (int i = 0; same && i < a->n_style_blend_weights; i++)
        same = a->style_blend_weights[i] == b->style_blend_weights[i];
    return same;
}

static void test_defaults(void)
{
    nst_params p;
    nst_params_default(&p, NULL);
    CHECK(p.n_content_layers == 1 && p.content_layers[0] == nst_layer_index("conv4_2"), "content");
    static const char *const style[] = {"conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"};
    CHECK(p.n_style_layers == 5, "%d style layers", p.n_style_layers);
    for (int i = 0; i < 5; i++) {
        CHECK(p.style_layers[i] == nst_layer_index(style[i]), "style layer %d", i);
        CHECK_CLOSE(p.style_layer_weights[i], 0.2, 1e-15);
    }
    CHECK(p.alpha == 1 && p.beta == 1e3 && p.tv_weight == 0, "weights");
    CHECK(p.iterations == 300, "iterations %d", p.iterations);
    CHECK(p.optimizer == NST_OPT_LBFGS && p.init == NST_INIT_CONTENT, "optimizer, init");
    CHECK(p.learning_rate == 0.02 && p.seed == 0, "learning_rate, seed");
    CHECK(p.image_size == 512 && p.style_scale == 1.0, "sizes");
    CHECK(p.n_style_blend_weights == 0, "blend");
    CHECK(p.pooling == NST_POOL_AVG && p.preserve_colors == NST_COLORS_NONE, "pooling, colors");
    CHECK(p.preview_every == 10, "preview_every");
}

static void test_every_key(void)
{
    const char *json =
        "{\"content_layers\": [\"conv3_2\", \"conv5_2\"],"
        " \"style_layers\": [\"conv1_1\", \"conv3_1\"],"
        " \"style_layer_weights\": [0.75, 0.25],"
        " \"alpha\": 5, \"beta\": 1e8, \"tv_weight\": 0.001, \"iterations\": 120,"
        " \"optimizer\": \"adam\", \"learning_rate\": 0.5, \"init\": \"noise\","
        " \"seed\": 9007199254740992, \"image_size\": 256, \"style_scale\": 0.5,"
        " \"style_blend_weights\": [1, 3], \"pooling\": \"max\","
        " \"preserve_colors\": \"histogram\", \"preview_every\": 0}";
    nst_params p;
    nst_error err = {0};
    nst_params_default(&p, NULL);
    int rc = parse(&p, json, NULL, &err);
    CHECK(rc == NST_OK, "rc %d: %s", rc, err.message);
    CHECK(p.n_content_layers == 2 && p.content_layers[0] == nst_layer_index("conv3_2") &&
              p.content_layers[1] == nst_layer_index("conv5_2"), "content_layers");
    CHECK(p.n_style_layers == 2 && p.style_layers[1] == nst_layer_index("conv3_1"), "style_layers");
    CHECK(p.style_layer_weights[0] == 0.75 && p.style_layer_weights[1] == 0.25, "weights");
    CHECK(p.alpha == 5 && p.beta == 1e8 && p.tv_weight == 0.001, "alpha beta tv");
    CHECK(p.iterations == 120 && p.optimizer == NST_OPT_ADAM, "iterations optimizer");
    CHECK(p.learning_rate == 0.5 && p.init == NST_INIT_NOISE, "learning_rate init");
    CHECK(p.seed == 9007199254740992ull, "seed %llu", (unsigned long long)p.seed);
    CHECK(p.image_size == 256 && p.style_scale == 0.5, "sizes");
    CHECK(p.n_style_blend_weights == 2 && p.style_blend_weights[1] == 3, "blend");
    CHECK(p.pooling == NST_POOL_MAX && p.preserve_colors == NST_COLORS_HISTOGRAM, "enums");
    CHECK(p.preview_every == 0, "preview_every");

    /* the other enum values, one key at a time */
    CHECK(parse(&p, "{\"init\": \"style\", \"preserve_colors\": \"luminance\"}", NULL, &err) == 0 &&
              p.init == NST_INIT_STYLE && p.preserve_colors == NST_COLORS_LUMINANCE, "%s",
          err.message);
    CHECK(parse(&p, "{\"style_blend_weights\": null}", NULL, &err) == 0 &&
              p.n_style_blend_weights == 0, "null blend weights: %s", err.message);
    CHECK(parse(&p, " \n", NULL, &err) == 0, "blank params");
    CHECK(parse(&p, "{}", NULL, &err) == 0, "empty object");
}

/* Layers given without weights get equal weights; weights alone must match
 * the current layer count. */
static void test_style_layer_weights(void)
{
    nst_params p;
    nst_error err = {0};
    nst_params_default(&p, NULL);
    CHECK(parse(&p, "{\"style_layers\": [\"conv1_1\", \"conv2_1\", \"conv3_1\", \"conv4_1\"]}",
                NULL, &err) == 0, "%s", err.message);
    CHECK(p.n_style_layers == 4 && p.style_layer_weights[3] == 0.25, "equal weights");
    CHECK(parse(&p, "{\"style_layer_weights\": [1, 2, 3, 4]}", NULL, &err) == 0, "%s",
          err.message);
    CHECK(p.style_layer_weights[3] == 4, "weights alone");
    int rc = parse(&p, "{\"style_layer_weights\": [1, 2]}", NULL, &err);
    CHECK(rc == NST_EINVAL && strcmp(err.field, "style_layer_weights") == 0, "field %s",
          err.field);
    CHECK(strstr(err.message, "2 values") && strstr(err.message, "4 layers"), "%s", err.message);
}

typedef struct {
    const char *json;
    const char *field;
    const char *says; /* part of the message */
} bad_case;

static const bad_case bad_cases[] = {
    {"{\"alpah\": 1}", "alpah", "did you mean \"alpha\""},
    {"{\"colour\": 1}", "colour", "unknown parameter"},
    {"{\"alpha\": \"1\"}", "alpha", "alpha must be a number"},
    {"{\"beta\": -1}", "beta", "beta must be between 0 and 1e+15"},
    {"{\"tv_weight\": 1e16}", "tv_weight", "between 0 and 1e+15"},
    {"{\"alpha\": 1e999}", "alpha", "between"},
    {"{\"iterations\": 0}", "iterations", "iterations must be between 1 and 100000"},
    {"{\"iterations\": 2.5}", "iterations", "must be an integer"},
    {"{\"iterations\": true}", "iterations", "iterations must be an integer"},
    {"{\"optimizer\": \"sgd\"}", "optimizer", "\"lbfgs\", \"adam\""},
    {"{\"optimizer\": 1}", "optimizer", "must be one of"},
    {"{\"learning_rate\": 0}", "learning_rate", "greater than 0 and at most 10"},
    {"{\"learning_rate\": 11}", "learning_rate", "greater than 0"},
    {"{\"init\": \"random\"}", "init", "\"content\", \"noise\", \"style\""},
    {"{\"seed\": -1}", "seed", "between 0 and 9007199254740992"},
    {"{\"seed\": 1.5}", "seed", "must be an integer"},
    {"{\"seed\": 1e300}", "seed", "between 0 and"},
    {"{\"image_size\": 15}", "image_size", "image_size must be between 16 and 8192"},
    {"{\"style_scale\": 0.01}", "style_scale", "between 0.05 and 8"},
    {"{\"pooling\": \"min\"}", "pooling", "\"max\", \"avg\""},
    {"{\"preserve_colors\": null}", "preserve_colors", "must be one of"},
    {"{\"scales\": 5}", "scales", "between 1 and 4"},
    {"{\"scales\": 1.5}", "scales", "integer"},
    {"{\"preview_every\": -1}", "preview_every", "between 0 and 100000"},
    {"{\"style_layers\": \"conv1_1\"}", "style_layers",
     "style_layers must be an array of layer names"},
    {"{\"style_layers\": [1]}", "style_layers", "array of layer names"},
    {"{\"style_layers\": [\"conv6_1\"]}", "style_layers", "valid: conv1_1, conv1_2"},
    {"{\"content_layers\": [\"conv4_2\", \"conv4_2\"]}", "content_layers", "conv4_2 twice"},
    {"{\"content_layers\": []}", "content_layers", "must not be empty"},
    {"{\"style_layer_weights\": [1, 1, 1, 1, -1]}", "style_layer_weights", "between 0 and"},
    {"{\"style_layer_weights\": [0, 0, 0, 0, 0]}", "style_layer_weights", "all zero"},
    {"{\"style_layer_weights\": [1, \"x\", 1, 1, 1]}", "style_layer_weights", "array of numbers"},
    {"{\"style_layer_weights\": [1, 1]}", "style_layer_weights", "has 2 values"},
    {"{\"style_layers\": [\"conv1_1\"], \"style_layer_weights\": [1, 2]}", "style_layer_weights",
     "style_layers has 1 layers"},
    {"{\"style_blend_weights\": []}", "style_blend_weights", "empty or all zero"},
    {"{\"style_blend_weights\": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}", "style_blend_weights",
     "at most 16"},
    {"{\"alpha\": 1, \"alpha\": 2}", "alpha", "given twice"},
    {"{\"alpha\": }", "params", "not valid JSON (error at byte 10)"},
    {"not json", "params", "not valid JSON"},
    {"[1, 2]", "params", "must be a JSON object"},
    {"{} {}", "params", "text after the JSON object"},
};

static void test_errors(void)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        nst_params p, before;
        nst_error err = {0};
        nst_params_default(&p, NULL);
        p.alpha = 7; /* something to keep */
        before = p;
        int rc = parse(&p, c->json, NULL, &err);
        CHECK(rc == NST_EINVAL && err.code == NST_EINVAL, "%s: rc %d", c->json, rc);
        CHECK(strcmp(err.field, c->field) == 0, "%s: field \"%s\", expected \"%s\"", c->json,
              err.field, c->field);
        CHECK(strstr(err.message, c->says) != NULL, "%s: message \"%s\" lacks \"%s\"", c->json,
              err.message, c->says);
        CHECK(params_equal(&p, &before), "%s: params changed on error", c->json);
    }
}

static void test_limits(void)
{
    nst_params p;
    nst_error err = {0};
    nst_limits lim = {.max_iterations = 2000, .max_image_size = 1024};
    nst_params_default(&p, NULL);
    CHECK(parse(&p, "{\"iterations\": 2000, \"image_size\": 1024}", &lim, &err) == 0, "%s",
          err.message);
    CHECK(parse(&p, "{\"iterations\": 2001}", &lim, &err) == NST_EINVAL, "over the limit");
    CHECK(strstr(err.message, "iterations must be between 1 and 2000"), "%s", err.message);
    CHECK(parse(&p, "{\"image_size\": 1025}", &lim, &err) == NST_EINVAL, "over the limit");
    CHECK(strstr(err.message, "image_size must be between 16 and 1024"), "%s", err.message);
    CHECK(strcmp(err.field, "image_size") == 0, "field %s", err.field);
}

/* The style images are sized style_scale × image_size: bounded by
 * max_image_size too, whichever order the keys come in. */
static void test_style_scale_limit(void)
{
    nst_params p;
    nst_error err = {0};
    nst_limits lim = {.max_iterations = 2000, .max_image_size = 1024};
    nst_params_default(&p, NULL);
    CHECK(parse(&p, "{\"style_scale\": 2, \"image_size\": 512}", &lim, &err) == 0, "%s",
          err.message);
    CHECK(parse(&p, "{\"style_scale\": 8, \"image_size\": 128}", &lim, &err) == 0, "%s",
          err.message);
    nst_params_default(&p, NULL);
    CHECK(parse(&p, "{\"style_scale\": 8}", &lim, &err) == NST_EINVAL, "8 x 512 > 1024");
    CHECK(strcmp(err.field, "style_scale") == 0, "field %s", err.field);
    CHECK(strstr(err.message, "4096 px") && strstr(err.message, "max_image_size 1024") &&
              strstr(err.message, "at most 2"),
          "%s", err.message);
    CHECK(p.style_scale == 1.0, "rejected params changed p");
    CHECK(parse(&p, "{\"image_size\": 1024, \"style_scale\": 1.01}", &lim, &err) == NST_EINVAL &&
              strcmp(err.field, "style_scale") == 0,
          "1.01 x 1024: %s", err.message);
    CHECK(parse(&p, "{\"style_scale\": 8, \"image_size\": 128}", NULL, &err) == 0 &&
              parse(&p, "{\"image_size\": 1024}", NULL, &err) == 0,
          "no limits: %s", err.message);
}

static void test_not_terminated(void)
{
    nst_params p;
    nst_error err = {0};
    char buf[] = {'{', '"', 'b', 'e', 't', 'a', '"', ':', '5', '}', 'X', 'X'};
    nst_params_default(&p, NULL);
    CHECK(nst_params_parse(&p, buf, 10, NULL, &err) == 0 && p.beta == 5, "%s", err.message);
    CHECK(nst_params_parse(&p, buf, 9, NULL, &err) == NST_EINVAL, "cut short");
}

static void test_set(void)
{
    nst_params p;
    nst_error err = {0};
    nst_params_default(&p, NULL);
    CHECK(nst_params_set(&p, "style_layers", "conv1_1,conv2_1", NULL, &err) == 0, "%s",
          err.message);
    CHECK(p.n_style_layers == 2 && p.style_layers[0] == nst_layer_index("conv1_1") &&
              p.style_layers[1] == nst_layer_index("conv2_1"), "style_layers");
    CHECK(p.style_layer_weights[0] == 0.5 && p.style_layer_weights[1] == 0.5, "equal weights");
    CHECK(nst_params_set(&p, "style_layer_weights", "1, 3", NULL, &err) == 0, "%s", err.message);
    CHECK(p.style_layer_weights[1] == 3, "weights");
    CHECK(nst_params_set(&p, "content_layers", " conv3_1 , conv4_2 ", NULL, &err) == 0, "%s",
          err.message);
    CHECK(p.n_content_layers == 2 && p.content_layers[0] == nst_layer_index("conv3_1"), "spaces");
    CHECK(nst_params_set(&p, "iterations", "50", NULL, &err) == 0 && p.iterations == 50, "int");
    CHECK(nst_params_set(&p, "beta", "1e8", NULL, &err) == 0 && p.beta == 1e8, "number");
    CHECK(nst_params_set(&p, "seed", "42", NULL, &err) == 0 && p.seed == 42, "seed");
    CHECK(nst_params_set(&p, "optimizer", "adam", NULL, &err) == 0 &&
              p.optimizer == NST_OPT_ADAM, "enum");
    CHECK(nst_params_set(&p, "style_blend_weights", "2,1", NULL, &err) == 0 &&
              p.n_style_blend_weights == 2, "blend");

    nst_params before = p;
    CHECK(nst_params_set(&p, "alpha", "abc", NULL, &err) == NST_EINVAL, "not a number");
    CHECK(strcmp(err.field, "alpha") == 0 && strstr(err.message, "alpha must be a number"),
          "%s: %s", err.field, err.message);
    CHECK(nst_params_set(&p, "iterations", "5x", NULL, &err) == NST_EINVAL, "trailing text");
    CHECK(nst_params_set(&p, "style_layers", "conv1_1,,conv2_1", NULL, &err) == NST_EINVAL &&
              strstr(err.message, "unknown layer \"\""), "%s", err.message);
    CHECK(nst_params_set(&p, "style_layers", "", NULL, &err) == NST_EINVAL &&
              strstr(err.message, "must not be empty"), "%s", err.message);
    CHECK(nst_params_set(&p, "style_layer_weights", "1,x", NULL, &err) == NST_EINVAL &&
              strstr(err.message, "array of numbers"), "%s", err.message);
    CHECK(nst_params_set(&p, "iterations", "0", NULL, &err) == NST_EINVAL &&
              strstr(err.message, "between 1 and"), "%s", err.message);
    CHECK(nst_params_set(&p, "style-layers", "conv1_1", NULL, &err) == NST_EINVAL &&
              strcmp(err.field, "style-layers") == 0 && strstr(err.message, "\"style_layers\""),
          "%s", err.message);
    CHECK(params_equal(&p, &before), "params changed on error");
}

static void test_check_styles(void)
{
    nst_params p;
    nst_error err = {0};
    nst_params_default(&p, NULL);
    CHECK(nst_params_check_styles(&p, 3, &err) == 0, "equal weights, any count");
    CHECK(nst_params_check_styles(&p, 0, &err) == NST_EINVAL && strcmp(err.field, "style") == 0,
          "no style: %s", err.field);
    CHECK(nst_params_check_styles(&p, NST_MAX_STYLES + 1, &err) == NST_EINVAL, "too many");
    CHECK(parse(&p, "{\"style_blend_weights\": [1, 2]}", NULL, &err) == 0, "%s", err.message);
    CHECK(nst_params_check_styles(&p, 2, &err) == 0, "matching count");
    CHECK(nst_params_check_styles(&p, 3, &err) == NST_EINVAL &&
              strcmp(err.field, "style_blend_weights") == 0, "field %s", err.field);
    CHECK(strstr(err.message, "2 values") && strstr(err.message, "3 style images"), "%s",
          err.message);
}

static void test_json_round_trip(void)
{
    nst_params p, q;
    nst_error err = {0};
    nst_params_default(&p, NULL);
    CHECK(parse(&p,
                "{\"content_layers\": [\"conv5_4\"], \"style_layers\": [\"conv2_2\", \"conv1_1\"],"
                " \"style_layer_weights\": [0.1, 0.30000000000000004], \"beta\": 123456.789,"
                " \"tv_weight\": 1e-7, \"seed\": 1234567890123, \"style_blend_weights\": [0.2, 5],"
                " \"learning_rate\": 0.001, \"pooling\": \"max\"}",
                NULL, &err) == 0, "%s", err.message);
    for (int pass = 0; pass < 2; pass++) { /* with and without blend weights */
        char *json = nst_params_to_json(&p);
        CHECK(json != NULL, "to_json");
        if (!json) return;
        nst_params_default(&q, NULL);
        CHECK(parse(&q, json, NULL, &err) == 0, "%s: %s", json, err.message);
        CHECK(params_equal(&p, &q), "round trip differs: %s", json);
        char *again = nst_params_to_json(&q);
        CHECK(again && strcmp(json, again) == 0, "%s\n%s", json, again);
        CHECK(strstr(json, "\"style_layers\":[\"conv2_2\",\"conv1_1\"]"), "%s", json);
        int keys = 0;
        for (const char *s = json; (s = strstr(s, "\":")); s++) keys++;
        CHECK(keys == 20, "%d keys in %s", keys, json);
        free(json);
        free(again);
        p.n_style_blend_weights = 0;
    }
}

/* nst_pooling_name gives the names the validator accepts, for every value. */
static void test_pooling_names(void)
{
    for (nst_pooling v = NST_POOL_MAX; v <= NST_POOL_AVG; v++) {
        const char *name = nst_pooling_name(v);
        CHECK(name != NULL, "no name for pooling %d", (int)v);
        if (!name) continue;
        nst_params p;
        nst_params_default(&p, NULL);
        p.pooling = v == NST_POOL_MAX ? NST_POOL_AVG : NST_POOL_MAX;
        nst_error e = {0};
        CHECK(nst_params_set(&p, "pooling", name, NULL, &e) == NST_OK && p.pooling == v,
              "pooling \"%s\": %s", name, e.message);
    }
    CHECK(nst_pooling_name((nst_pooling)2) == NULL, "name past the last pooling");
    CHECK(nst_pooling_name((nst_pooling)-1) == NULL, "name of a negative pooling");
}

/* nst_suggest: at most 2 edits, the first of equals, NULLs skipped, case and
 * '-' significant unless folded. */
static void test_suggest(void)
{
    static const char *const names[] = {"alpha", NULL, "beta", "tv_weight", "style_scale"};
    enum { n = sizeof names / sizeof names[0] };
    const char *s = nst_suggest("alpah", names, n, 0);
    CHECK(s && !strcmp(s, "alpha"), "alpah -> %s", s ? s : "NULL");
    s = nst_suggest("bet", names, n, 0);
    CHECK(s && !strcmp(s, "beta"), "bet -> %s", s ? s : "NULL");
    CHECK(nst_suggest("gamma", names, n, 0) == NULL, "gamma is 3 edits from anything");
    CHECK(nst_suggest("", names, n, 0) == NULL, "empty");
    CHECK(nst_suggest(NULL, names, n, 0) == NULL, "NULL");
    s = nst_suggest("STYLE-SCALE", names, n, NST_SUGGEST_FOLD);
    CHECK(s && !strcmp(s, "style_scale"), "folded -> %s", s ? s : "NULL");
    CHECK(nst_suggest("STYLE-SCALE", names, n, 0) == NULL, "unfolded");
    static const char *const tie[] = {"abcd", "abce"};
    s = nst_suggest("abcf", tie, 2, 0);
    CHECK(s == tie[0], "the first of equally close: %s", s ? s : "NULL");
    char longer[300];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    CHECK(nst_suggest(longer, names, n, 0) == NULL, "a long name");
}

/* nst_params_usage has one entry per key of the JSON view, named as the
 * command-line flag, each with the value of the given defaults. */
static void test_usage(void)
{
    nst_params p;
    nst_params_default(&p, NULL);
    p.iterations = 1234;
    char *text = nst_params_usage(&p), *json = nst_params_to_json(&p);
    cJSON *keys = json ? cJSON_Parse(json) : NULL;
    CHECK(text && keys, "usage %p, JSON %p", (void *)text, (void *)keys);
    if (text && keys) {
        int n_keys = 0, n_entries = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, keys) {
            char flag[80];
            int len = snprintf(flag, sizeof flag, "\n  --%s ", item->string);
            for (int i = 0; i < len; i++)
                if (flag[i] == '_') flag[i] = '-';
            CHECK(strstr(text, flag) || strncmp(text, flag + 1, (size_t)len - 1) == 0,
                  "no entry for %s in:\n%s", item->string, text);
            n_keys++;
        }
        for (const char *c = text; (c = strstr(c, "  --")); c++)
            if (c == text || c[-1] == '\n') n_entries++;
        CHECK(n_entries == n_keys, "%d entries, %d keys", n_entries, n_keys);
        CHECK(strstr(text, "Default: 1234;"), "the given iterations:\n%s", text);
        for (const char *line = text; *line;) {
            size_t n = strcspn(line, "\n");
            CHECK(n < 79, "line too long: %.100s", line);
            line += n + (line[n] != 0);
        }
    }
    cJSON_Delete(keys);
    free(json);
    free(text);
    text = nst_params_usage(NULL);
    CHECK(text && strstr(text, "Default: 300;"), "NULL: the paper's defaults");
    free(text);
}

int main(void)
{
    TEST_RUN(test_defaults);
    TEST_RUN(test_every_key);
    TEST_RUN(test_style_layer_weights);
    TEST_RUN(test_errors);
    TEST_RUN(test_limits);
    TEST_RUN(test_style_scale_limit);
    TEST_RUN(test_not_terminated);
    TEST_RUN(test_set);
    TEST_RUN(test_check_styles);
    TEST_RUN(test_json_round_trip);
    TEST_RUN(test_pooling_names);
    TEST_RUN(test_suggest);
    TEST_RUN(test_usage);
    return TEST_EXIT();
}
