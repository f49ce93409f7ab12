/*
 * test_reference.c — libnst's losses and image gradient against PyTorch.
 *
 * tests/reference/reference.json was written once by
 * tests/reference/make_reference.py from the embedded vgg19-random weights;
 * this test recomputes each case (max pooling, average pooling, a two-style
 * blend with several content layers, two styles each with its own mask,
 * a masked and an unmasked style with a content mask) and requires
 * agreement within 1e-4
 * relative: each loss relative to itself, the gradient relative to its
 * largest element. It prints the worst differences.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "objective.h"
#include "test.h"
#include "testimg.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc(n + 1);
    if (fread(s, 1, n, f) != (size_t)n) n = 0;
    s[n] = 0;
    fclose(f);
    return s;
}

static void check_case(const nst_model *m, const cJSON *c)
{
    const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
    int w = cJSON_GetObjectItem(c, "width")->valueint, h = cJSON_GetObjectItem(c, "height")->valueint;
    char *pj = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "params"));
    nst_params p;
    nst_error e = {0};
    nst_params_default(&p, m);
    CHECK(nst_params_parse(&p, pj, strlen(pj), NULL, &e) == 0, "%s: params: %s", name, e.message);
    free(pj);

    const cJSON *st = cJSON_GetObjectItem(c, "styles");
    const cJSON *sm = cJSON_GetObjectItem(c, "style_masks"), *cm = cJSON_GetObjectItem(c, "content_mask");
    int ns = cJSON_GetArraySize(st);
    nst_image content, x, styles[2], mask_img[3] = {{0}};
    nst_masks masks = {.content = NULL};
    testimg_make(&content, "content", w, h);
    testimg_make(&x, "x", w, h);
    for (int k = 0; k < ns; k++) {
        testimg_make(&styles[k], cJSON_GetArrayItem(st, k)->valuestring, w, h);
        const cJSON *mk = cJSON_GetArrayItem(sm, k);
        if (cJSON_IsString(mk)) {
            testimg_make(&mask_img[k], mk->valuestring, w, h);
            masks.style[k] = &mask_img[k];
        }
    }
    if (cJSON_IsString(cm)) {
        testimg_make(&mask_img[2], cm->valuestring, w, h);
        masks.content = &mask_img[2];
    }

    nst_objective *o = NULL;
    CHECK(nst_objective_create(m, &p, &content, styles, ns, sm || cm ? &masks : NULL, 0, &o, &e) == 0,
          "%s: %s", name, e.message);
    if (o) {
        float *g = malloc(sizeof(float) * 3 * w * h);
        nst_losses parts;
        nst_objective_value(o, x.data, &parts);
        nst_objective_gradient(o, x.data, g);
        const cJSON *ref = cJSON_GetObjectItem(c, "loss");
        const char *keys[4] = {"total", "content", "style", "tv"};
        double mine[4] = {parts.total, parts.content, parts.style, parts.tv};
        double worst_loss = 0;
        for (int i = 0; i < 4; i++) {
            double r = cJSON_GetObjectItem(ref, keys[i])->valuedouble;
            double d = fabs(mine[i] - r) / fmax(fabs(r), 1e-30);
            if (d > worst_loss) worst_loss = d;
            CHECK(d <= 1e-4, "%s: loss %s = %.9g, reference %.9g (rel %.2e)", name, keys[i], mine[i], r, d);
        }
        const cJSON *rg = cJSON_GetObjectItem(c, "grad");
        CHECK(cJSON_GetArraySize(rg) == 3 * w * h, "%s: gradient size", name);
        double gmax = 0, worst = 0;
        for (int i = 0; i < 3 * w * h; i++) gmax = fmax(gmax, fabs(cJSON_GetArrayItem(rg, i)->valuedouble));
        int i = 0;
        for (const cJSON *v = rg->child; v && i < 3 * w * h; v = v->next, i++)
            worst = fmax(worst, fabs(g[i] - v->valuedouble) / gmax);
        CHECK(worst <= 1e-4, "%s: gradient differs by %.2e of its largest element", name, worst);
        printf("  %-12s worst loss rel diff %.2e, worst gradient diff %.2e (of max |g| %.3g)\n",
               name, worst_loss, worst, gmax);
        free(g);
        nst_objective_free(o);
    }
    nst_image_free(&content);
    nst_image_free(&x);
    for (int k = 0; k < ns; k++) nst_image_free(&styles[k]);
    for (int k = 0; k < 3; k++) nst_image_free(&mask_img[k]);
}

int main(void)
{
    const char *dir = getenv("NST_TEST_FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/reference.json", dir ? dir : "tests/reference");
    char *text = slurp(path);
    CHECK(text != NULL, "cannot read %s", path);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    CHECK(root != NULL, "%s is not JSON", path);
    nst_model *m = NULL;
    nst_error e;
    CHECK(nst_model_random(&m, &e) == 0, "%s", e.message);
    const cJSON *c;
    int n = 0;
    if (root && m) cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
            check_case(m, c);
            n++;
        }
    CHECK(n >= 5, "expected at least 5 reference cases, found %d", n);
    printf("%d reference cases\n", n);
    cJSON_Delete(root);
    free(text);
    nst_model_free(m);
    return TEST_EXIT();
}
