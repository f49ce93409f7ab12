/*
 * nst.c — run one style transfer from the shell.
 *
 *   nst --content C.jpg --style S.jpg [--style S2.jpg …] --output OUT.png
 *       [--style-mask M.png …] [--content-mask K.png]
 *       [--params P.json] [--model M.safetensors] [--save-every N]
 *       [--threads N] [--quiet] [--<param> VALUE …]
 *   nst --export-model OUT.safetensors [--model M.safetensors]
 *   nst --check-model M.safetensors      (load, validate, describe)
 *
 * Every transfer parameter of the HTTP API is also a flag: the JSON key with
 * '_' written as '-' (--style-layers conv1_1,conv2_1 --beta 1e8 --init noise).
 * Flags go through the engine's one parameter validator, after the --params
 * file, so the same names, ranges and messages apply as over HTTP.
 * Exit status: 0 success, 1 failure while running, 2 bad input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nst.h"

/* Exit statuses (see the top of this file). */
enum { STATUS_OK = 0, STATUS_FAILED = 1, STATUS_BAD_INPUT = 2 };

#define MAX_INPUT_PIXELS 100000000L /* largest content or style image, w*h */
#define MAX_PARAM_FLAGS 64          /* --PARAM VALUE pairs on one command line */
#define PARAM_KEY_MAX 64            /* bytes of a --PARAM name kept (longer: unknown) */

typedef struct {
    const char *content, *output, *params_file, *model, *export_model, *check_model;
    const char *styles[NST_MAX_STYLES];
    int n_styles;
    const char *style_masks[NST_MAX_STYLES]; /* "" for a style without one */
    int n_style_masks;
    const char *content_mask;
    int save_every, threads, quiet;
    long max_memory_mib;      /* --max-memory: the transfer's memory limit; 0 none */
    /* parameter flags, applied after the params file: key, value pairs */
    const char *keys[MAX_PARAM_FLAGS], *values[MAX_PARAM_FLAGS];
    int n_params;
} cli_args;

typedef struct {
    const cli_args *args;
    int last_iteration;
    double last_elapsed;
} cli_progress;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: nst --content IMAGE --style IMAGE [--style IMAGE …] --output OUT.png\n"
            "           [--style-mask MASK …] [--content-mask MASK]\n"
            "           [--params PARAMS.json] [--model MODEL.safetensors] [--save-every N]\n"
            "           [--threads N] [--max-memory MIB] [--quiet] [--PARAM VALUE …]\n"
            "       nst --export-model OUT.safetensors [--model MODEL.safetensors]\n"
            "       nst --check-model MODEL.safetensors\n\n"
            "Without --model the embedded vgg19-random model is used. --max-memory refuses\n"
            "a transfer estimated above MIB mebibytes and lets L-BFGS keep as many\n"
            "correction pairs as fit below it (without it, 256 MiB of pairs at most).\n\n"
            "Masks are greyscale images of any size (white: the style applies, black: not).\n"
            "--style-mask is given once per --style, in the same order (\"\" for a style\n"
            "without one) or not at all; --content-mask marks the region kept as the photo.\n\n"
            "PARAM is any key of the params JSON with '_' written '-'; flags apply after the\n"
            "--params file. The defaults below are the paper's: a model's recommended\n"
            "alpha, beta, tv_weight and pooling replace them (nst --check-model shows them).\n\n"
            "Parameters:\n");
    char *params = nst_params_usage(NULL);
    fputs(params ? params : "  (out of memory)\n", f);
    free(params);
}

static int die(int status, const char *what, const nst_error *e)
{
    if (e && e->field[0])
        fprintf(stderr, "nst: %s: %s (%s)\n", what, e->message, e->field);
    else
        fprintf(stderr, "nst: %s: %s\n", what, e ? e->message : "");
    return status;
}

/* Parse argv into a; 0, or STATUS_BAD_INPUT after printing the problem. */
static int parse_args(int argc, char **argv, cli_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            exit(STATUS_OK);
        }
        if (!strcmp(arg, "--quiet")) {
            a->quiet = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "nst: %s: expected --flag VALUE\n", arg);
            usage(stderr);
            return STATUS_BAD_INPUT;
        }
        const char *v = argv[++i];
        const char *name = arg + 2;
        if (!strcmp(name, "content")) a->content = v;
        else if (!strcmp(name, "output")) a->output = v;
        else if (!strcmp(name, "params")) a->params_file = v;
        else if (!strcmp(name, "model")) a->model = v;
        else if (!strcmp(name, "export-model")) a->export_model = v;
        else if (!strcmp(name, "check-model")) a->model = a->check_model = v;
        else if (!strcmp(name, "save-every")) a->save_every = atoi(v);
        else if (!strcmp(name, "threads")) a->threads = atoi(v);
        else if (!strcmp(name, "max-memory")) {
            char *end;
            a->max_memory_mib = strtol(v, &end, 10);
            if (*end || a->max_memory_mib < 1 || a->max_memory_mib > (1L << 30)) {
                fprintf(stderr, "nst: --max-memory %s: expected mebibytes, 1 or more\n", v);
                return STATUS_BAD_INPUT;
            }
        }
        else if (!strcmp(name, "content-mask")) a->content_mask = v;
        else if (!strcmp(name, "style-mask")) {
            if (a->n_style_masks == NST_MAX_STYLES) {
                fprintf(stderr, "nst: at most %d --style-mask images\n", NST_MAX_STYLES);
                return STATUS_BAD_INPUT;
            }
            a->style_masks[a->n_style_masks++] = v;
        } else if (!strcmp(name, "style")) {
            if (a->n_styles == NST_MAX_STYLES) {
                fprintf(stderr, "nst: at most %d --style images\n", NST_MAX_STYLES);
                return STATUS_BAD_INPUT;
            }
            a->styles[a->n_styles++] = v;
        } else if (a->n_params < MAX_PARAM_FLAGS) {
            a->keys[a->n_params] = name;
            a->values[a->n_params++] = v;
        } else {
            fprintf(stderr, "nst: at most %d parameter flags\n", MAX_PARAM_FLAGS);
            return STATUS_BAD_INPUT;
        }
    }
    if (a->export_model || a->check_model) return 0;
    if (!a->content || !a->n_styles || !a->output) {
        fprintf(stderr, "nst: --content, --style and --output are required\n");
        usage(stderr);
        return STATUS_BAD_INPUT;
    }
    if (a->n_style_masks && a->n_style_masks != a->n_styles) {
        fprintf(stderr, "nst: %d --style-mask for %d --style: give one per style image, in the "
                "same order (\"\" for a style without a mask), or none\n", a->n_style_masks,
                a->n_styles);
        return STATUS_BAD_INPUT;
    }
    return 0;
}

/* Defaults of the model, then the params file, then the flags. */
static int build_params(const cli_args *a, const nst_model *m, nst_params *p, nst_error *e)
{
    nst_params_default(p, m);
    if (a->params_file) {
        size_t len;
        unsigned char *json;
        int rc = nst_file_read(a->params_file, 0, &json, &len);
        if (rc) return nst_error_set(e, NST_EIO, "params", "cannot read %s: %s", a->params_file,
                                     strerror(-rc));
        rc = nst_params_parse(p, (const char *)json, len, NULL, e);
        free(json);
        if (rc) return rc;
    }
    for (int i = 0; i < a->n_params; i++) {
        char key[PARAM_KEY_MAX];
        snprintf(key, sizeof key, "%s", a->keys[i]);
        for (char *c = key; *c; c++)
            if (*c == '-') *c = '_';
        int rc = nst_params_set(p, key, a->values[i], NULL, e);
        if (rc) return rc;
    }
    if (a->save_every > 0) p->preview_every = a->save_every;
    p->memory_limit = (size_t)a->max_memory_mib << 20;
    return nst_params_check_styles(p, a->n_styles, e);
}

static void on_progress(const nst_progress *pr, void *user)
{
    cli_progress *cp = user;
    double dt = (pr->elapsed_s - cp->last_elapsed) / (pr->iteration - cp->last_iteration);
    cp->last_iteration = pr->iteration;
    cp->last_elapsed = pr->elapsed_s;
    if (!cp->args->quiet)
        printf("iter %4d/%d  total %.6e  content %.6e  style %.6e  tv %.3e  %.3f s/iter  "
               "evals %d grads %d\n", pr->iteration, pr->iterations, pr->loss_total,
               pr->loss_content, pr->loss_style, pr->loss_tv, dt, pr->evaluations, pr->gradients);
    if (pr->stopped && !cp->args->quiet)
        printf("stopped after %d iterations: %s\n", pr->iteration, nst_stop_name(pr->stopped));
    fflush(stdout);
    if (pr->image && cp->args->save_every > 0 && !pr->stopped) {
        nst_error e;
        if (nst_image_save_png(pr->image, cp->args->output, &e))
            die(STATUS_OK, "saving the intermediate image", &e); /* a warning */
    }
}

int main(int argc, char **argv)
{
    cli_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;

    nst_error e = {0};
    nst_model *m = NULL;
    rc = a.model ? nst_model_load(a.model, &m, &e) : nst_model_random(&m, &e);
    if (rc) return die(STATUS_BAD_INPUT, a.model ? a.model : "vgg19-random", &e);
    if (a.check_model) {
        const nst_model_defaults *d = nst_model_get_defaults(m);
        printf("%s: VGG19 model \"%s\", %s; defaults: pooling %s, alpha %g, beta %g, "
               "tv_weight %g\n", a.check_model, nst_model_name(m),
               nst_model_pretrained(m) ? "pretrained" : "not pretrained",
               nst_pooling_name(d->pooling), d->alpha, d->beta, d->tv_weight);
        nst_model_free(m);
        return STATUS_OK;
    }
    if (a.export_model) {
        rc = nst_model_export(m, a.export_model, &e);
        nst_model_free(m);
        return rc ? die(STATUS_FAILED, a.export_model, &e) : STATUS_OK;
    }

    nst_params p;
    nst_image content = {0}, styles[NST_MAX_STYLES] = {{0}}, out = {0};
    nst_image mask_img[NST_MAX_STYLES + 1] = {{0}}; /* style k's, then the content's */
    nst_masks masks = {.content = NULL};
    int masked = 0;
    int status = STATUS_OK;
    if ((rc = build_params(&a, m, &p, &e))) {
        status = die(STATUS_BAD_INPUT, "invalid parameters", &e);
        goto done;
    }
    if ((rc = nst_image_load(a.content, MAX_INPUT_PIXELS, &content, &e))) {
        status = die(STATUS_BAD_INPUT, a.content, &e);
        goto done;
    }
    for (int k = 0; k < a.n_styles; k++)
        if ((rc = nst_image_load(a.styles[k], MAX_INPUT_PIXELS, &styles[k], &e))) {
            status = die(STATUS_BAD_INPUT, a.styles[k], &e);
            goto done;
        }
    for (int k = 0; k <= a.n_styles; k++) {
        const char *path = k < a.n_styles ? (k < a.n_style_masks ? a.style_masks[k] : "")
                                          : a.content_mask;
        if (!path || !path[0]) continue;
        if ((rc = nst_image_load(path, MAX_INPUT_PIXELS, &mask_img[k], &e))) {
            status = die(STATUS_BAD_INPUT, path, &e);
            goto done;
        }
        if (k < a.n_styles) masks.style[k] = &mask_img[k];
        else masks.content = &mask_img[k];
        masked = 1;
    }
    if (!a.quiet) fprintf(stderr, "nst: model %s%s\n", nst_model_name(m),
                          nst_model_pretrained(m) ? "" : " (random weights, not pretrained)");
    int wh[2 * NST_MAX_STYLES], mask_wh[2 * (NST_MAX_STYLES + 1)];
    const int *mwh = nst_transfer_sizes(styles, a.n_styles, masked ? &masks : NULL, wh, mask_wh);
    size_t est = nst_transfer_memory_masked(m, &p, content.w, content.h, wh, a.n_styles, mwh);
    if (p.memory_limit && est > p.memory_limit) {
        fprintf(stderr, "nst: the transfer needs an estimated %.1f MiB, more than --max-memory "
                "%ld\n", est / 1048576.0, a.max_memory_mib);
        status = STATUS_BAD_INPUT;
        goto done;
    }
    if (!a.quiet)
        fprintf(stderr, "nst: memory estimate %.1f MiB at most for the transfer (the model's "
                "weights come on top)\n", est / 1048576.0);
    int tile = nst_transfer_tile(&p, content.w, content.h, wh, a.n_styles, mwh);
    if (!a.quiet && tile)
        fprintf(stderr, "nst: evaluated on %d px tiles to fit --max-memory %ld\n", tile,
                a.max_memory_mib);
    cli_progress cp = {&a, 0, 0};
    nst_callbacks cb = {.progress = on_progress, .user = &cp, .threads = a.threads};
    if ((rc = nst_transfer_masked(m, &p, &content, styles, a.n_styles, masked ? &masks : NULL,
                                  &cb, &out, &e))) {
        status = die(STATUS_FAILED, "transfer failed", &e);
        goto done;
    }
    if ((rc = nst_image_save_png(&out, a.output, &e))) status = die(STATUS_FAILED, a.output, &e);
done:
    nst_image_free(&out);
    nst_image_free(&content);
    for (int k = 0; k < a.n_styles; k++) nst_image_free(&styles[k]);
    for (int k = 0; k <= NST_MAX_STYLES; k++) nst_image_free(&mask_img[k]);
    nst_model_free(m);
    return status;
}
