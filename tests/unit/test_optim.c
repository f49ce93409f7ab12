/*
 * test_optim.c — the optimisers of core/optim.h on functions with known
 * minima: an ill-conditioned convex quadratic (diagonal 1…1000) and the
 * extended Rosenbrock function (n = 2 and n = 100).
 *
 * What it checks: L-BFGS converges within its budget, the loss never rises
 * from one iteration to the next, a step that makes no progress leaves x,
 * f and g untouched, an accepted unit step costs one evaluation, a step's
 * only gradient is its accepted point's (a rejected trial costs its value
 * alone), taken at the x of the latest value, and the directions match an
 * independent two-loop recursion once the history ring has wrapped many
 * times; Adam converges on the quadratic. What it does not check: anything
 * about images or VGG19 — the objective here is plain arithmetic. Iteration
 * counts are printed so a regression in speed shows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"
#include "test.h"

/* ------------------------------------------------------------------ objectives */

/* f(x) = ½ Σ d_i (x_i - c_i)², d spread evenly over [1, dmax]. */
typedef struct {
    size_t n;
    double *d;
    float *c;
} quadratic;

static quadratic quadratic_make(size_t n, double dmax)
{
    quadratic q = {n, malloc(n * sizeof(double)), malloc(n * sizeof(float))};
    for (size_t i = 0; i < n; i++) {
        q.d[i] = n > 1 ? 1.0 + (dmax - 1.0) * (double)i / (double)(n - 1) : 1.0;
        q.c[i] = (float)(1.5 * cos(0.37 * (double)i) + 0.25);
    }
    return q;
}

static void quadratic_free(quadratic *q)
{
    free(q->d);
    free(q->c);
}

static double quadratic_fn(const float *x, float *g, void *user)
{
    const quadratic *q = user;
    double f = 0.0;
    for (size_t i = 0; i < q->n; i++) {
        double e = (double)x[i] - q->c[i];
        f += 0.5 * q->d[i] * e * e;
        g[i] = (float)(q->d[i] * e);
    }
    return f;
}

/* Extended Rosenbrock: n/2 independent pairs, each
 * 100 (x_2k+1 - x_2k²)² + (1 - x_2k)²; the minimum is 0 at all ones. */
static double rosenbrock_fn(const float *x, float *g, void *user)
{
    size_t n = *(const size_t *)user;
    double f = 0.0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        double a = x[i], b = x[i + 1];
        double r = b - a * a, u = 1.0 - a;
        f += 100.0 * r * r + u * u;
        g[i] = (float)(-400.0 * r * a - 2.0 * u);
        g[i + 1] = (float)(200.0 * r);
    }
    return f;
}

/* Wraps an objective (f and ∇f together) as optim.h's two halves, counting
 * values and gradients, checking that each gradient is asked for at the x
 * of the latest value, and keeping the first point each step asks for (the
 * step-1 trial, which reveals the search direction). */
#define PROBE_MAX 10007 /* largest n of these tests */

typedef struct {
    double (*fn)(const float *x, float *g, void *user);
    void *inner;
    size_t n;
    int evals;       /* values, in total */
    int grads;       /* gradients, in total */
    int misplaced;   /* gradients asked for at another x than the latest value's */
    int step_calls;  /* values since the test last cleared it */
    float *first;    /* NULL, or n floats: the first x of the current step */
    int nan_calls;   /* return NaN for this many more values */
    int valued;      /* last holds the latest value's x */
    float last[PROBE_MAX];
    float scratch[PROBE_MAX]; /* the gradient a value computes and drops */
} probe;

static double probe_value(const float *x, void *user)
{
    probe *p = user;
    CHECK(p->n <= PROBE_MAX, "n = %zu is more than the probe holds", p->n);
    if (p->n > PROBE_MAX) return NAN;
    if (p->step_calls++ == 0 && p->first) memcpy(p->first, x, p->n * sizeof *x);
    p->evals++;
    memcpy(p->last, x, p->n * sizeof *x);
    p->valued = 1;
    double f = p->fn(x, p->scratch, p->inner);
    if (p->nan_calls > 0) {
        p->nan_calls--;
        return NAN;
    }
    return f;
}

static void probe_gradient(const float *x, float *g, void *user)
{
    probe *p = user;
    p->grads++;
    p->misplaced += !p->valued || memcmp(x, p->last, p->n * sizeof *x) != 0;
    p->fn(x, g, p->inner);
}

static nst_objective_fns probe_fns(probe *p)
{
    return (nst_objective_fns){probe_value, probe_gradient, p};
}

/* ------------------------------------------------------------------ driver */

typedef int (*done_fn)(const float *x, double f, void *ctx);

typedef struct {
    int iters;        /* steps that made progress */
    int evals;        /* objective evaluations, the initial one excluded */
    int single;       /* steps that took exactly one evaluation */
    int stalled;      /* the last step returned 0 */
    double f;
} run_stats;

/* Runs L-BFGS until done() or max_iter, checking after every step that the
 * loss fell (or, for a step returning 0, that nothing moved). */
static run_stats run_lbfgs(probe *p, float *x, int history, int max_iter, done_fn done,
                           void *ctx)
{
    size_t n = p->n;
    run_stats st = {0};
    float *g = malloc(n * sizeof *g), *xs = malloc(n * sizeof *xs), *gs = malloc(n * sizeof *gs);
    nst_lbfgs *s = nst_lbfgs_create(n, history, NULL);
    CHECK(s != NULL, "create(%zu, %d)", n, history);
    double f = p->fn(x, g, p->inner);
    nst_objective_fns fns = probe_fns(p);
    for (int k = 0; s && k < max_iter && !(done && done(x, f, ctx)); k++) {
        memcpy(xs, x, n * sizeof *x);
        memcpy(gs, g, n * sizeof *g);
        double f_before = f;
        int before = p->evals, grads_before = p->grads;
        int r = nst_lbfgs_step(s, x, &f, g, &fns);
        int used = p->evals - before, grads = p->grads - grads_before;
        CHECK(grads == (r > 0), "step returning %d took %d gradients", r, grads);
        if (r == 0) {
            CHECK(memcmp(x, xs, n * sizeof *x) == 0, "x changed by a step returning 0");
            CHECK(memcmp(g, gs, n * sizeof *g) == 0, "g changed by a step returning 0");
            CHECK(f == f_before, "f changed by a step returning 0");
            st.stalled = 1;
            break;
        }
        CHECK(r == used, "step returned %d but made %d evaluations", r, used);
        CHECK(f < f_before, "loss rose at iteration %d: %.17g -> %.17g", k, f_before, f);
        st.iters++;
        st.evals += used;
        st.single += used == 1;
    }
    st.f = f;
    CHECK(p->misplaced == 0, "%d gradients away from the latest value's x", p->misplaced);
    nst_lbfgs_free(s);
    free(g);
    free(xs);
    free(gs);
    return st;
}

static double max_err(const float *x, const float *c, size_t n)
{
    double e = 0.0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)x[i] - c[i]));
    return e;
}

/* Stops once every |x_i - x*_i| < tol, noting the loss after `mark` steps. */
typedef struct {
    const float *c;
    size_t n;
    double tol;
    int mark;
    int calls;
    double f_at_mark;
} near_target;

static int near_done(const float *x, double f, void *ctx)
{
    near_target *t = ctx;
    if (t->calls++ == t->mark) t->f_at_mark = f;
    return max_err(x, t->c, t->n) < t->tol;
}

static int below_done(const float *x, double f, void *ctx)
{
    return f < *(const double *)ctx;
}

/* ------------------------------------------------------------------ L-BFGS tests */

/* n = 1000, diagonal 1…1000 evenly spread, from x = 0 (|x - x*| up to 1.75).
 * Every x_i within 1e-5 of the minimum cannot take fewer than ~142
 * iterations here: that is what exact conjugate gradients, the optimal
 * Krylov method on a quadratic, needs for this spectrum. So the budget is
 * 300 iterations for 1e-5 in x, and after 100 iterations the loss must be
 * down by a factor 1e7. */
static void test_lbfgs_quadratic(void)
{
    size_t n = 1000;
    quadratic q = quadratic_make(n, 1000.0);
    probe p = {.fn = quadratic_fn, .inner = &q, .n = n};
    float *x = calloc(n, sizeof *x), *g = malloc(n * sizeof *g);
    double f0 = quadratic_fn(x, g, &q);
    near_target target = {.c = q.c, .n = n, .tol = 1e-5, .mark = 100, .f_at_mark = NAN};
    run_stats st = run_lbfgs(&p, x, 10, 300, near_done, &target);
    double err = max_err(x, q.c, n);
    printf("  quadratic n=%zu: %d iterations, %d evaluations (%d single), max |x - x*| = %.3g, "
           "f/f0 after 100 = %.3g\n",
           n, st.iters, st.evals, st.single, err, target.f_at_mark / f0);
    CHECK(err < 1e-5, "max |x - x*| = %.3g after %d iterations", err, st.iters);
    CHECK(target.f_at_mark < 1e-7 * f0, "f/f0 = %.3g after 100 iterations",
          target.f_at_mark / f0);
    CHECK(st.single * 10 >= st.iters * 9, "only %d of %d iterations took one evaluation",
          st.single, st.iters);
    free(x);
    free(g);
    quadratic_free(&q);
}

static void test_lbfgs_rosenbrock(size_t n)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = i % 2 ? 1.0f : -1.2f;
    probe p = {.fn = rosenbrock_fn, .inner = &n, .n = n};
    double goal = 1e-6;
    run_stats st = run_lbfgs(&p, x, 10, 2000, below_done, &goal);
    printf("  rosenbrock n=%zu: %d iterations, %d evaluations, f = %.3g\n", n, st.iters,
           st.evals, st.f);
    CHECK(st.f < goal, "n=%zu: f = %.3g after %d iterations", n, st.f, st.iters);
    free(x);
}

static void test_lbfgs_rosenbrock_2(void) { test_lbfgs_rosenbrock(2); }
static void test_lbfgs_rosenbrock_100(void) { test_lbfgs_rosenbrock(100); }

/* At an exact minimum (g = 0) a step does nothing and asks for nothing. */
static void test_lbfgs_at_minimum(void)
{
    size_t n = 100;
    quadratic q = quadratic_make(n, 1000.0);
    probe p = {.fn = quadratic_fn, .inner = &q, .n = n};
    float *x = malloc(n * sizeof *x), *g = malloc(n * sizeof *g);
    memcpy(x, q.c, n * sizeof *x);
    double f = quadratic_fn(x, g, &q);
    nst_lbfgs *s = nst_lbfgs_create(n, 5, NULL);
    nst_objective_fns fns = probe_fns(&p);
    int r = nst_lbfgs_step(s, x, &f, g, &fns);
    CHECK(r == 0, "step at the minimum returned %d", r);
    CHECK(p.evals == 0 && p.grads == 0, "%d values, %d gradients at the minimum", p.evals,
          p.grads);
    CHECK(memcmp(x, q.c, n * sizeof *x) == 0, "x moved away from the minimum");
    CHECK(f == 0.0, "f = %g", f);
    nst_lbfgs_free(s);
    free(x);
    free(g);
    quadratic_free(&q);
}

/* Run to float precision: the run must end with a step returning 0 (which
 * run_lbfgs checks leaves x, f, g alone), never with a rise in loss. */
static void test_lbfgs_runs_to_stall(void)
{
    size_t n = 200;
    quadratic q = quadratic_make(n, 1000.0);
    probe p = {.fn = quadratic_fn, .inner = &q, .n = n};
    float *x = calloc(n, sizeof *x);
    run_stats st = run_lbfgs(&p, x, 8, 1000, NULL, NULL);
    double err = max_err(x, q.c, n);
    printf("  stalled after %d iterations, %d evaluations, max |x - x*| = %.3g\n", st.iters,
           st.evals, err);
    CHECK(st.stalled, "no stall within 1000 iterations");
    CHECK(err < 1e-5, "stalled at max |x - x*| = %.3g", err);
    free(x);
    quadratic_free(&q);
}

/* An objective that claims descent along -g but is higher everywhere else:
 * the search and its retry must fail, leaving x, f, g as they were. */
static double wall_fn(const float *x, float *g, void *user)
{
    size_t n = *(const size_t *)user;
    double f = 1.0;
    for (size_t i = 0; i < n; i++) {
        f += fabs((double)x[i] - 1.0);
        g[i] = 1.0f;
    }
    return x[0] == 1.0f ? 0.0 : f;
}

static void test_lbfgs_failed_search(void)
{
    size_t n = 16;
    float x[16], g[16], x0[16], g0[16];
    for (size_t i = 0; i < n; i++) x[i] = 1.0f, g[i] = 1.0f;
    memcpy(x0, x, sizeof x);
    memcpy(g0, g, sizeof g);
    probe p = {.fn = wall_fn, .inner = &n, .n = n};
    double f = 0.0;
    nst_lbfgs *s = nst_lbfgs_create(n, 4, NULL);
    nst_objective_fns fns = probe_fns(&p);
    int r = nst_lbfgs_step(s, x, &f, g, &fns);
    CHECK(r == 0, "failed search returned %d", r);
    CHECK(p.evals > 0 && p.evals <= 40, "%d evaluations", p.evals);
    CHECK(p.grads == 0, "a failed search took %d gradients", p.grads);
    CHECK(memcmp(x, x0, sizeof x) == 0, "x changed");
    CHECK(memcmp(g, g0, sizeof g) == 0, "g changed");
    CHECK(f == 0.0, "f changed to %g", f);
    printf("  failed search gave up after %d evaluations\n", p.evals);
    nst_lbfgs_free(s);
}

/* Non-finite losses at trial points are backtracked over, never accepted. */
static void test_lbfgs_nonfinite_trial(void)
{
    size_t n = 50;
    quadratic q = quadratic_make(n, 100.0);
    probe p = {.fn = quadratic_fn, .inner = &q, .n = n};
    float *x = calloc(n, sizeof *x), *g = malloc(n * sizeof *g);
    double f = quadratic_fn(x, g, &q), f0 = f;
    nst_lbfgs *s = nst_lbfgs_create(n, 5, NULL);
    p.nan_calls = 3;
    nst_objective_fns fns = probe_fns(&p);
    int r = nst_lbfgs_step(s, x, &f, g, &fns);
    CHECK(r == 4, "step after 3 NaN trials returned %d", r);
    CHECK(p.grads == 1 && p.misplaced == 0, "%d gradients, %d misplaced, for one accepted point",
          p.grads, p.misplaced);
    CHECK(isfinite(f) && f < f0, "f = %g (was %g)", f, f0);
    nst_lbfgs_free(s);
    free(x);
    free(g);
    quadratic_free(&q);
}

/* d = -H g from all pairs kept so far, using only the newest m, computed
 * independently in double with plain arrays (no ring). */
static void reference_direction(size_t n, int m, int count, double **S, double **Y,
                                const float *g, double *d)
{
    int first = count > m ? count - m : 0;
    double alpha[64];
    for (size_t i = 0; i < n; i++) d[i] = -(double)g[i];
    for (int k = count - 1; k >= first; k--) {
        double sy = 0, sq = 0;
        for (size_t i = 0; i < n; i++) sy += S[k][i] * Y[k][i], sq += S[k][i] * d[i];
        alpha[k - first] = sq / sy;
        for (size_t i = 0; i < n; i++) d[i] -= alpha[k - first] * Y[k][i];
    }
    if (count > 0) {
        double sy = 0, yy = 0;
        for (size_t i = 0; i < n; i++) sy += S[count - 1][i] * Y[count - 1][i],
                                        yy += Y[count - 1][i] * Y[count - 1][i];
        for (size_t i = 0; i < n; i++) d[i] *= sy / yy;
    }
    for (int k = first; k < count; k++) {
        double sy = 0, yd = 0;
        for (size_t i = 0; i < n; i++) sy += S[k][i] * Y[k][i], yd += Y[k][i] * d[i];
        double beta = yd / sy;
        for (size_t i = 0; i < n; i++) d[i] += (alpha[k - first] - beta) * S[k][i];
    }
}

/* History 3 over 50 iterations: the ring wraps ~16 times; every step's
 * first trial point must be x + d with d from the newest three pairs. */
static void test_lbfgs_history_ring(void)
{
    enum { N = 60, ITERS = 50, M = 3 };
    quadratic q = quadratic_make(N, 1e4);
    float x[N], g[N], first[N];
    double d[N];
    double *S[ITERS], *Y[ITERS];
    memset(x, 0, sizeof x);
    probe p = {.fn = quadratic_fn, .inner = &q, .n = N};
    p.first = first;
    nst_objective_fns fns = probe_fns(&p);
    double f = quadratic_fn(x, g, &q);
    nst_lbfgs *s = nst_lbfgs_create(N, M, NULL);
    int iters = 0;
    double worst = 0.0;
    for (int k = 0; k < ITERS; k++) {
        float xs[N], gs[N];
        memcpy(xs, x, sizeof x);
        memcpy(gs, g, sizeof g);
        double f_before = f;
        p.step_calls = 0;
        int r = nst_lbfgs_step(s, x, &f, g, &fns);
        CHECK(r > 0, "step %d returned %d", k, r);
        if (r == 0) break;
        CHECK(f < f_before, "loss rose at %d", k);

        /* the step-1 trial along the expected direction */
        if (k == 0) {
            double gg = 0;
            for (int i = 0; i < N; i++) gg += (double)gs[i] * gs[i];
            double t = fmin(1.0, 1.0 / sqrt(gg));
            for (int i = 0; i < N; i++) d[i] = -t * gs[i];
        } else {
            reference_direction(N, M, k, S, Y, gs, d);
        }
        double dmax = 0, diff = 0;
        for (int i = 0; i < N; i++) {
            dmax = fmax(dmax, fabs(d[i]));
            diff = fmax(diff, fabs(((double)first[i] - xs[i]) - d[i]));
        }
        double rel = diff / fmax(dmax, 1e-30);
        worst = fmax(worst, rel);
        CHECK(diff <= 1e-3 * dmax + 1e-6, "step %d: direction off by %.3g (|d| %.3g)", k, diff,
              dmax);

        S[k] = malloc(N * sizeof(double));
        Y[k] = malloc(N * sizeof(double));
        for (int i = 0; i < N; i++) {
            S[k][i] = (double)(x[i] - xs[i]);
            Y[k][i] = (double)(g[i] - gs[i]);
        }
        iters++;
    }
    printf("  history %d: %d iterations, worst direction error %.3g, max |x - x*| = %.3g\n", M,
           iters, worst, max_err(x, q.c, N));
    CHECK(iters == ITERS, "only %d iterations", iters);
    for (int k = 0; k < iters; k++) free(S[k]), free(Y[k]);
    nst_lbfgs_free(s);
    quadratic_free(&q);
}

static void test_lbfgs_create_limits(void)
{
    CHECK(nst_lbfgs_create(0, 5, NULL) == NULL, "n = 0 accepted");
    CHECK(nst_lbfgs_create(10, 0, NULL) == NULL, "history 0 accepted");
    CHECK(nst_adam_create(0, 0.1) == NULL, "adam n = 0 accepted");
    CHECK(nst_adam_create(10, 0.0) == NULL, "adam learning rate 0 accepted");
    nst_lbfgs_free(NULL);
    nst_adam_free(NULL);
}

/* ------------------------------------------------------------------ Adam */

/* Constant-step Adam does not settle exactly: once near the minimum it
 * hovers within about one learning rate of it. So: within 1e-3 inside 1000
 * steps, and never further than lr (or above 1e-6·f0) for the 2000 after. */
static void test_adam_quadratic(void)
{
    size_t n = 1000;
    double lr = 0.01;
    quadratic q = quadratic_make(n, 1000.0);
    float *x = calloc(n, sizeof *x), *g = malloc(n * sizeof *g);
    nst_adam *s = nst_adam_create(n, lr);
    CHECK(s != NULL, "adam create");
    double f0 = quadratic_fn(x, g, &q), worst_err = 0.0, worst_f = 0.0;
    int reached = -1;
    for (int k = 1; s && k <= 3000; k++) {
        nst_adam_step(s, x, g);
        double f = quadratic_fn(x, g, &q), err = max_err(x, q.c, n);
        if (reached < 0 && err < 1e-3) reached = k;
        if (k > 1000) worst_err = fmax(worst_err, err), worst_f = fmax(worst_f, f);
    }
    printf("  adam lr %g: within 1e-3 after %d steps; afterwards max |x - x*| <= %.3g, "
           "f/f0 <= %.3g\n", lr, reached, worst_err, worst_f / f0);
    CHECK(reached > 0 && reached <= 1000, "within 1e-3 only after %d steps", reached);
    CHECK(worst_err < lr, "wandered to max |x - x*| = %.3g", worst_err);
    CHECK(worst_f < 1e-6 * f0, "wandered to f/f0 = %.3g", worst_f / f0);
    nst_adam_free(s);
    free(x);
    free(g);
    quadratic_free(&q);
}

/* The first Adam step moves every coordinate by lr against its gradient's
 * sign, whatever the gradient's size: the bias correction at work. */
static void test_adam_first_step(void)
{
    float x[4] = {0, 0, 0, 0};
    const float g[4] = {1e-3f, -2.0f, 50.0f, 0.0f};
    nst_adam *s = nst_adam_create(4, 0.1);
    nst_adam_step(s, x, g);
    CHECK_CLOSE(x[0], -0.1, 1e-4);
    CHECK_CLOSE(x[1], 0.1, 1e-5);
    CHECK_CLOSE(x[2], -0.1, 1e-5);
    CHECK(x[3] == 0.0f, "x[3] = %g", x[3]);
    nst_adam_free(s);
}

/* The steps' vector passes on a pool of two threads give the same bits as
 * on the caller's thread alone, over a history that wraps its ring and a
 * vector cut into pieces that do not divide it evenly. */
static void test_lbfgs_pool_same_bits(void)
{
    enum { N = 10007, ITERS = 12, M = 4 };
    quadratic q = quadratic_make(N, 1e3);
    nst_pool *pool = nst_pool_create(2);
    probe p[2] = {{.fn = quadratic_fn, .inner = &q, .n = N},
                  {.fn = quadratic_fn, .inner = &q, .n = N}};
    nst_lbfgs *s[2] = {nst_lbfgs_create(N, M, NULL), nst_lbfgs_create(N, M, pool)};
    float *x[2], *g[2];
    double f[2], f_start = 0;
    for (int r = 0; r < 2; r++) {
        x[r] = calloc(N, sizeof(float)), g[r] = malloc(N * sizeof(float));
        f_start = f[r] = quadratic_fn(x[r], g[r], &q);
    }
    int steps = 0;
    for (int k = 0; k < ITERS; k++) {
        int used[2];
        for (int r = 0; r < 2; r++) {
            nst_objective_fns fns = probe_fns(&p[r]);
            used[r] = nst_lbfgs_step(s[r], x[r], &f[r], g[r], &fns);
        }
        CHECK(used[0] == used[1], "step %d: %d evaluations alone, %d on the pool", k, used[0],
              used[1]);
        CHECK(memcmp(x[0], x[1], N * sizeof(float)) == 0, "step %d: x differs on the pool", k);
        if (used[0] == 0) break;
        steps++;
    }
    CHECK(steps > M, "only %d steps: the ring never wrapped", steps);
    CHECK(f[0] == f[1] && f[0] < 1e-3 * f_start, "losses %.17g and %.17g from %.17g", f[0],
          f[1], f_start);
    for (int r = 0; r < 2; r++) nst_lbfgs_free(s[r]), free(x[r]), free(g[r]);
    nst_pool_free(pool);
    quadratic_free(&q);
}

int main(void)
{
    TEST_RUN(test_lbfgs_create_limits);
    TEST_RUN(test_lbfgs_quadratic);
    TEST_RUN(test_lbfgs_rosenbrock_2);
    TEST_RUN(test_lbfgs_rosenbrock_100);
    TEST_RUN(test_lbfgs_at_minimum);
    TEST_RUN(test_lbfgs_runs_to_stall);
    TEST_RUN(test_lbfgs_failed_search);
    TEST_RUN(test_lbfgs_nonfinite_trial);
    TEST_RUN(test_lbfgs_history_ring);
    TEST_RUN(test_lbfgs_pool_same_bits);
    TEST_RUN(test_adam_first_step);
    TEST_RUN(test_adam_quadratic);
    return TEST_EXIT();
}
