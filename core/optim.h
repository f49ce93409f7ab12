/*
 * optim.h — optimisers over a flat float vector x of n elements.
 *
 * Both are steppers: the caller runs one iteration at a time, so it can
 * report progress and honour a cancel flag between iterations.
 */
#ifndef NST_OPTIM_H
#define NST_OPTIM_H

#include <stddef.h>

#include "pool.h"

/* The objective in two halves, so that a line search pays only for the value
 * at a trial point it rejects: value returns f(x); gradient writes ∇f into g
 * (n floats) at the x of the latest value call, which it is given again. */
typedef struct {
    double (*value)(const float *x, void *user);
    void (*gradient)(const float *x, float *g, void *user);
    void *user;
} nst_objective_fns;

/* L-BFGS: two-loop recursion with `history` correction pairs and a
 * backtracking line search (Armijo) that never accepts a step that raises
 * the loss. Memory: 2*history*n floats plus a few n-vectors. Its passes
 * over them run on pool (or, NULL, the caller's thread alone), with the
 * same result either way; the pool must be free whenever a step runs
 * (the objective's own, which it uses only inside its calls, is). */
typedef struct nst_lbfgs nst_lbfgs;
nst_lbfgs *nst_lbfgs_create(size_t n, int history, nst_pool *pool);
void nst_lbfgs_free(nst_lbfgs *s);
/* One iteration. On entry *f and g hold the objective at x (the first call
 * included: evaluate once before the loop); on return x, *f and g are the
 * new point. Returns the number of values computed (>= 1; only the accepted
 * point's gradient is), 0 when no progress is possible (converged or line
 * search failed: x, *f and g unchanged). */
int nst_lbfgs_step(nst_lbfgs *s, float *x, double *f, float *g, const nst_objective_fns *fn);

/* Adam (Kingma & Ba) with the usual β1 = 0.9, β2 = 0.999, ε = 1e-8. */
typedef struct nst_adam nst_adam;
nst_adam *nst_adam_create(size_t n, double learning_rate);
void nst_adam_free(nst_adam *s);
/* One update of x from the gradient g at x. */
void nst_adam_step(nst_adam *s, float *x, const float *g);

#endif
