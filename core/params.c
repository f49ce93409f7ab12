/*
 * params.c — the one validator of transfer parameters (DESIGN §4), shared by
 * the HTTP API (a JSON object) and the command line (one flag at a time).
 *
 * Every parameter is one row of `rows` below: its JSON name, its kind, where
 * it lives in nst_params, its bounds and a line of help. Parsing, the
 * command-line setter, the error messages, the command-line help and the
 * JSON view of the effective parameters all read that table; the per-kind
 * behaviour (check a JSON value and store it, turn a stored value back into
 * JSON, turn a command-line word into JSON, name the value in the help) is a
 * second table, `kinds`. A new parameter is one row here plus its field in
 * nst_params.
 *
 * Rules that involve two keys (style_layer_weights follows style_layers;
 * blend weights against the number of style images) are written out after
 * the tables. Parsing is all-or-nothing: on error *p is left unchanged.
 *
 * Not here: what the parameters do (the transfer), server limits' own
 * configuration (config/), HTTP error mapping (api/).
 */
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "nst.h"

/* The parameters being changed, plus what the cross-key rules need. */
typedef struct {
    nst_params p;
    int n_style_layer_weights; /* values in p.style_layer_weights */
    unsigned seen;             /* bit i: rows[i] was given in this call */
} draft;

typedef enum { K_NUMBER, K_INT, K_SEED, K_ENUM, K_LAYERS, K_WEIGHTS } param_kind;

typedef struct {
    const char *name;          /* JSON key */
    param_kind kind;
    size_t off;                /* offsetof(draft, …): the value, or a list's first element */
    size_t count_off;          /* lists: offsetof(draft, …) of the element count */
    int max_count;             /* lists: capacity */
    double min, max;           /* numbers, integers, list elements */
    int min_open;              /* 1: min itself is not allowed */
    int nullable;              /* 1: JSON null means "not given" (count 0) */
    int (*limit)(const nst_limits *lim); /* > 0: replaces max */
    const char *const *names;  /* enums: value i is names[i]; NULL-terminated */
    const char *help;          /* one sentence, as in the API's description of the key */
} param_row;

static int limit_iterations(const nst_limits *lim)
{
    return lim ? lim->max_iterations : 0;
}

static int limit_image_size(const nst_limits *lim)
{
    return lim ? lim->max_image_size : 0;
}

static const char *const optimizer_names[] = {"lbfgs", "adam", NULL};
static const char *const init_names[] = {"content", "noise", "style", NULL};
static const char *const pooling_names[] = {[NST_POOL_MAX] = "max", [NST_POOL_AVG] = "avg",
                                            NULL};
static const char *const colors_names[] = {"none", "luminance", "histogram", NULL};

#define AT(field) offsetof(draft, p.field)
#define SEED_MAX 9007199254740992.0 /* 2^53: every integer up to it is a double */

static const param_row rows[] = {
    {"content_layers", K_LAYERS, AT(content_layers), AT(n_content_layers), NST_NUM_LAYERS,
     .help = "Layers whose activations are matched to the content image"},
    {"style_layers", K_LAYERS, AT(style_layers), AT(n_style_layers), NST_NUM_LAYERS,
     .help = "Layers whose Gram matrices are matched to the style images"},
    {"style_layer_weights", K_WEIGHTS, AT(style_layer_weights),
     offsetof(draft, n_style_layer_weights), NST_NUM_LAYERS, 0, 1e15,
     .help = "Weight w_l of each style layer, one per entry of style_layers; equal weights "
             "1/n when only style_layers is given"},
    {"alpha", K_NUMBER, AT(alpha), .min = 0, .max = 1e15, .help = "Content weight (alpha)"},
    {"beta", K_NUMBER, AT(beta), .min = 0, .max = 1e15, .help = "Style weight (beta)"},
    {"tv_weight", K_NUMBER, AT(tv_weight), .min = 0, .max = 1e15,
     .help = "Total-variation weight (smoothness of the output)"},
    {"iterations", K_INT, AT(iterations), .min = 1, .max = 100000, .limit = limit_iterations,
     .help = "Optimiser iterations"},
    {"optimizer", K_ENUM, AT(optimizer), .names = optimizer_names,
     .help = "L-BFGS as in the paper, or Adam"},
    {"learning_rate", K_NUMBER, AT(learning_rate), .min = 0, .max = 10, .min_open = 1,
     .help = "Adam step size, for pixel values in [0, 1]"},
    {"init", K_ENUM, AT(init), .names = init_names, .help = "Starting image"},
    {"seed", K_SEED, AT(seed), .min = 0, .max = SEED_MAX, .help = "Random seed for init noise"},
    {"image_size", K_INT, AT(image_size), .min = 16, .max = 8192, .limit = limit_image_size,
     .help = "Longest side of the output in pixels (the content's aspect is kept)"},
    {"style_scale", K_NUMBER, AT(style_scale), .min = 0.05, .max = 8,
     .help = "Size of the style images relative to the output before their features are "
             "taken"},
    {"style_blend_weights", K_WEIGHTS, AT(style_blend_weights), AT(n_style_blend_weights),
     NST_MAX_STYLES, 0, 1e15, .nullable = 1,
     .help = "Weight of each style image, one per style image; equal weights when not given "
             "(or null)"},
    {"content_mask_weight", K_NUMBER, AT(content_mask_weight), .min = 0, .max = 1e15,
     .help = "Weight of the content loss inside the content mask (the region kept as the "
             "photo) relative to outside; without a content mask it has no effect"},
    {"pooling", K_ENUM, AT(pooling), .names = pooling_names,
     .help = "Pooling in the network: max, or average as the paper suggests"},
    {"preserve_colors", K_ENUM, AT(preserve_colors), .names = colors_names,
     .help = "Keep the content image's colours: luminance-only transfer or colour histogram "
             "matching"},
    {"preview_every", K_INT, AT(preview_every), .min = 0, .max = 100000,
     .help = "Iterations between preview images; 0 for none"},
    {"scales", K_INT, AT(scales), .min = 1, .max = 4,
     .help = "Coarse to fine: the number of resolutions, each half the next, ending at "
             "image_size (1: full size only); most iterations run at the lower ones, and a "
             "resolution whose longest side would be under 64 px is skipped"},
    {"tolerance", K_NUMBER, AT(tolerance), .min = 0, .max = 1,
     .help = "Stop once the loss fell by less than this fraction over the last 10 "
             "iterations (at each resolution); 0: always run all iterations"},
};

#define N_ROWS ((int)(sizeof rows / sizeof rows[0]))
_Static_assert(N_ROWS <= 32, "draft.seen has one bit per row");
_Static_assert(sizeof(nst_optimizer) == sizeof(int) && sizeof(nst_init) == sizeof(int) &&
                   sizeof(nst_pooling) == sizeof(int) && sizeof(nst_colors) == sizeof(int),
               "enum fields are stored as int");

static void *at(draft *d, size_t off)
{
    return (char *)d + off;
}

static const void *at_const(const draft *d, size_t off)
{
    return (const char *)d + off;
}

static const param_row *row_find(const char *name)
{
    for (int i = 0; i < N_ROWS; i++)
        if (name && strcmp(rows[i].name, name) == 0) return &rows[i];
    return NULL;
}

static double row_max(const param_row *r, const nst_limits *lim)
{
    int l = r->limit ? r->limit(lim) : 0;
    return l > 0 ? l : r->max;
}

/* ------------------------------------------------------------ checking values */

/* Text from the request, made safe to quote in a message: at most 40
 * characters, anything but printable ASCII shown as '?'. */
static const char *quote(char out[48], const char *s)
{
    size_t n = 0;
    for (; s && s[n] && n < 40; n++) out[n] = s[n] >= 0x20 && s[n] < 0x7f ? s[n] : '?';
    strcpy(out + n, s && s[n] ? "..." : "");
    return out;
}

static int type_error(const param_row *r, const char *what, nst_error *err)
{
    return nst_error_set(err, NST_EINVAL, r->name, "%s must be %s", r->name, what);
}

/* A number within the row's bounds; integral when `integer`. */
static int get_number(const param_row *r, const cJSON *v, int integer, const nst_limits *lim,
                      double *out, nst_error *err)
{
    if (!cJSON_IsNumber(v)) return type_error(r, integer ? "an integer" : "a number", err);
    double x = v->valuedouble, max = row_max(r, lim);
    if (integer && !(isfinite(x) && x == floor(x)))
        return nst_error_set(err, NST_EINVAL, r->name, "%s must be an integer (got %g)",
                             r->name, x);
    int low_ok = r->min_open ? x > r->min : x >= r->min;
    if (low_ok && x <= max) {
        *out = x;
        return NST_OK;
    }
    if (integer)
        return nst_error_set(err, NST_EINVAL, r->name,
                             "%s must be between %.0f and %.0f (got %.15g)", r->name, r->min,
                             max, x);
    if (r->min_open)
        return nst_error_set(err, NST_EINVAL, r->name,
                             "%s must be greater than %g and at most %g (got %g)", r->name,
                             r->min, max, x);
    return nst_error_set(err, NST_EINVAL, r->name, "%s must be between %g and %g (got %g)",
                         r->name, r->min, max, x);
}

static int apply_number(const param_row *r, const cJSON *v, draft *d, const nst_limits *lim,
                        nst_error *err)
{
    return get_number(r, v, 0, lim, at(d, r->off), err);
}

static int apply_int(const param_row *r, const cJSON *v, draft *d, const nst_limits *lim,
                     nst_error *err)
{
    double x = 0;
    int rc = get_number(r, v, 1, lim, &x, err);
    if (rc == NST_OK) *(int *)at(d, r->off) = (int)x;
    return rc;
}

static int apply_seed(const param_row *r, const cJSON *v, draft *d, const nst_limits *lim,
                      nst_error *err)
{
    double x = 0;
    int rc = get_number(r, v, 1, lim, &x, err);
    if (rc == NST_OK) *(uint64_t *)at(d, r->off) = (uint64_t)x;
    return rc;
}

static int enum_error(const param_row *r, const cJSON *v, nst_error *err)
{
    char list[128] = "";
    for (int i = 0; r->names[i]; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s\"%s\"", i ? ", " : "", r->names[i]);
    }
    char got[48];
    if (cJSON_IsString(v))
        return nst_error_set(err, NST_EINVAL, r->name, "%s must be one of %s (got \"%s\")",
                             r->name, list, quote(got, v->valuestring));
    return nst_error_set(err, NST_EINVAL, r->name, "%s must be one of %s", r->name, list);
}

static int apply_enum(const param_row *r, const cJSON *v, draft *d, const nst_limits *lim,
                      nst_error *err)
{
    for (int i = 0; cJSON_IsString(v) && r->names[i]; i++)
        if (strcmp(v->valuestring, r->names[i]) == 0) {
            *(int *)at(d, r->off) = i;
            return NST_OK;
        }
    return enum_error(r, v, err);
}

static int unknown_layer_error(const param_row *r, const char *name, nst_error *err)
{
    char list[160] = "";
    for (int i = 0; i < NST_NUM_LAYERS; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", nst_layer_name(i));
    }
    char got[48];
    return nst_error_set(err, NST_EINVAL, r->name, "%s: unknown layer \"%s\"; valid: %s",
                         r->name, quote(got, name), list);
}

static int apply_layers(const param_row *r, const cJSON *v, draft *d, const nst_limits *lim,
                        nst_error *err)
{
    if (!cJSON_IsArray(v)) return type_error(r, "an array of layer names", err);
    int layers[NST_NUM_LAYERS], n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, v) {
        if (!cJSON_IsString(item)) return type_error(r, "an array of layer names", err);
        int index = nst_layer_index(item->valuestring);
        if (index < 0) return unknown_layer_error(r, item->valuestring, err);
        for (int j = 0; j < n; j++)
            if (layers[j] == index)
                return nst_error_set(err, NST_EINVAL, r->name, "%s lists %s twice", r->name,
                                     item->valuestring);
        layers[n++] = index; /* known and distinct: n stays <= NST_NUM_LAYERS */
    }
    if (n == 0) return nst_error_set(err, NST_EINVAL, r->name, "%s must not be empty", r->name);
    memcpy(at(d, r->off), layers, (size_t)n * sizeof layers[0]);
    *(int *)at(d, r->count_off) = n;
    return NST_OK;
}

static int apply_weights(const param_row *r, const cJSON *v, draft *d, const nst_limits *lim,
                         nst_error *err)
{
    if (r->nullable && cJSON_IsNull(v)) {
        *(int *)at(d, r->count_off) = 0;
        return NST_OK;
    }
    if (!cJSON_IsArray(v)) return type_error(r, "an array of numbers", err);
    int n = cJSON_GetArraySize(v);
    if (n > r->max_count)
        return nst_error_set(err, NST_EINVAL, r->name, "%s has %d values, at most %d allowed",
                             r->name, n, r->max_count);
    double w[NST_NUM_LAYERS > NST_MAX_STYLES ? NST_NUM_LAYERS : NST_MAX_STYLES], sum = 0;
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, v) {
        if (!cJSON_IsNumber(item)) return type_error(r, "an array of numbers", err);
        if (!(item->valuedouble >= r->min && item->valuedouble <= r->max))
            return nst_error_set(err, NST_EINVAL, r->name,
                                 "%s values must be between %g and %g (got %g)", r->name,
                                 r->min, r->max, item->valuedouble);
        sum += w[i++] = item->valuedouble;
    }
    if (!(sum > 0))
        return nst_error_set(err, NST_EINVAL, r->name, "%s must not be empty or all zero",
                             r->name);
    memcpy(at(d, r->off), w, (size_t)n * sizeof w[0]);
    *(int *)at(d, r->count_off) = n;
    return NST_OK;
}

/* ------------------------------------------------------------ JSON view */

/* Append x to the array a; on failure free both and return NULL. */
static cJSON *append(cJSON *a, cJSON *x)
{
    if (a && x && cJSON_AddItemToArray(a, x)) return a;
    cJSON_Delete(x);
    cJSON_Delete(a);
    return NULL;
}

/* A JSON number that reads back as exactly x (cJSON's own printing may drop
 * the last bit), in the shortest such form. */
static cJSON *json_number(double x)
{
    char text[32];
    if (!isfinite(x)) return cJSON_CreateNull();
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, x);
        if (strtod(text, NULL) == x) break;
    }
    for (char *c = text; *c; c++)
        if (*c == ',') *c = '.'; /* a locale's decimal comma */
    return cJSON_CreateRaw(text);
}

static cJSON *emit_number(const param_row *r, const draft *d)
{
    return json_number(*(const double *)at_const(d, r->off));
}

static cJSON *emit_int(const param_row *r, const draft *d)
{
    return cJSON_CreateNumber(*(const int *)at_const(d, r->off));
}

static cJSON *emit_seed(const param_row *r, const draft *d)
{
    return json_number((double)*(const uint64_t *)at_const(d, r->off));
}

static cJSON *emit_enum(const param_row *r, const draft *d)
{
    int v = *(const int *)at_const(d, r->off);
    for (int i = 0; r->names[i]; i++)
        if (i == v) return cJSON_CreateString(r->names[i]);
    return cJSON_CreateNull();
}

static cJSON *emit_layers(const param_row *r, const draft *d)
{
    const int *layers = at_const(d, r->off);
    int n = *(const int *)at_const(d, r->count_off);
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        const char *name = nst_layer_name(layers[i]);
        a = append(a, name ? cJSON_CreateString(name) : cJSON_CreateNull());
    }
    return a;
}

static cJSON *emit_weights(const param_row *r, const draft *d)
{
    const double *w = at_const(d, r->off);
    int n = *(const int *)at_const(d, r->count_off);
    if (r->nullable && n == 0) return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) a = append(a, json_number(w[i]));
    return a;
}

/* ------------------------------------------------------------ command-line words */

/* A number when the whole text is one, else the text as a string (so the
 * validator reports the key's expected type). */
static cJSON *text_number(const char *text)
{
    char *end;
    double x = text ? strtod(text, &end) : 0;
    if (text && end != text) {
        while (isspace((unsigned char)*end)) end++;
        if (*end == '\0') return cJSON_CreateNumber(x);
    }
    return cJSON_CreateString(text ? text : "");
}

static cJSON *text_string(const char *text)
{
    return cJSON_CreateString(text ? text : "");
}

static int only_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)s[i])) return 0;
    return 1;
}

/* A copy of s[0..n) without surrounding white space. */
static char *word_dup(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s)) s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    return strndup(s, n);
}

/* "a, b,c" → [item("a"), item("b"), item("c")]; "" → []; "a," → [item("a"), item("")]. */
static cJSON *text_list(const char *text, cJSON *(*item)(const char *))
{
    const char *s = text ? text : "";
    cJSON *a = cJSON_CreateArray();
    if (only_space(s, strlen(s))) return a;
    for (;;) {
        size_t n = strcspn(s, ",");
        char *word = word_dup(s, n);
        a = append(a, word ? item(word) : NULL);
        free(word);
        if (!a || s[n] != ',') return a;
        s += n + 1;
    }
}

static cJSON *text_layers(const char *text)
{
    return text_list(text, text_string);
}

static cJSON *text_weights(const char *text)
{
    return text_list(text, text_number);
}

/* ------------------------------------------------------------ kinds */

typedef struct {
    int (*apply)(const param_row *r, const cJSON *v, draft *d, const nst_limits *lim,
                 nst_error *err);
    cJSON *(*emit)(const param_row *r, const draft *d);
    cJSON *(*from_text)(const char *text);
    const char *metavar;       /* the value in the help ("N"); enums list their names */
} kind_ops;

static const kind_ops kinds[] = {
    [K_NUMBER] = {apply_number, emit_number, text_number, "NUMBER"},
    [K_INT] = {apply_int, emit_int, text_number, "N"},
    [K_SEED] = {apply_seed, emit_seed, text_number, "N"},
    [K_ENUM] = {apply_enum, emit_enum, text_string, NULL},
    [K_LAYERS] = {apply_layers, emit_layers, text_layers, "LAYER,..."},
    [K_WEIGHTS] = {apply_weights, emit_weights, text_weights, "W,..."},
};

/* ------------------------------------------------------------ help */

#define HELP_WIDTH 79  /* lines end before this column */
#define HELP_INDENT 6  /* a description's column, under its flag */

/* A value of emit() the way the command line writes it: lists
 * comma-separated, null as nothing. */
static void put_value(FILE *f, const cJSON *v)
{
    if (cJSON_IsArray(v)) {
        const cJSON *item;
        cJSON_ArrayForEach(item, v) {
            if (item != v->child) fputc(',', f);
            put_value(f, item);
        }
    } else if (cJSON_IsRaw(v) || cJSON_IsString(v)) {
        fputs(v->valuestring, f);
    } else if (cJSON_IsNumber(v)) {
        fprintf(f, "%.15g", v->valuedouble);
    }
}

/* What a value of the row may be, as the validator checks it (no limits
 * applied): "range 0 to 1e+15"; "" for enums, whose names are the metavar. */
static void rule_text(const param_row *r, char *buf, size_t len)
{
    switch (r->kind) {
    case K_NUMBER:
        if (r->min_open)
            snprintf(buf, len, "range greater than %g, at most %g", r->min, r->max);
        else
            snprintf(buf, len, "range %g to %g", r->min, r->max);
        break;
    case K_INT:
    case K_SEED: snprintf(buf, len, "range %.0f to %.0f", r->min, r->max); break;
    case K_ENUM: buf[0] = 0; break;
    case K_LAYERS:
        snprintf(buf, len, "layers %s to %s, comma-separated", nst_layer_name(0),
                 nst_layer_name(NST_NUM_LAYERS - 1));
        break;
    case K_WEIGHTS:
        snprintf(buf, len, "at most %d values from %g to %g, comma-separated", r->max_count,
                 r->min, r->max);
        break;
    }
}

/* The row's entry: "  --flag VALUE", then below it "Help. Default: value;
 * rule." wrapped. 0, or -1 when out of memory. */
static int put_help(FILE *f, const param_row *r, const draft *d)
{
    fputs("  --", f);
    for (const char *c = r->name; *c; c++) fputc(*c == '_' ? '-' : *c, f);
    fputc(' ', f);
    if (r->names)
        for (int i = 0; r->names[i]; i++) fprintf(f, "%s%s", i ? "|" : "", r->names[i]);
    else
        fputs(kinds[r->kind].metavar, f);
    fputc('\n', f);

    char *text = NULL, rule[128];
    size_t len = 0;
    FILE *t = open_memstream(&text, &len);
    if (!t) return -1;
    fprintf(t, "%s.", r->help);
    rule_text(r, rule, sizeof rule);
    cJSON *v = kinds[r->kind].emit(r, d);
    int rc = v ? 0 : -1;
    if (v && !cJSON_IsNull(v)) {
        fputs(" Default: ", t);
        put_value(t, v);
        fputs(rule[0] ? "; " : ".", t);
    } else if (rule[0]) {
        fputc(' ', t);
        rule[0] = (char)toupper((unsigned char)rule[0]);
    }
    cJSON_Delete(v);
    if (rule[0]) fprintf(t, "%s.", rule);
    if (fclose(t) != 0 || rc != 0) {
        free(text);
        return -1;
    }

    int col = 0;
    for (const char *w = text; *w;) {
        int n = (int)strcspn(w, " ");
        if (col > 0 && col + 1 + n >= HELP_WIDTH) {
            fputc('\n', f);
            col = 0;
        }
        col += col ? fprintf(f, " %.*s", n, w) : fprintf(f, "%*s%.*s", HELP_INDENT, "", n, w);
        w += n;
        while (*w == ' ') w++;
    }
    fputc('\n', f);
    free(text);
    return 0;
}

/* ------------------------------------------------------------ unknown keys */

static int unknown_key_error(const char *key, nst_error *err)
{
    char shown[48];
    quote(shown, key);
    const char *field = key[0] ? shown : "params", *names[N_ROWS];
    for (int i = 0; i < N_ROWS; i++) names[i] = rows[i].name;
    const char *guess = nst_suggest(key, names, N_ROWS, NST_SUGGEST_FOLD);
    if (guess)
        return nst_error_set(err, NST_EINVAL, field,
                             "unknown parameter \"%s\" (did you mean \"%s\"?)", shown, guess);
    return nst_error_set(err, NST_EINVAL, field, "unknown parameter \"%s\"", shown);
}

/* ------------------------------------------------------------ applying */

static draft draft_from(const nst_params *p)
{
    draft d = {.p = *p, .n_style_layer_weights = p->n_style_layers};
    return d;
}

static int row_seen(const draft *d, const char *name)
{
    return (d->seen >> (row_find(name) - rows)) & 1;
}

/* style_layer_weights go with style_layers: equal 1/n when only the layers
 * are given, else one weight per layer. */
static int finish_style_weights(draft *d, nst_error *err)
{
    if (row_seen(d, "style_layers") && !row_seen(d, "style_layer_weights")) {
        for (int i = 0; i < d->p.n_style_layers; i++)
            d->p.style_layer_weights[i] = 1.0 / d->p.n_style_layers;
        d->n_style_layer_weights = d->p.n_style_layers;
    }
    if (d->n_style_layer_weights != d->p.n_style_layers)
        return nst_error_set(err, NST_EINVAL, "style_layer_weights",
                             "style_layer_weights has %d values but style_layers has %d layers",
                             d->n_style_layer_weights, d->p.n_style_layers);
    return NST_OK;
}

/* The style images are resized to style_scale × the output's longest side
 * (objective.c): that size is bounded by max_image_size like the output's,
 * or style_scale 8 would make a 1024 px job's style network 64 times its
 * output's. */
static int check_style_size(const nst_params *p, const nst_limits *lim, nst_error *err)
{
    int max = limit_image_size(lim);
    if (max <= 0) return NST_OK;
    double longest = p->style_scale * p->image_size;
    if (lround(longest) <= max) return NST_OK;
    return nst_error_set(err, NST_EINVAL, "style_scale",
                         "style_scale %g with image_size %d makes the style images %.0f px on "
                         "their longest side, more than max_image_size %d: style_scale must be "
                         "at most %.3g here",
                         p->style_scale, p->image_size, longest, max,
                         floor((double)max / p->image_size * 1000) / 1000);
}

/* Apply every member of a JSON object; *p changes only when all are valid. */
static int apply_object(nst_params *p, const cJSON *obj, const nst_limits *lim, nst_error *err)
{
    draft d = draft_from(p);
    const cJSON *item;
    cJSON_ArrayForEach(item, obj) {
        const param_row *r = row_find(item->string);
        if (!r) return unknown_key_error(item->string ? item->string : "", err);
        unsigned bit = 1u << (r - rows);
        if (d.seen & bit)
            return nst_error_set(err, NST_EINVAL, r->name, "%s is given twice", r->name);
        d.seen |= bit;
        int rc = kinds[r->kind].apply(r, item, &d, lim, err);
        if (rc) return rc;
    }
    int rc = finish_style_weights(&d, err);
    if (rc == NST_OK) rc = check_style_size(&d.p, lim, err);
    if (rc == NST_OK) *p = d.p;
    return rc;
}

/* ------------------------------------------------------------ public */

const char *nst_pooling_name(nst_pooling pooling)
{
    return (unsigned)pooling <= NST_POOL_AVG ? pooling_names[pooling] : NULL;
}

void nst_params_default(nst_params *p, const nst_model *m)
{
    static const char *const style[] = {"conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"};
    enum { n_style = sizeof style / sizeof style[0] };
    memset(p, 0, sizeof *p);
    p->n_content_layers = 1;
    p->content_layers[0] = nst_layer_index("conv4_2");
    p->n_style_layers = n_style;
    for (int i = 0; i < n_style; i++) {
        p->style_layers[i] = nst_layer_index(style[i]);
        p->style_layer_weights[i] = 1.0 / n_style;
    }
    p->alpha = 1;
    p->beta = 1e3;
    p->tv_weight = 0;
    p->pooling = NST_POOL_AVG;
    p->iterations = 300;
    p->optimizer = NST_OPT_LBFGS;
    p->learning_rate = 0.02;
    p->init = NST_INIT_CONTENT;
    p->seed = 0;
    p->image_size = 512;
    p->style_scale = 1.0;
    p->preserve_colors = NST_COLORS_NONE;
    p->preview_every = 10;
    p->scales = 1;
    p->tolerance = NST_DEFAULT_TOLERANCE;
    p->content_mask_weight = 10;
    const nst_model_defaults *md = m ? nst_model_get_defaults(m) : NULL;
    if (md) {
        p->alpha = md->alpha;
        p->beta = md->beta;
        p->tv_weight = md->tv_weight;
        p->pooling = md->pooling;
    }
}

int nst_params_parse(nst_params *p, const char *json, size_t len, const nst_limits *lim,
                     nst_error *err)
{
    if (!json || only_space(json, len)) return NST_OK; /* no parameters: keep *p */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root)
        return nst_error_set(err, NST_EINVAL, "params",
                             "params is not valid JSON (error at byte %td)",
                             end ? end - json : (ptrdiff_t)0);
    int rc;
    if (!only_space(end, len - (size_t)(end - json)))
        rc = nst_error_set(err, NST_EINVAL, "params",
                           "params has text after the JSON object (at byte %td)", end - json);
    else if (!cJSON_IsObject(root))
        rc = nst_error_set(err, NST_EINVAL, "params", "params must be a JSON object");
    else
        rc = apply_object(p, root, lim, err);
    cJSON_Delete(root);
    return rc;
}

int nst_params_set(nst_params *p, const char *key, const char *value, const nst_limits *lim,
                   nst_error *err)
{
    const param_row *r = row_find(key);
    if (!r) return unknown_key_error(key ? key : "", err);
    cJSON *obj = cJSON_CreateObject();
    cJSON *item = kinds[r->kind].from_text(value);
    if (!obj || !item || !cJSON_AddItemToObject(obj, r->name, item)) {
        cJSON_Delete(obj);
        cJSON_Delete(item);
        return nst_error_set(err, NST_ENOMEM, r->name, "out of memory");
    }
    int rc = apply_object(p, obj, lim, err);
    cJSON_Delete(obj);
    return rc;
}

int nst_params_check_styles(const nst_params *p, int n_styles, nst_error *err)
{
    if (n_styles < 1 || n_styles > NST_MAX_STYLES)
        return nst_error_set(err, NST_EINVAL, "style",
                             "between 1 and %d style images are needed (got %d)",
                             NST_MAX_STYLES, n_styles);
    if (p->n_style_blend_weights > 0 && p->n_style_blend_weights != n_styles)
        return nst_error_set(err, NST_EINVAL, "style_blend_weights",
                             "style_blend_weights has %d values but %d style images were given",
                             p->n_style_blend_weights, n_styles);
    return NST_OK;
}

char *nst_params_usage(const nst_params *defaults)
{
    nst_params p;
    if (!defaults) nst_params_default(&p, NULL);
    draft d = draft_from(defaults ? defaults : &p);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    int rc = 0;
    for (int i = 0; rc == 0 && i < N_ROWS; i++) rc = put_help(f, &rows[i], &d);
    if (fclose(f) != 0 || rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

char *nst_params_to_json(const nst_params *p)
{
    draft d = draft_from(p);
    cJSON *obj = cJSON_CreateObject();
    for (int i = 0; obj && i < N_ROWS; i++) {
        cJSON *v = kinds[rows[i].kind].emit(&rows[i], &d);
        if (!v || !cJSON_AddItemToObject(obj, rows[i].name, v)) {
            cJSON_Delete(v);
            cJSON_Delete(obj);
            obj = NULL;
        }
    }
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    return text;
}
