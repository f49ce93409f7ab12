/*
 * optim.c — the two optimisers of optim.h over a flat float vector x of n
 * elements: L-BFGS (two-loop recursion, Armijo backtracking that never
 * accepts a higher loss) and Adam (with bias correction).
 *
 * What it is: steppers that own all their memory (allocated once in
 * *_create; a step never allocates) and call the objective only from
 * nst_lbfgs_step. Vectors are float; every inner product is accumulated in
 * double. L-BFGS's passes over its history (a hundred per iteration at 50
 * pairs, n reaching a few million pixels) run on the objective's pool
 * (vec_pass), each update fused with the inner product that follows it.
 *
 * What it is not: a general-purpose optimisation library. There is no
 * strong-Wolfe line search (each objective call is a full VGG19 forward and
 * backward pass, so an accepted step 1 must cost exactly one evaluation, and
 * a rejected trial point costs only the forward pass of its value), no
 * bound constraints, no stopping rule beyond "no progress is possible" (the
 * caller decides how many iterations to run), and no thread safety: one
 * stepper belongs to one job.
 *
 * Failure modes: nst_lbfgs_step returns 0 and leaves x, *f and g as they
 * were when the gradient is zero or non-finite, when the loss is
 * non-finite, or when neither the L-BFGS direction nor a short steepest
 * descent step lowers the loss in float precision.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "optim.h"

/* ------------------------------------------------------------------ tuning */

#define LBFGS_C1 1e-4           /* Armijo sufficient-decrease constant */
#define LBFGS_MAX_EVALS 20      /* objective evaluations per line search */
#define LBFGS_CURVATURE_EPS 1e-10 /* keep a pair only if sᵀy > eps·yᵀy */
#define LBFGS_RETRY_SCALE 1e-3  /* the retry's first step, relative to the first one */

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8

/* ------------------------------------------------------------------ vectors */

/* One pass over n-vectors: y = b·y + a·x (x NULL: y = b·y; b = 0 sets y
 * whatever it held), then, with u, the inner product u·w, w being the
 * updated y (or, with no y, a vector only read).
 * On the pool in VEC_PIECES fixed pieces of n, each summing its part of
 * the product in double on its own, the parts then added in piece order:
 * the result does not depend on the threads. */
#define VEC_PIECES 16

typedef struct {
    float *y;
    const float *x, *u, *w;
    float a, b;
    size_t grain;
    double part[VEC_PIECES];
} vec_pass;

static void vec_pass_part(void *p, int thread, size_t lo, size_t hi)
{
    vec_pass *v = p;
    float *y = v->y, a = v->a, b = v->b;
    const float *x = v->x, *u = v->u, *w = v->w;
    (void)thread;
    if (y) {
        if (b == 0.0f)
            for (size_t i = lo; i < hi; i++) y[i] = a * x[i];
        else if (x)
            for (size_t i = lo; i < hi; i++) y[i] = b * y[i] + a * x[i];
        else if (b != 1.0f)
            for (size_t i = lo; i < hi; i++) y[i] = b * y[i];
    }
    double acc[4] = {0, 0, 0, 0}; /* four sums in lanes, not one chain */
    if (u) {
        size_t i = lo;
        for (; i + 4 <= hi; i += 4)
            for (int j = 0; j < 4; j++) acc[j] += (double)u[i + j] * w[i + j];
        for (; i < hi; i++) acc[0] += (double)u[i] * w[i];
    }
    v->part[lo / v->grain] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

static double vec_pass_run(nst_pool *pool, size_t n, vec_pass *v)
{
    v->grain = (n + VEC_PIECES - 1) / VEC_PIECES;
    nst_pool_for(pool, n, v->grain, vec_pass_part, v);
    double sum = 0.0;
    for (size_t k = 0; k * v->grain < n; k++) sum += v->part[k];
    return sum;
}

static double vec_run(nst_pool *pool, size_t n, float *y, float b, float a, const float *x,
                      const float *u)
{
    vec_pass v = {.y = y, .x = x, .u = u, .w = y, .a = a, .b = b};
    return vec_pass_run(pool, n, &v);
}

/* Inner product of two float n-vectors, accumulated in double so that a
 * few million terms do not lose the small differences L-BFGS relies on. */
static double vec_dot(nst_pool *pool, size_t n, const float *a, const float *b)
{
    vec_pass v = {.u = a, .w = b};
    return vec_pass_run(pool, n, &v);
}

/* ------------------------------------------------------------------ L-BFGS */

struct nst_lbfgs {
    size_t n;
    nst_pool *pool; /* the vector passes' threads, or NULL */
    int m;          /* history: number of (s, y) slots */
    int head;       /* slot the next accepted pair goes into */
    int count;      /* pairs held, <= m; the newest is at head - 1 */
    double gamma;   /* initial Hessian scale sᵀy / yᵀy of the newest pair */
    float **s;      /* m slots: s_k = x_{k+1} - x_k, n floats each */
    float **y;      /* m slots: y_k = g_{k+1} - g_k, n floats each */
    double *rho;    /* m: 1 / s_kᵀy_k */
    double *alpha;  /* m: scratch for the first loop of the recursion */
    float *d;       /* n: search direction */
    float *x0;      /* n: x at the start of the step, then s of the new pair */
    float *g0;      /* n: g at the start of the step, then y of the new pair */
    float *block;   /* the one allocation all the float vectors live in */
};

/* All memory up front: the (2·history + 3)·n floats in one block, so that a
 * step never allocates and accepting a pair is a pointer swap. */
nst_lbfgs *nst_lbfgs_create(size_t n, int history, nst_pool *pool)
{
    if (n == 0 || n > INT_MAX || history < 1) return NULL;
    size_t vectors = 2 * (size_t)history + 3;
    if (n > SIZE_MAX / sizeof(float) / vectors) return NULL;

    nst_lbfgs *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->n = n;
    s->pool = pool;
    s->m = history;
    s->s = calloc((size_t)history, sizeof *s->s);
    s->y = calloc((size_t)history, sizeof *s->y);
    s->rho = calloc((size_t)history, sizeof *s->rho);
    s->alpha = calloc((size_t)history, sizeof *s->alpha);
    s->block = nst_big_alloc(vectors * n * sizeof(float));
    if (!s->s || !s->y || !s->rho || !s->alpha || !s->block) {
        nst_lbfgs_free(s);
        return NULL;
    }
    float *p = s->block;
    for (int i = 0; i < history; i++) {
        s->s[i] = p, p += n;
        s->y[i] = p, p += n;
    }
    s->d = p, p += n;
    s->x0 = p, p += n;
    s->g0 = p;
    s->gamma = 1.0;
    return s;
}

void nst_lbfgs_free(nst_lbfgs *s)
{
    if (!s) return;
    free(s->block);
    free(s->s);
    free(s->y);
    free(s->rho);
    free(s->alpha);
    free(s);
}

/* Forget all curvature pairs: the model of the Hessian has proved wrong
 * (no descent, or a failed line search), so start again from steepest
 * descent. */
static void lbfgs_reset(nst_lbfgs *s)
{
    s->head = 0;
    s->count = 0;
    s->gamma = 1.0;
}

/* Slot of the k-th newest pair. */
static int lbfgs_slot(const nst_lbfgs *s, int k) { return (s->head - 1 - k + 2 * s->m) % s->m; }

/* d = -H·g by the two-loop recursion over the ring (at least one pair),
 * newest pair first, with H0 = γ·I. g is (n), d will be (n). Each pass
 * updates d and takes the inner product the next update needs. */
static void lbfgs_direction(nst_lbfgs *s, const float *g)
{
    size_t n = s->n;
    float *d = s->d;
    int last = s->count - 1;
    /* d = -g, and s·d for the newest pair */
    double dot = vec_run(s->pool, n, d, 0.0f, -1.0f, g, s->s[lbfgs_slot(s, 0)]);
    for (int k = 0; k <= last; k++) {
        int i = lbfgs_slot(s, k);
        s->alpha[i] = s->rho[i] * dot;
        /* d -= α·y; after the oldest pair d = γ·(d − α·y), and the second
         * loop's first product, with the oldest y */
        float b = k == last ? (float)s->gamma : 1.0f;
        const float *u = k < last ? s->s[lbfgs_slot(s, k + 1)] : s->y[i];
        dot = vec_run(s->pool, n, d, b, (float)(-s->alpha[i] * b), s->y[i], u);
    }
    for (int k = last; k >= 0; k--) {
        int i = lbfgs_slot(s, k);
        double beta = s->rho[i] * dot;
        const float *u = k > 0 ? s->y[lbfgs_slot(s, k - 1)] : NULL;
        dot = vec_run(s->pool, n, d, 1.0f, (float)(s->alpha[i] - beta), s->s[i], u);
    }
}

/* d = -g; returns gᵀd. The fallback whenever the quasi-Newton direction
 * cannot be trusted. */
static double lbfgs_steepest(nst_lbfgs *s, const float *g)
{
    return vec_run(s->pool, s->n, s->d, 0.0f, -1.0f, g, g);
}

/* x = x0 + t·d; returns whether any element moved, so that a step too small
 * to change x in float precision is never sent to the objective. */
static int lbfgs_move(nst_lbfgs *s, float *x, double t)
{
    const float *x0 = s->x0, *d = s->d;
    float tf = (float)t;
    int moved = 0;
    for (size_t i = 0; i < s->n; i++) {
        x[i] = x0[i] + tf * d[i];
        moved |= x[i] != x0[i];
    }
    return moved;
}

/* Backtracking along d from step *tp: accept the first point that
 * satisfies Armijo and is strictly lower than f0, and only then compute its
 * gradient into g; otherwise shrink the step by safeguarded quadratic
 * interpolation. x holds the last trial point on return; returns 1 when a
 * point was accepted (its loss in *f1), 0 otherwise, with *tp the next,
 * untried step. */
static int lbfgs_search(nst_lbfgs *s, float *x, float *g, double f0, double dg0, double *tp,
                        const nst_objective_fns *fn, double *f1, int *evals)
{
    double t = *tp;
    for (int k = 0; k < LBFGS_MAX_EVALS; k++) {
        if (!lbfgs_move(s, x, t)) break;
        double f = fn->value(x, fn->user);
        (*evals)++;
        if (isfinite(f) && f < f0 && f <= f0 + LBFGS_C1 * t * dg0) {
            fn->gradient(x, g, fn->user);
            *f1 = f;
            return 1;
        }
        double next = 0.1 * t;
        if (isfinite(f)) {
            /* minimiser of the parabola through f0, its slope dg0, and f */
            double curv = f - f0 - dg0 * t;
            if (curv > 0) next = -dg0 * t * t / (2.0 * curv);
            next = fmin(fmax(next, 0.1 * t), 0.5 * t);
        }
        t = next;
    }
    *tp = t;
    return 0;
}

/* Turn the accepted step into a curvature pair: s = x - x0 and y = g - g0
 * are computed in the x0 and g0 buffers, and kept by swapping those buffers
 * with the ring's next slot; a pair with too little curvature is dropped
 * without disturbing the older ones. */
static void lbfgs_remember(nst_lbfgs *s, const float *x, const float *g)
{
    size_t n = s->n;
    float *sv = s->x0, *yv = s->g0;
    vec_run(s->pool, n, sv, -1.0f, 1.0f, x, NULL);          /* s = x − x0 */
    double sy = vec_run(s->pool, n, yv, -1.0f, 1.0f, g, sv); /* y = g − g0, sᵀy */
    double yy = vec_dot(s->pool, n, yv, yv);
    if (!(sy > LBFGS_CURVATURE_EPS * yy) || !(yy > 0) || !isfinite(sy)) return;

    int slot = s->head;
    s->x0 = s->s[slot], s->s[slot] = sv;
    s->g0 = s->y[slot], s->y[slot] = yv;
    s->rho[slot] = 1.0 / sy;
    s->gamma = sy / yy;
    s->head = (slot + 1) % s->m;
    if (s->count < s->m) s->count++;
}

/* One iteration: direction, line search from step 1 (a safe steepest
 * descent step while there is no history), one retry along -g from a short
 * step after a failure (below the steps already tried when the failed
 * search was itself steepest descent), then the new pair. */
int nst_lbfgs_step(nst_lbfgs *s, float *x, double *f, float *g, const nst_objective_fns *fn)
{
    size_t n = s->n;
    double f0 = *f;
    double gg = vec_dot(s->pool, n, g, g);
    if (!isfinite(f0) || !isfinite(gg) || gg == 0.0) return 0;
    /* the first step moves x by at most unit Euclidean length */
    double t_steep = fmin(1.0, 1.0 / sqrt(gg));

    memcpy(s->x0, x, n * sizeof *x);
    memcpy(s->g0, g, n * sizeof *g);

    double dg0 = 0.0, t = 1.0;
    int steep = s->count == 0;
    if (!steep) {
        lbfgs_direction(s, g);
        dg0 = vec_dot(s->pool, n, g, s->d);
        steep = !(dg0 < 0.0) || !isfinite(dg0);
    }
    if (steep) {
        lbfgs_reset(s);
        dg0 = lbfgs_steepest(s, g);
        t = t_steep;
    }

    int evals = 0;
    double f1 = f0;
    if (!lbfgs_search(s, x, g, f0, dg0, &t, fn, &f1, &evals)) {
        double retry = LBFGS_RETRY_SCALE * t_steep;
        if (steep) retry = fmin(retry, t);
        lbfgs_reset(s);
        dg0 = lbfgs_steepest(s, g);
        if (!lbfgs_search(s, x, g, f0, dg0, &retry, fn, &f1, &evals)) {
            memcpy(x, s->x0, n * sizeof *x); /* g is untouched: no point was accepted */
            return 0;
        }
    }
    *f = f1;
    lbfgs_remember(s, x, g);
    return evals;
}

/* ------------------------------------------------------------------ Adam */

struct nst_adam {
    size_t n;
    double lr;
    long t;        /* steps taken */
    double b1t;    /* β1^t */
    double b2t;    /* β2^t */
    float *m;      /* n: first moment */
    float *v;      /* n: second moment */
};

/* Moments allocated once and zeroed, as the bias correction assumes. */
nst_adam *nst_adam_create(size_t n, double learning_rate)
{
    if (n == 0 || n > SIZE_MAX / (2 * sizeof(float)) || !(learning_rate > 0)) return NULL;
    nst_adam *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->m = calloc(2 * n, sizeof(float));
    if (!s->m) {
        free(s);
        return NULL;
    }
    s->v = s->m + n;
    s->n = n;
    s->lr = learning_rate;
    s->b1t = 1.0;
    s->b2t = 1.0;
    return s;
}

void nst_adam_free(nst_adam *s)
{
    if (!s) return;
    free(s->m);
    free(s);
}

/* Standard Adam; the bias corrections are folded into one step size and one
 * epsilon (exactly equivalent to m̂/(√v̂ + ε)), so the update is a single
 * pass over n with no per-element division by the corrections. x is (n),
 * g is (n). */
void nst_adam_step(nst_adam *s, float *x, const float *g)
{
    s->t++;
    s->b1t *= ADAM_BETA1;
    s->b2t *= ADAM_BETA2;
    double c2 = sqrt(1.0 - s->b2t);
    float step = (float)(s->lr * c2 / (1.0 - s->b1t));
    float eps = (float)(ADAM_EPS * c2);
    const float b1 = (float)ADAM_BETA1, b2 = (float)ADAM_BETA2;
    float *m = s->m, *v = s->v;
    for (size_t i = 0; i < s->n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        x[i] -= step * m[i] / (sqrtf(v[i]) + eps);
    }
}
