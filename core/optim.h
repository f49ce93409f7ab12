/*
 * optim.h — optimisers over a flat float vector x of n elements.
 *
 * Both are steppers: the caller runs one iteration at a time, so it can
 * report progress and honour a cancel flag between iterations. The objective
 * returns f(x) and writes the gradient into g (n floats).
 */
#ifndef NST_OPTIM_H
#define NST_OPTIM_H

#include <stddef.h>

typedef double (*nst_objective_fn)(const float *x, float *g, void *user);

/* L-BFGS: two-loop recursion with `history` correction pairs and a
 * backtracking line search (Armijo) that never accepts a step that raises
 * the loss. Memory: 2*history*n floats plus a few n-vectors. */
typedef struct nst_lbfgs nst_lbfgs;
nst_lbfgs *nst_lbfgs_create(size_t n, int history);
void nst_lbfgs_free(nst_lbfgs *s);
/* One iteration. On entry *f and g hold the objective at x (the first call
 * included: evaluate once before the loop); on return x, *f and g are the
 * new point. Returns the number of objective evaluations made (>= 1), 0 when
 * no progress is possible (converged or line search failed: x unchanged). */
int nst_lbfgs_step(nst_lbfgs *s, float *x, double *f, float *g, nst_objective_fn fn,
                   void *user);

/* Adam (Kingma & Ba) with the usual β1 = 0.9, β2 = 0.999, ε = 1e-8. */
typedef struct nst_adam nst_adam;
nst_adam *nst_adam_create(size_t n, double learning_rate);
void nst_adam_free(nst_adam *s);
/* One update of x from the gradient g at x. */
void nst_adam_step(nst_adam *s, float *x, const float *g);

#endif
