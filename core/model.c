/*
 * model.c — VGG19 weights: reading safetensors files, the embedded
 * "vgg19-random" model, and writing a model back out as safetensors.
 *
 * Not here: anything about running the network (vgg.c), or fetching
 * weights from the network (scripts/fetch-model).
 *
 * File format. A safetensors file is
 *     N (u64, little-endian) | N bytes of JSON header | data
 * The header maps tensor names to {"dtype", "shape", "data_offsets": [b, e]},
 * offsets in bytes from the start of the data, plus an optional
 * "__metadata__" object of string → string. Weights are read under
 * torchvision's names: features.N.weight (cout, cin, 3, 3) and
 * features.N.bias (cout), N = nst_layers[].feature_index; any other tensor
 * (classifier.*, pre_logits.*) is ignored. dtypes F32, F16 and BF16 are
 * converted exactly to float (F16 subnormals, infinities and NaNs included).
 *
 * Metadata the loader reads (all optional, listed in meta_fields[]):
 *   nst.name           model name (else the file's stem)
 *   nst.pretrained     "1" (default: torchvision/timm ImageNet files carry no
 *                      such key) or "0"; selects which block of recommended
 *                      defaults below applies before the next four keys
 *   nst.channel_order  "rgb" (default) or "bgr"
 *   nst.value_range    scale of the network's input, "1" (default) or "255"…
 *   nst.mean, nst.std  three numbers, "0.485,0.456,0.406" and
 *                      "0.229,0.224,0.225" by default
 *   nst.pooling, nst.alpha, nst.beta, nst.tv_weight
 *                      the model's recommended transfer defaults
 * An exported file carries every key, so export → load gives back the same
 * model: weights bit for bit, name, defaults and preprocessing.
 *
 * Limits and failure modes. The header may be at most MODEL_MAX_HEADER
 * (100 MB). Every tensor's dtype, shape and data_offsets are checked against
 * the layer table before any weight is read or the weights' memory (80 MB)
 * is allocated; any mismatch, malformed header or bad metadata value is
 * NST_EMODEL with a message naming the tensor, the metadata key or the byte
 * offset. A file that cannot be opened, mapped or written is NST_EIO.
 * Non-finite weights are accepted as they are.
 *
 * The random model's generator, fixed so that every machine produces the
 * same weights bit for bit:
 *   - state: xoshiro256** seeded with four outputs of splitmix64 started
 *     at RANDOM_SEED;
 *   - uniform deviate u = (next() >> 11) · 2^-53, in [0, 1);
 *   - normal deviates by Marsaglia's polar form of Box–Muller, in double:
 *     x = 2u₁ − 1, y = 2u₂ − 1, s = x² + y², drawn again unless 0 < s < 1,
 *     f = sqrt(−2 ln s / s); the deviates are x·f, then y·f. ln is
 *     portable_log() below (exponent bits and + − × ÷ only), and floating-point
 *     contraction is off in this file, so the bits depend on IEEE-754 double
 *     arithmetic alone, not on libm or on FMA hardware (a compiler that
 *     evaluates doubles in extended precision, e.g. x87, would differ);
 *   - one stream for the whole network: layers in table order, each weight
 *     tensor in (cout, cin, 3, 3) row-major order, w = (float)(z · σ),
 *     σ = sqrt(2 / (cin · 9)) (PyTorch's kaiming_normal_, fan_in, relu);
 *     biases are 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bigmem.h"
#include "layers.h"
#include "fileio.h"
#include "model.h"
#include "rng.h"

/* The random model's weights must not depend on whether a*b+c is fused.
 * (This file is compiled without errno for math functions, see
 * CMakeLists.txt, so that fill_normal's square roots vectorise.) */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* ------------------------------------------------------------ defaults */

/* Recommended transfer defaults of vgg19-random, and of any file marked
 * nst.pretrained "0" that names no defaults of its own. */
const nst_model_defaults nst_model_random_defaults = {
    .pooling = NST_POOL_AVG,
    .alpha = 1.0,
    .beta = 1e8,
    .tv_weight = 0.0,
};

/* The same for trained weights (torchvision/timm ImageNet files). */
const nst_model_defaults nst_model_pretrained_defaults = {
    .pooling = NST_POOL_AVG,
    .alpha = 1.0,
    .beta = 1e3,
    .tv_weight = 0.0,
};

/* torchvision's preprocessing, the default of every file. */
static const nst_preprocess torchvision_preprocess = {
    .bgr = 0,
    .range = 1.0f,
    .mean = {0.485f, 0.456f, 0.406f},
    .std = {0.229f, 0.224f, 0.225f},
};

#define RANDOM_NAME "vgg19-random"
#define RANDOM_SEED UINT64_C(0x6e7374642d766767) /* "nstd-vgg" */
#define MODEL_MAX_HEADER (UINT64_C(100) << 20)
#define NUM_TENSORS (2 * NST_NUM_LAYERS)        /* weight and bias per layer */

/* ------------------------------------------------------------ bytes */

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> 8 * i);
}

static float float_from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* IEEE half → float, exact: subnormal halves are m·2^-24, which a float
 * holds; infinities and NaNs keep their sign and payload. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = h >> 10 & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        float f = (float)man * 0x1p-24f;
        return sign ? -f : f;
    }
    if (exp == 0x1f) return float_from_bits(sign | 0x7f800000u | man << 13);
    return float_from_bits(sign | (exp + 127 - 15) << 23 | man << 13);
}

/* ------------------------------------------------------------ dtypes */

/* dst[i] = the i-th value at src, for n values of one dtype. */
typedef void (*convert_fn)(float *dst, const uint8_t *src, size_t n);

static void convert_f32(float *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = float_from_bits(get_le32(src + 4 * i));
}

static void convert_f16(float *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = half_to_float(get_le16(src + 2 * i));
}

static void convert_bf16(float *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = float_from_bits((uint32_t)get_le16(src + 2 * i) << 16);
}

typedef struct {
    const char *name;
    size_t size;            /* bytes per value */
    convert_fn convert;
} dtype_def;

static const dtype_def dtypes[] = {
    {"F32", 4, convert_f32},
    {"F16", 2, convert_f16},
    {"BF16", 2, convert_bf16},
};

static const dtype_def *dtype_find(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0) return &dtypes[i];
    return NULL;
}

/* ------------------------------------------------------------ tensors */

/* What the layer table says tensor t (0 … NUM_TENSORS-1) must be: layer
 * t/2's weight (t even) or bias (t odd). */
typedef struct {
    char name[32];          /* "features.34.weight" */
    int rank;
    uint64_t shape[4];
    size_t numel;
} tensor_spec;

static void tensor_spec_get(int t, tensor_spec *s)
{
    const nst_layer_def *d = &nst_layers[t / 2];
    int bias = t % 2;
    snprintf(s->name, sizeof s->name, "features.%d.%s", d->feature_index, bias ? "bias" : "weight");
    s->rank = bias ? 1 : 4;
    s->shape[0] = (uint64_t)d->cout;
    s->shape[1] = (uint64_t)d->cin;
    s->shape[2] = s->shape[3] = 3;
    s->numel = bias ? (size_t)d->cout : (size_t)d->cout * d->cin * 9;
}

/* Tensor t's floats inside the model's storage. */
static float *tensor_data(const nst_model *m, int t)
{
    return t % 2 ? m->bias[t / 2] : m->weight[t / 2];
}

/* "[64, 3, 3, 3]" from a list of n dims (cut short with "…" when long). */
static void shape_format(char *buf, size_t size, const uint64_t *dims, int n)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n && used < size; i++) {
        if (used + 24 >= size) {
            snprintf(buf + used, size - used, "...");
            return;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRIu64, i ? ", " : "", dims[i]);
    }
    if (used < size) snprintf(buf + used, size - used, "]");
}

/* ------------------------------------------------------------ model memory */

/* A model with no weights yet: the given name and the defaults of a
 * pretrained file (the loader's starting point). */
static nst_model *model_new(const char *name)
{
    nst_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    snprintf(m->name, sizeof m->name, "%s", name && *name ? name : "model");
    for (char *c = m->name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?'; /* as nst.name requires */
    m->pretrained = 1;
    m->defaults = nst_model_pretrained_defaults;
    m->pre = torchvision_preprocess;
    return m;
}

/* Allocate m->storage for every tensor and point weight[]/bias[] into it. */
static int model_alloc_storage(nst_model *m, nst_error *err)
{
    size_t total = 0;
    tensor_spec s;
    for (int t = 0; t < NUM_TENSORS; t++) {
        tensor_spec_get(t, &s);
        total += s.numel;
    }
    m->storage = nst_big_alloc(total * sizeof(float)); /* huge pages: fewer faults, TLB misses */
    if (!m->storage)
        return nst_error_set(err, NST_ENOMEM, NULL, "cannot allocate %zu bytes for the weights",
                             total * sizeof(float));
    float *p = m->storage;
    for (int t = 0; t < NUM_TENSORS; t++) {
        tensor_spec_get(t, &s);
        if (t % 2) m->bias[t / 2] = p;
        else m->weight[t / 2] = p;
        p += s.numel;
    }
    return NST_OK;
}

void nst_model_free(nst_model *m)
{
    if (!m) return;
    free(m->storage);
    free(m);
}

const char *nst_model_name(const nst_model *m)
{
    return m->name;
}

int nst_model_pretrained(const nst_model *m)
{
    return m->pretrained;
}

const nst_model_defaults *nst_model_get_defaults(const nst_model *m)
{
    return &m->defaults;
}

/* ------------------------------------------------------------ metadata */

/* Numbers are written with the fewest digits that read back to the same
 * value, so an exported model reloads exactly. */
static void format_double(char *buf, size_t size, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void format_float(char *buf, size_t size, float v)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, size, "%.*g", prec, (double)v);
        if ((float)strtod(buf, NULL) == v) return;
    }
}

/* One finite number at s, ending at a ',' or the end of the string. */
static int parse_number(const char *s, const char **end, double *v)
{
    char *e;
    *v = strtod(s, &e);
    if (e == s || !isfinite(*v)) return -1;
    while (*e == ' ') e++;
    if (*e != '\0' && *e != ',') return -1;
    *end = e;
    return 0;
}

static int parse_single(const char *s, double *v)
{
    const char *end;
    return parse_number(s, &end, v) == 0 && *end == '\0' ? 0 : -1;
}

/* Exactly three comma-separated numbers, each > 0 when `positive`. */
static int parse_triple(const char *s, float out[3], int positive)
{
    for (int i = 0; i < 3; i++) {
        double v;
        const char *end;
        if (parse_number(s, &end, &v) != 0 || (i < 2) != (*end == ',')) return -1;
        out[i] = (float)v;
        if (!isfinite(out[i]) || (positive && !(out[i] > 0))) return -1;
        s = end + (*end == ',');
    }
    return 0;
}

/* Index of s among the n choices, or -1. */
static int parse_choice(const char *s, const char *const *choices, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, choices[i]) == 0) return i;
    return -1;
}

static const char *const pretrained_names[] = {"0", "1"};
static const char *const order_names[] = {"rgb", "bgr"};

/* Each metadata key has a parser (0, or -1 for a bad value) and a
 * formatter for export. Parsers run in table order: nst.pretrained first,
 * because it selects the defaults that later keys may override. */
typedef struct {
    const char *key;
    const char *expect;     /* what a valid value looks like, for messages */
    int (*parse)(nst_model *m, const char *value);
    void (*format)(const nst_model *m, char *buf, size_t size);
} meta_field;

static int parse_pretrained(nst_model *m, const char *v)
{
    int i = parse_choice(v, pretrained_names, 2);
    if (i < 0) return -1;
    m->pretrained = i;
    m->defaults = i ? nst_model_pretrained_defaults : nst_model_random_defaults;
    return 0;
}

static void format_pretrained(const nst_model *m, char *buf, size_t size)
{
    snprintf(buf, size, "%s", pretrained_names[m->pretrained != 0]);
}

static int parse_name(nst_model *m, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof m->name) return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) return -1;
    memcpy(m->name, v, n + 1);
    return 0;
}

static void format_name(const nst_model *m, char *buf, size_t size)
{
    snprintf(buf, size, "%s", m->name);
}

static int parse_order(nst_model *m, const char *v)
{
    int i = parse_choice(v, order_names, 2);
    if (i < 0) return -1;
    m->pre.bgr = i;
    return 0;
}

static void format_order(const nst_model *m, char *buf, size_t size)
{
    snprintf(buf, size, "%s", order_names[m->pre.bgr != 0]);
}

static int parse_range(nst_model *m, const char *v)
{
    double r;
    if (parse_single(v, &r) != 0 || !((float)r > 0) || !isfinite((float)r)) return -1;
    m->pre.range = (float)r;
    return 0;
}

static void format_range(const nst_model *m, char *buf, size_t size)
{
    format_float(buf, size, m->pre.range);
}

static int parse_mean(nst_model *m, const char *v)
{
    return parse_triple(v, m->pre.mean, 0);
}

static int parse_std(nst_model *m, const char *v)
{
    return parse_triple(v, m->pre.std, 1);
}

static void format_triple(char *buf, size_t size, const float v[3])
{
    char a[32], b[32], c[32];
    format_float(a, sizeof a, v[0]);
    format_float(b, sizeof b, v[1]);
    format_float(c, sizeof c, v[2]);
    snprintf(buf, size, "%s,%s,%s", a, b, c);
}

static void format_mean(const nst_model *m, char *buf, size_t size)
{
    format_triple(buf, size, m->pre.mean);
}

static void format_std(const nst_model *m, char *buf, size_t size)
{
    format_triple(buf, size, m->pre.std);
}

static int parse_pooling(nst_model *m, const char *v)
{
    for (nst_pooling p = NST_POOL_MAX; p <= NST_POOL_AVG; p++)
        if (strcmp(v, nst_pooling_name(p)) == 0) {
            m->defaults.pooling = p;
            return 0;
        }
    return -1;
}

static void format_pooling(const nst_model *m, char *buf, size_t size)
{
    snprintf(buf, size, "%s", nst_pooling_name(m->defaults.pooling));
}

/* A loss weight: a finite number >= 0. */
static int parse_weight(const char *v, double *out)
{
    double w;
    if (parse_single(v, &w) != 0 || !(w >= 0)) return -1;
    *out = w;
    return 0;
}

static int parse_alpha(nst_model *m, const char *v) { return parse_weight(v, &m->defaults.alpha); }
static int parse_beta(nst_model *m, const char *v) { return parse_weight(v, &m->defaults.beta); }
static int parse_tv(nst_model *m, const char *v) { return parse_weight(v, &m->defaults.tv_weight); }

static void format_alpha(const nst_model *m, char *buf, size_t size)
{
    format_double(buf, size, m->defaults.alpha);
}

static void format_beta(const nst_model *m, char *buf, size_t size)
{
    format_double(buf, size, m->defaults.beta);
}

static void format_tv(const nst_model *m, char *buf, size_t size)
{
    format_double(buf, size, m->defaults.tv_weight);
}

static const meta_field meta_fields[] = {
    {"nst.pretrained", "\"0\" or \"1\"", parse_pretrained, format_pretrained},
    {"nst.name", "1 to 127 printable bytes", parse_name, format_name},
    {"nst.channel_order", "\"rgb\" or \"bgr\"", parse_order, format_order},
    {"nst.value_range", "a positive number such as \"1\" or \"255\"", parse_range, format_range},
    {"nst.mean", "three numbers separated by commas", parse_mean, format_mean},
    {"nst.std", "three positive numbers separated by commas", parse_std, format_std},
    {"nst.pooling", "\"max\" or \"avg\"", parse_pooling, format_pooling},
    {"nst.alpha", "a number >= 0", parse_alpha, format_alpha},
    {"nst.beta", "a number >= 0", parse_beta, format_beta},
    {"nst.tv_weight", "a number >= 0", parse_tv, format_tv},
};

#define NUM_META_FIELDS (sizeof meta_fields / sizeof meta_fields[0])

/* Apply the header's "__metadata__" (when present) to m. */
static int metadata_apply(nst_model *m, const cJSON *root, nst_error *err)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    if (!meta) return NST_OK;
    if (!cJSON_IsObject(meta))
        return nst_error_set(err, NST_EMODEL, NULL, "__metadata__ is not a JSON object");
    for (size_t i = 0; i < NUM_META_FIELDS; i++) {
        const meta_field *f = &meta_fields[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, f->key);
        if (!v) continue;
        if (!cJSON_IsString(v))
            return nst_error_set(err, NST_EMODEL, NULL, "metadata %s: value is not a string (expected %s)",
                                 f->key, f->expect);
        if (f->parse(m, v->valuestring) != 0)
            return nst_error_set(err, NST_EMODEL, NULL, "metadata %s: invalid value \"%.40s\" (expected %s)",
                                 f->key, v->valuestring, f->expect);
    }
    return NST_OK;
}

/* ------------------------------------------------------------ reading */

/* A parsed safetensors image: its header and where its data area lies. */
typedef struct {
    cJSON *root;
    const uint8_t *data;
    size_t data_len;
    size_t data_offset;     /* of the data area in the file */
} st_file;

/* Split buf into header and data and parse the header. */
static int st_open(const uint8_t *buf, size_t len, st_file *f, nst_error *err)
{
    if (len < 8)
        return nst_error_set(err, NST_EMODEL, NULL,
                             "file too short (%zu bytes): no 8-byte safetensors header length", len);
    uint64_t n = get_le64(buf);
    if (n > MODEL_MAX_HEADER)
        return nst_error_set(err, NST_EMODEL, NULL, "header length %" PRIu64 " exceeds the limit of %" PRIu64
                             " bytes", n, MODEL_MAX_HEADER);
    if (n > len - 8)
        return nst_error_set(err, NST_EMODEL, NULL, "header length %" PRIu64
                             " is larger than the rest of the file (%zu bytes)", n, len - 8);
    const char *json = (const char *)buf + 8, *end = NULL;
    f->root = cJSON_ParseWithLengthOpts(json, (size_t)n, &end, 0);
    if (!f->root) {
        size_t at = end && end >= json && end <= json + n ? (size_t)(end - json) + 8 : 8;
        return nst_error_set(err, NST_EMODEL, NULL, "header is not valid JSON (at byte offset %zu)", at);
    }
    while (end < json + n && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n' || !*end))
        end++;
    if (end < json + n) {
        cJSON_Delete(f->root);
        return nst_error_set(err, NST_EMODEL, NULL, "header has bytes after its JSON (at byte offset %zu)",
                             (size_t)(end - json) + 8);
    }
    if (!cJSON_IsObject(f->root)) {
        cJSON_Delete(f->root);
        return nst_error_set(err, NST_EMODEL, NULL, "header is not a JSON object");
    }
    f->data_offset = 8 + (size_t)n;
    f->data = buf + f->data_offset;
    f->data_len = len - f->data_offset;
    return NST_OK;
}

/* A JSON number that is a non-negative integer a double holds exactly. */
static int json_uint(const cJSON *j, uint64_t *v)
{
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return 0;
    *v = (uint64_t)d;
    return 1;
}

static int check_dtype(const cJSON *entry, const tensor_spec *s, const dtype_def **dt, nst_error *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (!cJSON_IsString(j))
        return nst_error_set(err, NST_EMODEL, NULL, "tensor %s: dtype missing or not a string", s->name);
    *dt = dtype_find(j->valuestring);
    if (!*dt)
        return nst_error_set(err, NST_EMODEL, NULL,
                             "tensor %s: unsupported dtype \"%.20s\" (expected F32, F16 or BF16)", s->name,
                             j->valuestring);
    return NST_OK;
}

static int check_shape(const cJSON *entry, const tensor_spec *s, nst_error *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (!cJSON_IsArray(j))
        return nst_error_set(err, NST_EMODEL, NULL, "tensor %s: shape missing or not a list", s->name);
    uint64_t dims[8];
    int rank = 0, same = 1;
    const cJSON *d;
    cJSON_ArrayForEach(d, j) {
        uint64_t v;
        if (!json_uint(d, &v))
            return nst_error_set(err, NST_EMODEL, NULL,
                                 "tensor %s: shape is not a list of non-negative integers", s->name);
        if (rank < 8) dims[rank] = v;
        same = same && rank < s->rank && v == s->shape[rank];
        rank++;
    }
    if (same && rank == s->rank) return NST_OK;
    char found[96], expected[96];
    shape_format(found, sizeof found, dims, rank < 8 ? rank : 8);
    shape_format(expected, sizeof expected, s->shape, s->rank);
    return nst_error_set(err, NST_EMODEL, NULL, "tensor %s: shape %s%s, expected %s", s->name, found,
                         rank > 8 ? " (cut)" : "", expected);
}

/* data_offsets must be [begin, end] inside the data area, end - begin
 * being the tensor's byte size. */
static int check_offsets(const cJSON *entry, const tensor_spec *s, const dtype_def *dt, const st_file *f,
                         const uint8_t **src, nst_error *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    uint64_t b, e;
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != 2 || !json_uint(j->child, &b) ||
        !json_uint(j->child->next, &e))
        return nst_error_set(err, NST_EMODEL, NULL,
                             "tensor %s: data_offsets missing or not two non-negative integers", s->name);
    if (b > e)
        return nst_error_set(err, NST_EMODEL, NULL, "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64
                             "] are reversed", s->name, b, e);
    if (e > f->data_len)
        return nst_error_set(err, NST_EMODEL, NULL, "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64
                             "] lie outside the data area (%zu bytes from byte offset %zu)", s->name, b, e,
                             f->data_len, f->data_offset);
    if (e - b != (uint64_t)s->numel * dt->size)
        return nst_error_set(err, NST_EMODEL, NULL, "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64
                             "] hold %" PRIu64 " bytes, expected %zu (%zu values of %s)", s->name, b, e,
                             e - b, s->numel * dt->size, s->numel, dt->name);
    *src = f->data + b;
    return NST_OK;
}

/* Where tensor t's values are and in which dtype, after checking it. */
typedef struct {
    const dtype_def *dtype;
    const uint8_t *src;
} tensor_src;

static int tensor_find(const st_file *f, int t, tensor_src *out, nst_error *err)
{
    tensor_spec s;
    tensor_spec_get(t, &s);
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(f->root, s.name);
    if (!entry)
        return nst_error_set(err, NST_EMODEL, NULL, "missing tensor %s (the %s of %s)", s.name,
                             t % 2 ? "bias" : "weight", nst_layers[t / 2].name);
    if (!cJSON_IsObject(entry))
        return nst_error_set(err, NST_EMODEL, NULL, "tensor %s: entry is not a JSON object", s.name);
    int rc = check_dtype(entry, &s, &out->dtype, err);
    if (!rc) rc = check_shape(entry, &s, err);
    if (!rc) rc = check_offsets(entry, &s, out->dtype, f, &out->src, err);
    return rc;
}

/* Metadata, then every tensor's checks, then the one allocation and the
 * conversion: a bad file costs no weight memory. */
static int model_from_header(const st_file *f, const char *name, nst_model **out, nst_error *err)
{
    nst_model *m = model_new(name);
    if (!m) return nst_error_set(err, NST_ENOMEM, NULL, "out of memory");
    tensor_src src[NUM_TENSORS];
    int rc = metadata_apply(m, f->root, err);
    for (int t = 0; t < NUM_TENSORS && !rc; t++) rc = tensor_find(f, t, &src[t], err);
    if (!rc) rc = model_alloc_storage(m, err);
    if (rc) {
        nst_model_free(m);
        return rc;
    }
    for (int t = 0; t < NUM_TENSORS; t++) {
        tensor_spec s;
        tensor_spec_get(t, &s);
        src[t].dtype->convert(tensor_data(m, t), src[t].src, s.numel);
    }
    *out = m;
    return NST_OK;
}

int nst_model_load_memory(const void *buf, size_t len, const char *name, nst_model **out, nst_error *err)
{
    *out = NULL;
    st_file f;
    int rc = st_open(buf, len, &f, err);
    if (rc) return rc;
    rc = model_from_header(&f, name, out, err);
    cJSON_Delete(f.root);
    return rc;
}

/* The file's base name without its extension: "models/vgg19.safetensors"
 * → "vgg19". */
static void path_stem(const char *path, char *buf, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), base);
}

int nst_model_load(const char *path, nst_model **out, nst_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nst_error_set(err, NST_EIO, NULL, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return nst_error_set(err, NST_EIO, NULL, "cannot read %s: not a regular file", path);
    }
    size_t len = (size_t)st.st_size;
    void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        return nst_error_set(err, NST_EIO, NULL, "cannot map %s: %s", path, strerror(map_errno));
    char stem[sizeof ((nst_model *)0)->name];
    path_stem(path, stem, sizeof stem);
    int rc = nst_model_load_memory(len ? map : "", len, stem, out, err);
    if (len) munmap(map, len);
    return rc;
}

/* ------------------------------------------------------------ random model */

typedef struct {
    uint64_t s[4];
} rng;

static void rng_seed(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = nst_splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return x << k | x >> (64 - k);
}

/* xoshiro256** (Blackman & Vigna). */
static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, 1), 53 bits. */
static double rng_uniform(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1p-53;
}

/* ln x for a normal x > 0 from its exponent and mantissa bits (exact, as
 * frexp) and + − × ÷, so that it gives the same bits on every IEEE-754
 * machine, which libm's log need not. With x = m·2^e, m in [√½, √2):
 * ln x = e·ln 2 + 2·atanh(t), t = (m−1)/(m+1), |t| < 0.172, atanh by its
 * odd series to t^25 (error below 1e-18). No call and no branch, so a
 * batch of them vectorises. */
static double portable_log(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    int64_t e = (int64_t)(b >> 52 & 0x7ff) - 1022; /* x = m·2^e, m in [½, 1) */
    b = (b & ~(UINT64_C(0x7ff) << 52)) | UINT64_C(1022) << 52;
    double m;
    memcpy(&m, &b, sizeof m);
    int low = m < 0.70710678118654752440;
    m = low ? m * 2.0 : m;
    e -= low;
    static const double c[] = {1.0 / 25, 1.0 / 23, 1.0 / 21, 1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13,
                               1.0 / 11, 1.0 / 9,  1.0 / 7,  1.0 / 5,  1.0 / 3,  1.0};
    double t = (m - 1.0) / (m + 1.0), t2 = t * t, p = 0.0;
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) p = p * t2 + c[k];
    return (double)e * 0.69314718055994530942 + 2.0 * t * p;
}

/* w[i] = σ·z for n standard normal deviates z in stream order (polar
 * Box–Muller; an odd n drops the last pair's second deviate; VGG19's
 * counts are all even). In batches: first each pair's uniforms, drawn
 * again until 0 < s < 1 (so s is normal: at least 2^-104), in stream
 * order; then the logarithms and square roots, independent from pair to
 * pair, which the compiler vectorises; the same bits as pair by pair. */
static void fill_normal(rng *r, float *w, size_t n, double sigma)
{
    enum { BATCH = 512 };
    double xs[BATCH], ys[BATCH], ss[BATCH];
    for (size_t i = 0; i < n;) {
        size_t pairs = (n - i + 1) / 2 < BATCH ? (n - i + 1) / 2 : BATCH;
        for (size_t k = 0; k < pairs; k++) {
            double x, y, s;
            do {
                x = 2.0 * rng_uniform(r) - 1.0;
                y = 2.0 * rng_uniform(r) - 1.0;
                s = x * x + y * y;
            } while (s >= 1.0 || s == 0.0);
            xs[k] = x, ys[k] = y, ss[k] = s;
        }
        for (size_t k = 0; k < pairs; k++) {
            double f = sqrt(-2.0 * portable_log(ss[k]) / ss[k]);
            xs[k] *= f;
            ys[k] *= f;
        }
        for (size_t k = 0; k < pairs; k++, i += 2) {
            w[i] = (float)(xs[k] * sigma);
            if (i + 1 < n) w[i + 1] = (float)(ys[k] * sigma);
        }
    }
}

int nst_model_random(nst_model **out, nst_error *err)
{
    *out = NULL;
    nst_model *m = model_new(RANDOM_NAME);
    if (!m) return nst_error_set(err, NST_ENOMEM, NULL, "out of memory");
    int rc = model_alloc_storage(m, err);
    if (rc) {
        nst_model_free(m);
        return rc;
    }
    m->pretrained = 0;
    m->defaults = nst_model_random_defaults;
    rng r;
    rng_seed(&r, RANDOM_SEED);
    for (int l = 0; l < NST_NUM_LAYERS; l++) {
        const nst_layer_def *d = &nst_layers[l];
        fill_normal(&r, m->weight[l], (size_t)d->cout * d->cin * 9, sqrt(2.0 / (d->cin * 9)));
        memset(m->bias[l], 0, (size_t)d->cout * sizeof(float));
    }
    *out = m;
    return NST_OK;
}

/* ------------------------------------------------------------ writing */

/* The header JSON, padded with spaces so that the data starts at a file
 * offset that is a multiple of 8. Tensors are laid out back to back in
 * table order; every tensor's size is a multiple of 8 bytes (channel counts
 * are multiples of 64), so every data offset is 8-byte aligned too. */
static char *export_header(const nst_model *m, size_t *len)
{
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "__metadata__");
    int ok = meta && cJSON_AddStringToObject(meta, "format", "pt");
    for (size_t i = 0; i < NUM_META_FIELDS && ok; i++) {
        char v[128];
        meta_fields[i].format(m, v, sizeof v);
        ok = cJSON_AddStringToObject(meta, meta_fields[i].key, v) != NULL;
    }
    size_t offset = 0;
    for (int t = 0; t < NUM_TENSORS && ok; t++) {
        tensor_spec s;
        tensor_spec_get(t, &s);
        double shape[4] = {(double)s.shape[0], (double)s.shape[1], 3, 3};
        double offsets[2] = {(double)offset, (double)(offset + 4 * s.numel)};
        cJSON *e = cJSON_AddObjectToObject(root, s.name);
        ok = e && cJSON_AddStringToObject(e, "dtype", "F32") &&
             cJSON_AddItemToObject(e, "shape", cJSON_CreateDoubleArray(shape, s.rank)) &&
             cJSON_AddItemToObject(e, "data_offsets", cJSON_CreateDoubleArray(offsets, 2));
        offset += 4 * s.numel;
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) return NULL;
    size_t n = strlen(json), padded = (n + 7) & ~(size_t)7;
    char *out = realloc(json, padded);
    if (!out) {
        free(json);
        return NULL;
    }
    memset(out + n, ' ', padded - n);
    *len = padded;
    return out;
}

/* Every tensor's floats, little-endian, in table order. */
static int write_tensors(int fd, const nst_model *m)
{
    uint8_t buf[1 << 15];
    int rc;
    for (int t = 0; t < NUM_TENSORS; t++) {
        tensor_spec s;
        tensor_spec_get(t, &s);
        const float *w = tensor_data(m, t);
        for (size_t i = 0; i < s.numel;) {
            size_t k = 0;
            for (; k < sizeof buf / 4 && i < s.numel; k++, i++) {
                uint32_t bits;
                memcpy(&bits, &w[i], 4);
                for (int b = 0; b < 4; b++) buf[4 * k + b] = (uint8_t)(bits >> 8 * b);
            }
            if ((rc = nst_file_write_all(fd, buf, 4 * k)) != 0) return rc;
        }
    }
    return 0;
}

typedef struct {
    const nst_model *m;
    const char *header;
    size_t header_len;
} export_ctx;

/* nst_fill_fn: length, header and data into fd. */
static int write_file(int fd, void *ctx)
{
    const export_ctx *c = ctx;
    uint8_t n[8];
    put_le64(n, c->header_len);
    int rc = nst_file_write_all(fd, n, 8);
    if (!rc) rc = nst_file_write_all(fd, c->header, c->header_len);
    if (!rc) rc = write_tensors(fd, c->m);
    return rc;
}

int nst_model_export(const nst_model *m, const char *path, nst_error *err)
{
    export_ctx c = {m, NULL, 0};
    char *header = export_header(m, &c.header_len);
    if (!header) return nst_error_set(err, NST_ENOMEM, NULL, "out of memory");
    c.header = header;
    int rc = nst_file_replace(path, write_file, &c);
    free(header);
    return rc ? nst_error_set(err, NST_EIO, NULL, "cannot write %s: %s", path, strerror(-rc)) : NST_OK;
}
