/*
 * objective.h — the style-transfer loss of one job as a function of the
 * output image: targets computed once at creation, then any number of
 * evaluations of L(x), each followed by ∇L(x) when the caller wants it.
 * transfer.c optimises it; the tests check it against finite differences
 * and the PyTorch reference.
 */
#ifndef NST_OBJECTIVE_H
#define NST_OBJECTIVE_H

#include "nst.h"
#include "pool.h"

typedef struct nst_objective nst_objective;

/* Targets for an output of W×H pixels: content_sized is the content image at
 * exactly W×H; styles are the style images as given (resized here by
 * style_scale, colour-matched when preserve_colors is histogram); masks
 * (NULL: none) as for nst_transfer_masked, resized here. threads as for
 * nst_net_create. p must outlive the objective. Caller frees *out. The
 * network keeps its weights prepared (nst_objective_kept_bytes more than
 * nst_objective_bytes), as nst_objective_create_tiled with keep. */
int nst_objective_create(const nst_model *m, const nst_params *p, const nst_image *content_sized,
                         const nst_image *styles, int n_styles, const nst_masks *masks,
                         int threads, nst_objective **out, nst_error *err);
/* The same objective evaluated on tiles of `tile` pixels square (a
 * multiple of nst_objective_tile_align(); 0: untiled, as
 * nst_objective_create), with the same loss and gradient: for outputs whose
 * untiled evaluation does not fit params.memory_limit, masks included.
 * keep (untiled only): the network prepares its convolutions' weights once
 * instead of at every evaluation (nst_net_create_sizes), for
 * nst_objective_kept_bytes more. */
int nst_objective_create_tiled(const nst_model *m, const nst_params *p,
                               const nst_image *content_sized, const nst_image *styles,
                               int n_styles, const nst_masks *masks, int threads, int tile,
                               int keep, nst_objective **out, nst_error *err);
void nst_objective_free(nst_objective *o);
/* The threads its evaluations run on (the net's pool), free between its
 * calls for the optimiser's own passes. */
nst_pool *nst_objective_pool(const nst_objective *o);
/* Peak bytes nst_objective_create allocates and the objective holds for an
 * output of W×H, style images of style_wh[2k]×style_wh[2k+1] and masks of
 * mask_wh (as for nst_transfer_memory_masked; NULL: none), not counting the
 * images passed in. */
size_t nst_objective_bytes(const nst_params *p, int W, int H, const int *style_wh, int n_styles,
                           const int *mask_wh);

/* Bytes an untiled objective for W×H keeps beyond nst_objective_bytes when
 * created with keep. */
size_t nst_objective_kept_bytes(const nst_params *p, int W, int H);

/* As nst_objective_bytes for the tiled objective of `tile`
 * (0: untiled). */
size_t nst_objective_tiled_bytes(const nst_params *p, int W, int H, const int *style_wh,
                                 int n_styles, const int *mask_wh, int tile);
/* The largest tile whose objective fits `budget` bytes, or 0 when none does. */
int nst_objective_tile_for(const nst_params *p, int W, int H, const int *style_wh, int n_styles,
                           const int *mask_wh, size_t budget);
int nst_objective_tile_align(void);


/* The weighted parts of the last evaluation: total = content + style + tv. */
typedef struct {
    double total, content, style, tv;
} nst_losses;

/* L(x) for x (3,H,W) in [0,1], with its parts when parts is not NULL: the
 * forward pass and the losses, which is all a rejected trial point costs. */
double nst_objective_value(nst_objective *o, const float *x, nst_losses *parts);
/* g (3,H,W) receives ∇L(x), where x is the point of the latest
 * nst_objective_value call: the backward pass. */
void nst_objective_gradient(nst_objective *o, const float *x, float *g);

#endif
