/*
 * test_model.c — model loading, the embedded random model, and export.
 *
 * Covers: vgg19-random is deterministic and portable (a hash of all its
 * weights is fixed here) and He-initialised; export → load round-trips
 * weights, name, defaults and preprocessing exactly; F16 and BF16 files
 * written by this test load with exactly the expected floats; every kind
 * of malformed file fails with NST_EMODEL and a message naming the problem,
 * never a crash; unreadable paths fail with NST_EIO.
 *
 * Files go to $NST_TEST_TMP (default /tmp). This is white-box: it reads
 * struct nst_model (layers.h) directly.
 */
#include <glob.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "layers.h"
#include "model.h"
#include "test.h"

#define NUM_TENSORS (2 * NST_NUM_LAYERS)

/* ------------------------------------------------------------ helpers */

static void tmp_path(char *buf, size_t size, const char *file)
{
    const char *dir = getenv("NST_TEST_TMP");
    snprintf(buf, size, "%s/%d-%s", dir && *dir ? dir : "/tmp", (int)getpid(), file);
}

static size_t tensor_numel(int t)
{
    const nst_layer_def *d = &nst_layers[t / 2];
    return t % 2 ? (size_t)d->cout : (size_t)d->cout * d->cin * 9;
}

static void tensor_name(int t, char *buf, size_t size)
{
    snprintf(buf, size, "features.%d.%s", nst_layers[t / 2].feature_index, t % 2 ? "bias" : "weight");
}

static size_t total_floats(void)
{
    size_t n = 0;
    for (int t = 0; t < NUM_TENSORS; t++) n += tensor_numel(t);
    return n;
}

static int write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t k = fwrite(buf, 1, len, f);
    return fclose(f) == 0 && k == len ? 0 : -1;
}

static int bits_equal(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* ------------------------------------------------------------ file builder */

/* One change to the generated header: set tensor's key to json (a JSON
 * text), delete the key (json NULL), replace the whole entry (key NULL) or
 * delete the entry (both NULL). */
typedef struct {
    const char *tensor;
    const char *key;
    const char *json;
} edit;

/* Writes n values of tensor t at data (dtype-sized). */
typedef void (*fill_fn)(uint8_t *data, int t, size_t n);

static void apply_edit(cJSON *root, const edit *e)
{
    cJSON *entry = cJSON_GetObjectItemCaseSensitive(root, e->tensor);
    if (!e->key) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, e->tensor);
        if (e->json) cJSON_AddItemToObject(root, e->tensor, cJSON_Parse(e->json));
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(entry, e->key);
    if (e->json) cJSON_AddItemToObject(entry, e->key, cJSON_Parse(e->json));
}

static cJSON *tensor_entry(const char *dtype, const double *shape, int rank, size_t b, size_t e)
{
    cJSON *j = cJSON_CreateObject();
    double offsets[2] = {(double)b, (double)e};
    cJSON_AddStringToObject(j, "dtype", dtype);
    cJSON_AddItemToObject(j, "shape", cJSON_CreateDoubleArray(shape, rank));
    cJSON_AddItemToObject(j, "data_offsets", cJSON_CreateDoubleArray(offsets, 2));
    return j;
}

/* A safetensors image holding every VGG19 tensor in dtype (size bytes per
 * value, filled by fill or zero) and, last, an ignored classifier.6.bias
 * (F32, 10 values); metadata meta (JSON object text, or NULL); then the
 * edit (when not NULL); then cut bytes dropped from the end. */
static uint8_t *st_build(const char *dtype, size_t size, fill_fn fill, const char *meta, const edit *ed,
                         size_t cut, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    if (meta) cJSON_AddItemToObject(root, "__metadata__", cJSON_Parse(meta));
    size_t off = 0;
    for (int t = 0; t < NUM_TENSORS; t++) {
        const nst_layer_def *d = &nst_layers[t / 2];
        double shape[4] = {d->cout, d->cin, 3, 3};
        char name[32];
        tensor_name(t, name, sizeof name);
        size_t bytes = tensor_numel(t) * size;
        cJSON_AddItemToObject(root, name, tensor_entry(dtype, shape, t % 2 ? 1 : 4, off, off + bytes));
        off += bytes;
    }
    double cls[1] = {10};
    cJSON_AddItemToObject(root, "classifier.6.bias", tensor_entry("F32", cls, 1, off, off + 40));
    off += 40;
    if (ed) apply_edit(root, ed);
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t hlen = strlen(json);
    *len = 8 + hlen + off - cut;
    uint8_t *buf = calloc(1, 8 + hlen + off);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hlen >> 8 * i);
    memcpy(buf + 8, json, hlen);
    free(json);
    uint8_t *data = buf + 8 + hlen;
    for (int t = 0; t < NUM_TENSORS && fill; t++) {
        fill(data, t, tensor_numel(t));
        data += tensor_numel(t) * size;
    }
    return buf;
}

/* A file of declared header length n followed by the given bytes. */
static uint8_t *raw_build(uint64_t n, const char *body, size_t body_len, size_t *len)
{
    uint8_t *buf = malloc(8 + body_len + 1);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(n >> 8 * i);
    memcpy(buf + 8, body, body_len);
    *len = 8 + body_len;
    return buf;
}

/* ------------------------------------------------------------ random model */

/* FNV-1a over every weight's bits, little-endian byte order. */
static uint64_t weights_hash(const nst_model *m)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (int l = 0; l < NST_NUM_LAYERS; l++) {
        size_t n = (size_t)nst_layers[l].cout * nst_layers[l].cin * 9;
        for (size_t i = 0; i < n; i++) {
            uint32_t u = float_bits(m->weight[l][i]);
            for (int b = 0; b < 4; b++) h = (h ^ (u >> 8 * b & 0xff)) * UINT64_C(0x100000001b3);
        }
    }
    return h;
}

/* Per layer: mean ≈ 0, std within 3 % of sqrt(2 / fan_in), biases 0; over
 * all weights, the normal's share within 1σ and 2σ. */
static void check_statistics(const nst_model *m)
{
    double in1 = 0, in2 = 0, count = 0;
    for (int l = 0; l < NST_NUM_LAYERS; l++) {
        const nst_layer_def *d = &nst_layers[l];
        size_t n = (size_t)d->cout * d->cin * 9;
        double sigma = sqrt(2.0 / (d->cin * 9)), s1 = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) {
            double w = m->weight[l][i];
            s1 += w;
            s2 += w * w;
            in1 += fabs(w) < sigma;
            in2 += fabs(w) < 2 * sigma;
        }
        count += (double)n;
        double mean = s1 / (double)n, sd = sqrt(s2 / (double)n - mean * mean);
        CHECK(fabs(mean) < 0.05 * sigma, "%s mean %g (sigma %g)", d->name, mean, sigma);
        CHECK(fabs(sd / sigma - 1) < 0.03, "%s std %g, expected %g", d->name, sd, sigma);
        for (int c = 0; c < d->cout; c++) CHECK(m->bias[l][c] == 0, "%s bias[%d]", d->name, c);
    }
    CHECK(fabs(in1 / count - 0.682689) < 0.001, "share within 1 sigma %g", in1 / count);
    CHECK(fabs(in2 / count - 0.954500) < 0.001, "share within 2 sigma %g", in2 / count);
}

static void test_random(void)
{
    nst_model *a = NULL, *b = NULL;
    nst_error err = {0};
    CHECK(nst_model_random(&a, &err) == NST_OK, "%s", err.message);
    CHECK(nst_model_random(&b, &err) == NST_OK, "%s", err.message);
    if (!a || !b) return;
    CHECK(memcmp(a->storage, b->storage, total_floats() * sizeof(float)) == 0, "two creations differ");
    CHECK(strcmp(nst_model_name(a), "vgg19-random") == 0, "name %s", nst_model_name(a));
    CHECK(nst_model_pretrained(a) == 0, "pretrained");
    const nst_model_defaults *d = nst_model_get_defaults(a);
    CHECK(d->pooling == NST_POOL_AVG && d->alpha == 1 && d->beta == 1e8 && d->tv_weight == 0,
          "defaults %d %g %g %g", d->pooling, d->alpha, d->beta, d->tv_weight);
    /* The contract: these bits are vgg19-random on every machine. */
    static const struct { int layer; size_t index; uint32_t bits; } fixed[] = {
        {0, 0, 0xbd2f17b8}, {0, 1, 0xbdc2d11f}, {0, 1727, 0x3cd80d1c},
        {8, 12345, 0x3c7ad194}, {15, 2359295, 0xbaba92de},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        uint32_t got = float_bits(a->weight[fixed[i].layer][fixed[i].index]);
        CHECK(got == fixed[i].bits, "weight[%d][%zu] bits 0x%08x, expected 0x%08x", fixed[i].layer,
              fixed[i].index, got, fixed[i].bits);
    }
    uint64_t h = weights_hash(a);
    CHECK(h == UINT64_C(0xc5c4c484a293bc49), "weights hash 0x%016llx", (unsigned long long)h);
    check_statistics(a);
    nst_model_free(a);
    nst_model_free(b);
}

/* ------------------------------------------------------------ export */

static void check_same_model(const nst_model *a, const nst_model *b)
{
    CHECK(memcmp(a->storage, b->storage, total_floats() * sizeof(float)) == 0, "weights differ");
    CHECK(strcmp(a->name, b->name) == 0, "name %s vs %s", a->name, b->name);
    CHECK(a->pretrained == b->pretrained, "pretrained %d vs %d", a->pretrained, b->pretrained);
    const nst_model_defaults *da = &a->defaults, *db = &b->defaults;
    CHECK(da->pooling == db->pooling && da->alpha == db->alpha && da->beta == db->beta &&
          da->tv_weight == db->tv_weight, "defaults differ: %d %.17g %.17g %.17g vs %d %.17g %.17g %.17g",
          da->pooling, da->alpha, da->beta, da->tv_weight, db->pooling, db->alpha, db->beta, db->tv_weight);
    CHECK(a->pre.bgr == b->pre.bgr && bits_equal(a->pre.range, b->pre.range), "channel order or range");
    for (int c = 0; c < 3; c++)
        CHECK(bits_equal(a->pre.mean[c], b->pre.mean[c]) && bits_equal(a->pre.std[c], b->pre.std[c]),
              "mean/std[%d] %.9g/%.9g vs %.9g/%.9g", c, a->pre.mean[c], a->pre.std[c], b->pre.mean[c],
              b->pre.std[c]);
}

/* Export m to path, load it back, compare. */
static void roundtrip(const nst_model *m, const char *path)
{
    nst_error err = {0};
    nst_model *back = NULL;
    CHECK(nst_model_export(m, path, &err) == NST_OK, "export: %s", err.message);
    CHECK(nst_model_load(path, &back, &err) == NST_OK, "load: %s", err.message);
    if (back) check_same_model(m, back);
    nst_model_free(back);
}

/* The exported file's layout: data and every tensor 8-byte aligned, the
 * data area exactly covered, F32 throughout, readable metadata. */
static void check_layout(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t head[8] = {0};
    CHECK(f && fread(head, 1, 8, f) == 8, "read %s", path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | head[i];
    CHECK((8 + n) % 8 == 0, "data starts at %llu", (unsigned long long)(8 + n));
    char *json = calloc(1, n + 1);
    CHECK(f && fread(json, 1, n, f) == n, "header");
    if (f) fclose(f);
    cJSON *root = cJSON_Parse(json);
    free(json);
    CHECK(root != NULL, "header JSON");
    size_t end = 0;
    for (int t = 0; t < NUM_TENSORS && root; t++) {
        char name[32];
        tensor_name(t, name, sizeof name);
        cJSON *e = cJSON_GetObjectItem(root, name), *o = cJSON_GetObjectItem(e, "data_offsets");
        double b = cJSON_GetArrayItem(o, 0) ? cJSON_GetArrayItem(o, 0)->valuedouble : -1;
        CHECK(fmod(b, 8) == 0 && b == (double)end, "%s begins at %g", name, b);
        const char *dtype = cJSON_GetStringValue(cJSON_GetObjectItem(e, "dtype"));
        CHECK(dtype && strcmp(dtype, "F32") == 0, "%s dtype", name);
        end += 4 * tensor_numel(t);
    }
    struct stat st;
    CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == 8 + n + end, "file size %lld",
          (long long)st.st_size);
    cJSON *meta = cJSON_GetObjectItem(root, "__metadata__");
    const char *beta = cJSON_GetStringValue(cJSON_GetObjectItem(meta, "nst.beta"));
    const char *mean = cJSON_GetStringValue(cJSON_GetObjectItem(meta, "nst.mean"));
    CHECK(beta && strcmp(beta, "100000000") == 0, "nst.beta %s", beta ? beta : "(none)");
    CHECK(mean && strcmp(mean, "0.485,0.456,0.406") == 0, "nst.mean %s", mean ? mean : "(none)");
    cJSON_Delete(root);
}

static void test_export(void)
{
    nst_model *m = NULL;
    nst_error err = {0};
    char path[512], pattern[600];
    tmp_path(path, sizeof path, "export.safetensors");
    CHECK(nst_model_random(&m, &err) == NST_OK, "%s", err.message);
    if (!m) return;
    roundtrip(m, path);
    check_layout(path);
    /* Every metadata field away from its default, awkward numbers, and
     * weights whose bits a sloppy writer would lose; written over the
     * first file. */
    snprintf(m->name, sizeof m->name, "caffe \"vgg\" é");
    m->pretrained = 1;
    m->pre = (nst_preprocess){1, 255.0f, {103.939f, 116.779f, 123.68f}, {1.0f, 1.0f, 1.0f / 3}};
    m->defaults = (nst_model_defaults){NST_POOL_MAX, 0.1, 1.2345678901234567e-3, 1e-300};
    m->weight[0][0] = -0.0f;
    m->weight[0][1] = INFINITY;
    m->weight[3][7] = 0x1p-149f;
    uint32_t nan_bits = 0x7fa12345;
    memcpy(&m->weight[15][99], &nan_bits, 4);
    m->bias[15][511] = -1e30f;
    roundtrip(m, path);
    snprintf(pattern, sizeof pattern, "%s.tmp.*", path);
    glob_t g;
    CHECK(glob(pattern, 0, NULL, &g) == GLOB_NOMATCH, "temporary files left behind");
    globfree(&g);
    unlink(path);
    tmp_path(path, sizeof path, "no/such/dir/x.safetensors");
    CHECK(nst_model_export(m, path, &err) == NST_EIO, "export to a missing directory: %d", err.code);
    nst_model_free(m);
}

/* ------------------------------------------------------------ F16, BF16 */

typedef struct {
    uint16_t bits;
    float value;
} half_case;

/* Expected values written independently of the loader: hex floats. */
static const half_case f16_cases[] = {
    {0x0000, 0.0f},         {0x8000, -0.0f},        {0x3c00, 1.0f},        {0xc000, -2.0f},
    {0x3555, 0x1.554p-2f},  {0x7bff, 65504.0f},     {0x0400, 0x1p-14f},    {0x0001, 0x1p-24f},
    {0x03ff, 0x3ffp-24f},   {0x8001, -0x1p-24f},    {0x0200, 0x1p-15f},    {0x7c00, INFINITY},
    {0xfc00, -INFINITY},    {0x7e00, NAN},          {0x5640, 100.0f},      {0xb266, -0x1.998p-3f},
};

static const half_case bf16_cases[] = {
    {0x0000, 0.0f},         {0x8000, -0.0f},        {0x3f80, 1.0f},        {0xc040, -3.0f},
    {0x3eab, 0x1.56p-2f},   {0x7f7f, 0x1.fep127f},  {0x0080, 0x1p-126f},   {0x0001, 0x1p-133f},
    {0x7f80, INFINITY},     {0xff80, -INFINITY},    {0x7fc0, NAN},         {0x42c8, 100.0f},
    {0xbe4d, -0x1.9ap-3f},
};

#define F16_N (sizeof f16_cases / sizeof f16_cases[0])
#define BF16_N (sizeof bf16_cases / sizeof bf16_cases[0])

/* Value i of tensor t is case (i + 7t) mod n. */
static void fill_halves(uint8_t *data, int t, size_t n, const half_case *cases, size_t ncases)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t h = cases[(i + 7 * (size_t)t) % ncases].bits;
        data[2 * i] = (uint8_t)h;
        data[2 * i + 1] = (uint8_t)(h >> 8);
    }
}

static void fill_f16(uint8_t *data, int t, size_t n) { fill_halves(data, t, n, f16_cases, F16_N); }
static void fill_bf16(uint8_t *data, int t, size_t n) { fill_halves(data, t, n, bf16_cases, BF16_N); }

static float *tensor_of(const nst_model *m, int t)
{
    return t % 2 ? m->bias[t / 2] : m->weight[t / 2];
}

/* Count the values of m that differ from the pattern. */
static size_t pattern_mismatches(const nst_model *m, const half_case *cases, size_t ncases)
{
    size_t bad = 0;
    for (int t = 0; t < NUM_TENSORS; t++) {
        const float *w = tensor_of(m, t);
        for (size_t i = 0; i < tensor_numel(t); i++) {
            float want = cases[(i + 7 * (size_t)t) % ncases].value;
            bad += isnan(want) ? !isnan(w[i]) : !bits_equal(w[i], want);
        }
    }
    return bad;
}

static void load_halves(const char *dtype, fill_fn fill, const half_case *cases, size_t ncases)
{
    char file[64], path[512];
    snprintf(file, sizeof file, "tv-%s.safetensors", dtype);
    tmp_path(path, sizeof path, file);
    size_t len;
    uint8_t *buf = st_build(dtype, 2, fill, "{\"format\":\"pt\"}", NULL, 0, &len);
    CHECK(write_file(path, buf, len) == 0, "write %s", path);
    free(buf);
    nst_model *m = NULL;
    nst_error err = {0};
    CHECK(nst_model_load(path, &m, &err) == NST_OK, "%s: %s", dtype, err.message);
    unlink(path);
    if (!m) return;
    size_t bad = pattern_mismatches(m, cases, ncases);
    CHECK(bad == 0, "%s: %zu values differ", dtype, bad);
    char stem[64];
    snprintf(stem, sizeof stem, "%d-tv-%s", (int)getpid(), dtype);
    CHECK(strcmp(nst_model_name(m), stem) == 0, "name %s", nst_model_name(m));
    CHECK(nst_model_pretrained(m) == 1, "a file without nst.pretrained is pretrained");
    const nst_model_defaults *d = nst_model_get_defaults(m);
    CHECK(d->pooling == NST_POOL_AVG && d->alpha == 1 && d->beta == 1e3 && d->tv_weight == 0,
          "pretrained defaults %d %g %g %g", d->pooling, d->alpha, d->beta, d->tv_weight);
    CHECK(m->pre.bgr == 0 && m->pre.range == 1.0f && m->pre.mean[0] == 0.485f && m->pre.std[2] == 0.225f,
          "torchvision preprocessing");
    nst_model_free(m);
}

static void test_load_f16(void)
{
    load_halves("F16", fill_f16, f16_cases, F16_N);
    /* A signalling NaN keeps its payload. */
    uint8_t h[2] = {0x01, 0x7c};
    size_t len;
    uint8_t *buf = st_build("F16", 2, NULL, NULL, NULL, 0, &len);
    memcpy(buf + len - 40 - 2 * 512, h, 2); /* first value of features.34.bias */
    nst_model *m = NULL;
    nst_error err = {0};
    CHECK(nst_model_load_memory(buf, len, "x", &m, &err) == NST_OK, "%s", err.message);
    if (m) CHECK(float_bits(m->bias[15][0]) == 0x7f802000, "NaN bits 0x%08x", float_bits(m->bias[15][0]));
    nst_model_free(m);
    free(buf);
}

static void test_load_bf16(void)
{
    load_halves("BF16", fill_bf16, bf16_cases, BF16_N);
}

/* Metadata on a loaded file: pretrained "0" selects the random model's
 * defaults, other keys override; the name argument and nst.name. */
static void test_load_metadata(void)
{
    static const struct {
        const char *meta, *name, *want_name;
        int pretrained;
        nst_pooling pooling;
        double beta;
        int bgr;
        float range, mean0, std1;
    } cases[] = {
        {NULL, "arg", "arg", 1, NST_POOL_AVG, 1e3, 0, 1, 0.485f, 0.224f},
        {NULL, NULL, "model", 1, NST_POOL_AVG, 1e3, 0, 1, 0.485f, 0.224f},
        {NULL, "a\tb", "a?b", 1, NST_POOL_AVG, 1e3, 0, 1, 0.485f, 0.224f},
        {"{\"nst.pretrained\":\"0\"}", "a", "a", 0, NST_POOL_AVG, 1e8, 0, 1, 0.485f, 0.224f},
        {"{\"nst.pretrained\":\"0\",\"nst.beta\":\"5\",\"nst.pooling\":\"max\"}", "a", "a", 0, NST_POOL_MAX, 5,
         0, 1, 0.485f, 0.224f},
        {"{\"nst.name\":\"caffe-vgg19\",\"nst.channel_order\":\"bgr\",\"nst.value_range\":\"255\","
         "\"nst.mean\":\"103.939, 116.779, 123.68\",\"nst.std\":\"1,1,1\",\"other\":7}",
         "a", "caffe-vgg19", 1, NST_POOL_AVG, 1e3, 1, 255, 103.939f, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        uint8_t *buf = st_build("F32", 4, NULL, cases[i].meta, NULL, 0, &len);
        nst_model *m = NULL;
        nst_error err = {0};
        CHECK(nst_model_load_memory(buf, len, cases[i].name, &m, &err) == NST_OK, "case %zu: %s", i,
              err.message);
        free(buf);
        if (!m) continue;
        const nst_model_defaults *d = nst_model_get_defaults(m);
        CHECK(strcmp(nst_model_name(m), cases[i].want_name) == 0, "case %zu: name %s", i, nst_model_name(m));
        CHECK(nst_model_pretrained(m) == cases[i].pretrained, "case %zu: pretrained", i);
        CHECK(d->pooling == cases[i].pooling && d->beta == cases[i].beta && d->alpha == 1, "case %zu: defaults",
              i);
        CHECK(m->pre.bgr == cases[i].bgr && m->pre.range == cases[i].range && m->pre.mean[0] == cases[i].mean0 &&
              m->pre.std[1] == cases[i].std1, "case %zu: preprocessing", i);
        nst_model_free(m);
    }
}

/* ------------------------------------------------------------ malformed */

static void expect_error(const uint8_t *buf, size_t len, const char *w1, const char *w2, const char *what)
{
    nst_model *m = NULL;
    nst_error err = {0};
    int rc = nst_model_load_memory(buf, len, "bad", &m, &err);
    CHECK(rc == NST_EMODEL && err.code == NST_EMODEL, "%s: rc %d (%s)", what, rc, err.message);
    CHECK(m == NULL, "%s: model returned", what);
    CHECK(!w1 || strstr(err.message, w1), "%s: message \"%s\" lacks \"%s\"", what, err.message, w1);
    CHECK(!w2 || strstr(err.message, w2), "%s: message \"%s\" lacks \"%s\"", what, err.message, w2);
    nst_model_free(m);
}

/* Files broken below the JSON level. */
static void test_malformed_raw(void)
{
    static const struct {
        uint64_t n;         /* declared header length; UINT64_MAX - 1: the body's length */
        const char *body;
        const char *w1, *w2;
    } cases[] = {
        {UINT64_MAX, "", "header length", NULL},
        {UINT64_MAX / 2, "{}", "header length", NULL},
        {(UINT64_C(100) << 20) + 1, "{}", "header length", "limit"},
        {50, "{}", "header length", "larger"},
        {3, "{}", "header length", "larger"},
        {0, "", "not valid JSON", NULL},
        {UINT64_MAX - 1, "not json", "not valid JSON", "offset"},
        {UINT64_MAX - 1, "{\"a\":", "not valid JSON", NULL},
        {UINT64_MAX - 1, "[1,2,3]", "not a JSON object", NULL},
        {UINT64_MAX - 1, "\"str\"", "not a JSON object", NULL},
        {UINT64_MAX - 1, "{} x", "after", "offset 11"},
        {UINT64_MAX - 1, "{}", "missing tensor features.0.weight", "conv1_1"},
        {UINT64_MAX - 1, "{}  \n ", "missing tensor features.0.weight", NULL},
        {UINT64_MAX - 1, "{\"__metadata__\":[]}", "__metadata__", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t blen = strlen(cases[i].body), len;
        uint64_t n = cases[i].n == UINT64_MAX - 1 ? blen : cases[i].n;
        uint8_t *buf = raw_build(n, cases[i].body, blen, &len);
        char what[32];
        snprintf(what, sizeof what, "raw case %zu", i);
        expect_error(buf, len, cases[i].w1, cases[i].w2, what);
        free(buf);
    }
    uint8_t small[7] = {0};
    expect_error(small, 0, "short", NULL, "empty");
    expect_error(small, 7, "short", NULL, "7 bytes");
    /* Nesting deeper than the JSON parser follows. */
    size_t depth = 100000, len;
    char *deep = malloc(2 * depth);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    uint8_t *buf = raw_build(2 * depth, deep, 2 * depth, &len);
    expect_error(buf, len, "JSON", NULL, "deep nesting");
    free(buf);
    free(deep);
}

/* Well-formed JSON describing the wrong tensors, and bad metadata. */
static void test_malformed_header(void)
{
    static const struct {
        const char *meta;
        edit e;
        size_t cut;
        const char *w1, *w2;
    } cases[] = {
        {NULL, {"features.0.weight", NULL, NULL}, 0, "missing tensor features.0.weight", NULL},
        {NULL, {"features.34.bias", NULL, NULL}, 0, "missing tensor features.34.bias", "conv5_4"},
        {NULL, {"features.0.weight", NULL, "5"}, 0, "features.0.weight", "not a JSON object"},
        {NULL, {"features.10.weight", "dtype", "\"I64\""}, 0, "features.10.weight", "I64"},
        {NULL, {"features.2.bias", "dtype", "42"}, 0, "features.2.bias", "dtype"},
        {NULL, {"features.2.bias", "dtype", NULL}, 0, "features.2.bias", "dtype"},
        {NULL, {"features.0.weight", "shape", "[64,3,3]"}, 0, "shape [64, 3, 3],", "expected [64, 3, 3, 3]"},
        {NULL, {"features.34.bias", "shape", "[511]"}, 0, "features.34.bias: shape [511]", "expected [512]"},
        {NULL, {"features.0.bias", "shape", "[]"}, 0, "shape []", "[64]"},
        {NULL, {"features.0.weight", "shape", "[3,64,3,3]"}, 0, "shape [3, 64, 3, 3]", "[64, 3, 3, 3]"},
        {NULL, {"features.0.weight", "shape", "[64,3,3,3,1,1,1,1,1,1]"}, 0, "(cut)", "features.0.weight"},
        {NULL, {"features.5.weight", "shape", "[128,64,3,3.5]"}, 0, "features.5.weight", "shape"},
        {NULL, {"features.5.weight", "shape", "[128,64,3,-3]"}, 0, "features.5.weight", "shape"},
        {NULL, {"features.5.weight", "shape", "\"x\""}, 0, "features.5.weight", "shape"},
        {NULL, {"features.5.weight", "shape", NULL}, 0, "features.5.weight", "shape"},
        {NULL, {"features.0.weight", "data_offsets", "[0]"}, 0, "features.0.weight", "data_offsets"},
        {NULL, {"features.0.weight", "data_offsets", "[0,6912,0]"}, 0, "features.0.weight", "data_offsets"},
        {NULL, {"features.0.weight", "data_offsets", "[0,\"a\"]"}, 0, "data_offsets", "integers"},
        {NULL, {"features.0.weight", "data_offsets", "{\"a\":1}"}, 0, "data_offsets", NULL},
        {NULL, {"features.0.weight", "data_offsets", "[0.5,6912.5]"}, 0, "data_offsets", "integers"},
        {NULL, {"features.0.weight", "data_offsets", "[-8,6904]"}, 0, "data_offsets", "non-negative"},
        {NULL, {"features.0.weight", "data_offsets", "[0,1e300]"}, 0, "data_offsets", "integers"},
        {NULL, {"features.0.weight", "data_offsets", NULL}, 0, "features.0.weight", "data_offsets"},
        {NULL, {"features.0.weight", "data_offsets", "[6912,0]"}, 0, "reversed", "features.0.weight"},
        {NULL, {"features.0.weight", "data_offsets", "[0,1000000000000000]"}, 0, "outside", "features.0.weight"},
        {NULL, {"features.0.weight", "data_offsets", "[0,100]"}, 0, "100 bytes", "expected 6912"},
        {NULL, {"features.0.bias", "data_offsets", "[0,0]"}, 0, "features.0.bias", "expected 256"},
        {NULL, {"classifier.6.bias", NULL, NULL}, 44, "features.34.bias", "outside"},
        {"[1]", {"x", NULL, NULL}, 0, "__metadata__", NULL},
        {"{\"nst.pooling\":\"mean\"}", {"x", NULL, NULL}, 0, "nst.pooling", "mean"},
        {"{\"nst.pretrained\":\"yes\"}", {"x", NULL, NULL}, 0, "nst.pretrained", "yes"},
        {"{\"nst.mean\":\"1,2\"}", {"x", NULL, NULL}, 0, "nst.mean", NULL},
        {"{\"nst.mean\":\"1,2,3,4\"}", {"x", NULL, NULL}, 0, "nst.mean", NULL},
        {"{\"nst.mean\":\"1,,3\"}", {"x", NULL, NULL}, 0, "nst.mean", NULL},
        {"{\"nst.mean\":\"1,2,1e39\"}", {"x", NULL, NULL}, 0, "nst.mean", NULL},
        {"{\"nst.std\":\"0,1,1\"}", {"x", NULL, NULL}, 0, "nst.std", NULL},
        {"{\"nst.std\":\"1,1,1e-50\"}", {"x", NULL, NULL}, 0, "nst.std", NULL},
        {"{\"nst.alpha\":\"-1\"}", {"x", NULL, NULL}, 0, "nst.alpha", NULL},
        {"{\"nst.beta\":\"abc\"}", {"x", NULL, NULL}, 0, "nst.beta", NULL},
        {"{\"nst.beta\":\"1e3x\"}", {"x", NULL, NULL}, 0, "nst.beta", NULL},
        {"{\"nst.beta\":\"\"}", {"x", NULL, NULL}, 0, "nst.beta", NULL},
        {"{\"nst.tv_weight\":\"nan\"}", {"x", NULL, NULL}, 0, "nst.tv_weight", NULL},
        {"{\"nst.tv_weight\":\"inf\"}", {"x", NULL, NULL}, 0, "nst.tv_weight", NULL},
        {"{\"nst.value_range\":\"0\"}", {"x", NULL, NULL}, 0, "nst.value_range", NULL},
        {"{\"nst.value_range\":\"1e39\"}", {"x", NULL, NULL}, 0, "nst.value_range", NULL},
        {"{\"nst.channel_order\":\"rbg\"}", {"x", NULL, NULL}, 0, "nst.channel_order", NULL},
        {"{\"nst.name\":\"\"}", {"x", NULL, NULL}, 0, "nst.name", NULL},
        {"{\"nst.name\":\"a\\nb\"}", {"x", NULL, NULL}, 0, "nst.name", NULL},
        {"{\"nst.alpha\":1}", {"x", NULL, NULL}, 0, "nst.alpha", "not a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        uint8_t *buf = st_build("F32", 4, NULL, cases[i].meta, &cases[i].e, cases[i].cut, &len);
        char what[32];
        snprintf(what, sizeof what, "header case %zu", i);
        expect_error(buf, len, cases[i].w1, cases[i].w2, what);
        free(buf);
    }
}

/* Random byte changes to a small header: errors, never a crash (the
 * sanitizer build makes this meaningful). */
static void test_malformed_mutations(void)
{
    size_t len;
    uint8_t *full = st_build("F16", 2, NULL, "{\"nst.beta\":\"5\"}", NULL, 0, &len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | full[i];
    size_t n = 8 + (size_t)hlen + 64; /* the header and a little data */
    uint8_t *buf = malloc(n);
    uint64_t x = 88172645463325252u;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, full, n);
        for (int k = 0; k < 1 + iter % 8; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[x % n] = (uint8_t)(x >> 40);
        }
        nst_model *m = NULL;
        nst_error err = {0};
        int rc = nst_model_load_memory(buf, n, "fuzz", &m, &err);
        CHECK(rc == NST_EMODEL && err.message[0] && !m, "mutation %d: rc %d", iter, rc);
        nst_model_free(m);
    }
    free(buf);
    free(full);
}

static void test_load_io_errors(void)
{
    nst_model *m = NULL;
    nst_error err = {0};
    CHECK(nst_model_load("/nonexistent/dir/vgg19.safetensors", &m, &err) == NST_EIO, "missing file: %d",
          err.code);
    CHECK(err.code == NST_EIO && strstr(err.message, "vgg19.safetensors"), "%s", err.message);
    CHECK(m == NULL, "model returned");
    CHECK(nst_model_load("/", &m, &err) == NST_EIO, "directory: %d", err.code);
    char path[512];
    tmp_path(path, sizeof path, "empty.safetensors");
    CHECK(write_file(path, "", 0) == 0, "write %s", path);
    CHECK(nst_model_load(path, &m, &err) == NST_EMODEL && strstr(err.message, "short"), "empty file: %s",
          err.message);
    unlink(path);
}

int main(void)
{
    TEST_RUN(test_random);
    TEST_RUN(test_export);
    TEST_RUN(test_load_f16);
    TEST_RUN(test_load_bf16);
    TEST_RUN(test_load_metadata);
    TEST_RUN(test_malformed_raw);
    TEST_RUN(test_malformed_header);
    TEST_RUN(test_malformed_mutations);
    TEST_RUN(test_load_io_errors);
    return TEST_EXIT();
}
