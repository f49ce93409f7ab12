/*
 * nst.h — libnst, the public interface of the nstd style-transfer engine.
 *
 * libnst implements Gatys, Ecker & Bethge, "Image Style Transfer Using
 * Convolutional Neural Networks" (CVPR 2016) on a VGG19 network evaluated
 * with OpenBLAS. It is a plain C library: no HTTP, no global mutable state.
 * A transfer computes on threads of its own (nst_callbacks.threads) and sets
 * OpenBLAS to one thread for the whole process: each of those threads makes
 * its own BLAS calls. Two transfers may run at the same time
 * in one process as long as each has its own nst_params/images; an nst_model
 * is read-only after loading and may be shared between them.
 *
 * Conventions (after libuv):
 *   - functions return 0 (NST_OK) or a negative nst_err code;
 *   - functions that can fail for a reason a user must read also fill an
 *     nst_error with a message naming the problem (and the parameter field
 *     when there is one); nst_strerror() names a bare code;
 *   - ownership is stated at each declaration. "caller frees" means with the
 *     matching *_free function.
 *
 * Images are planar RGB floats in [0,1]: data[c*h*w + y*w + x], c = 0,1,2.
 */
#ifndef NST_H
#define NST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NST_VERSION "0.1.0"

/* ------------------------------------------------------------------ errors */

typedef enum {
    NST_OK = 0,
    NST_ENOMEM = -1,    /* allocation failed */
    NST_EINVAL = -2,    /* invalid parameter value */
    NST_EIO = -3,       /* file could not be read or written */
    NST_EMODEL = -4,    /* model file malformed or not VGG19 */
    NST_EIMAGE = -5,    /* image could not be decoded */
    NST_ETOOBIG = -6,   /* image exceeds the pixel limit */
    NST_ECANCELED = -7, /* the cancel flag was set */
    NST_EFORMAT = -8    /* an image in a format other than PNG or JPEG */
} nst_err;

typedef struct {
    int code;           /* nst_err */
    char field[64];     /* parameter that is wrong ("beta", "style[1]"), or "" */
    char message[256];  /* human-readable, names the problem */
} nst_error;

/* A static string naming the code. */
const char *nst_strerror(int code);

/* Fill err (when not NULL) and return code. printf-style message. */
int nst_error_set(nst_error *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* For a message about an unknown name: the candidate closest to `wrong` in
 * edit distance (insertions, deletions, substitutions) when it is at most
 * 2 edits away, else NULL; the first of equally close ones. NULL entries of
 * candidates[0..n) are skipped, candidates over 63 characters never match.
 * flags: 0 compares bytes as they are; NST_SUGGEST_FOLD ignores ASCII case
 * and reads '-' as '_' ("--Style-Scale" is close to "style_scale"). */
#define NST_SUGGEST_FOLD 1u
const char *nst_suggest(const char *wrong, const char *const *candidates, size_t n,
                        unsigned flags);

/* ------------------------------------------------------------------ layers */

/* VGG19 convolutional layers conv1_1 … conv5_4; index 0 … 15. A layer name
 * denotes the activation after its ReLU. */
#define NST_NUM_LAYERS 16

/* Index of a layer name, or -1 when unknown. */
int nst_layer_index(const char *name);
/* Name of a layer index (static string), NULL when out of range. */
const char *nst_layer_name(int index);

/* ------------------------------------------------------------------ images */

typedef struct {
    int w, h;       /* width and height in pixels */
    float *data;    /* 3*w*h floats, planar RGB in [0,1]; owned by the image */
} nst_image;

/* Allocate a w×h image (zeroed). */
int nst_image_alloc(nst_image *img, int w, int h);
void nst_image_free(nst_image *img);
int nst_image_copy(nst_image *dst, const nst_image *src);

/* Images are read from PNG and JPEG only; GIF, BMP, WebP, TIFF, HEIF and
 * AVIF are recognised and refused with NST_EFORMAT. A side longer than
 * NST_IMAGE_MAX_SIDE pixels is refused (NST_ETOOBIG) whatever max_pixels.
 * Decoded images are as displayed: a JPEG's Exif orientation is applied,
 * and transparency is composited on white. */
#define NST_IMAGE_MAX_SIDE 16384

/* Read the dimensions from an encoded PNG or JPEG header without decoding
 * (as displayed: swapped when the Exif orientation turns the image).
 * Fails with NST_EIMAGE (not an image, truncated header), NST_EFORMAT or
 * NST_ETOOBIG when w*h > max_pixels (max_pixels <= 0: no limit). */
int nst_image_probe(const void *buf, size_t len, long max_pixels, int *w, int *h,
                    nst_error *err);
/* Decode an encoded image (after nst_image_probe's checks). Caller frees out. */
int nst_image_decode(const void *buf, size_t len, long max_pixels, nst_image *out,
                     nst_error *err);
/* Check that an encoded image decodes (the checks of nst_image_decode and
 * its pixel data), keeping nothing: for validation, with the decoder's
 * working memory (nst_image_decode_memory) but not the float image. */
int nst_image_verify(const void *buf, size_t len, long max_pixels, nst_error *err);
/* Read and decode a file. Caller frees out. */
int nst_image_load(const char *path, long max_pixels, nst_image *out, nst_error *err);
/* Resize to exactly w×h (stb_image_resize, sRGB-agnostic linear filter). */
int nst_image_resize(const nst_image *in, int w, int h, nst_image *out);
/* Resize so the longest side is `longest` (aspect kept, each side >= 1). */
int nst_image_fit(const nst_image *in, int longest, nst_image *out);
/* Encode as 8-bit RGB PNG, values clamped to [0,1]. *png is malloc'd; caller
 * free()s it. */
int nst_image_encode_png(const nst_image *img, unsigned char **png, size_t *len);
/* Encode and write a PNG file. */
int nst_image_save_png(const nst_image *img, const char *path, nst_error *err);

/* Colour preservation (Gatys et al. 2017). */
/* Luminance-only transfer: keep img's luminance (Y of YIQ), take the chroma
 * (I, Q) of `colors` (same size). In place on img. */
void nst_colors_luminance(nst_image *img, const nst_image *colors);
/* Colour histogram matching: give img the mean and covariance of the colours
 * of `colors` (any size) by a linear map. In place on img. */
void nst_colors_match(nst_image *img, const nst_image *colors);

/* ------------------------------------------------------------------ model */

typedef struct nst_model nst_model;  /* opaque, read-only after load */

typedef enum { NST_POOL_MAX = 0, NST_POOL_AVG = 1 } nst_pooling;

/* "max" or "avg": the name of a pooling in the params JSON, the model
 * metadata and messages (static string); NULL when out of range. */
const char *nst_pooling_name(nst_pooling pooling);

/* Recommended defaults a model may carry in its metadata. */
typedef struct {
    nst_pooling pooling;
    double alpha, beta, tv_weight;
} nst_model_defaults;

/* Load a VGG19 safetensors file (torchvision names features.N.weight|bias,
 * F32/F16/BF16). Every shape is checked. Caller frees *out. */
int nst_model_load(const char *path, nst_model **out, nst_error *err);
/* The embedded "vgg19-random" model: He-initialised weights from a fixed
 * seed with a portable PRNG; identical on every machine. Caller frees *out. */
int nst_model_random(nst_model **out, nst_error *err);
/* Write the model as a safetensors file (F32, torchvision names, metadata). */
int nst_model_export(const nst_model *m, const char *path, nst_error *err);
void nst_model_free(nst_model *m);

const char *nst_model_name(const nst_model *m);      /* "vgg19-random", file stem… */
int nst_model_pretrained(const nst_model *m);        /* 1 for trained weights */
const nst_model_defaults *nst_model_get_defaults(const nst_model *m);

/* ------------------------------------------------------------------ params */

#define NST_MAX_STYLES 16

typedef enum { NST_OPT_LBFGS = 0, NST_OPT_ADAM = 1 } nst_optimizer;
typedef enum { NST_INIT_CONTENT = 0, NST_INIT_NOISE = 1, NST_INIT_STYLE = 2 } nst_init;
typedef enum {
    NST_COLORS_NONE = 0, NST_COLORS_LUMINANCE = 1, NST_COLORS_HISTOGRAM = 2
} nst_colors;

/* Every parameter of a transfer (DESIGN §4). Layer lists hold indices. */
typedef struct {
    int n_content_layers;
    int content_layers[NST_NUM_LAYERS];
    int n_style_layers;
    int style_layers[NST_NUM_LAYERS];
    double style_layer_weights[NST_NUM_LAYERS]; /* w_l, one per style layer */
    double alpha;             /* content weight */
    double beta;              /* style weight */
    double tv_weight;         /* total-variation weight */
    int iterations;
    nst_optimizer optimizer;
    double learning_rate;     /* Adam step size (pixels in [0,1]) */
    nst_init init;
    uint64_t seed;            /* noise init */
    int image_size;           /* longest side of the output, pixels */
    double style_scale;       /* style image size relative to the output */
    int n_style_blend_weights;/* 0: equal weights */
    double style_blend_weights[NST_MAX_STYLES];
    double content_mask_weight; /* content loss weight inside the content mask,
                                   relative to outside (see nst_masks) */
    nst_pooling pooling;
    nst_colors preserve_colors;
    int preview_every;        /* 0: no previews */
    int scales;               /* coarse-to-fine: resolutions, each half the
                                 next; 1 = full size only (see nst_transfer) */
    double tolerance;         /* stop a scale once the loss fell by less than
                                 this fraction over the last
                                 NST_TOLERANCE_WINDOW iterations; 0: never */
    /* Not a JSON key: set by the caller. The bytes the transfer may use
     * (nst_transfer_memory's estimate); L-BFGS keeps as many correction
     * pairs as fit in what the rest leaves, up to NST_LBFGS_HISTORY_MAX.
     * 0: no limit given, a fixed NST_LBFGS_DEFAULT_BUDGET for the pairs. */
    size_t memory_limit;
} nst_params;

/* The stopping rule's window, in iterations (params.tolerance), and the
 * default tolerance (chosen by measurement: README, Performance). */
#define NST_TOLERANCE_WINDOW 10
#define NST_DEFAULT_TOLERANCE 0.002
/* L-BFGS correction pairs: at least MIN, at most MAX (beyond it the loss no
 * longer improves measurably: README, Performance), and the memory they may
 * take when params.memory_limit is 0. */
#define NST_LBFGS_HISTORY_MIN 5
#define NST_LBFGS_HISTORY_MAX 50
#define NST_LBFGS_DEFAULT_BUDGET ((size_t)256 << 20)

/* Limits the validator enforces (from the server's configuration). */
typedef struct {
    int max_iterations;       /* <= 0: no limit */
    int max_image_size;       /* longest side; <= 0: no limit */
} nst_limits;

/* The paper's setup, with alpha/beta/tv_weight/pooling from the model's
 * defaults when m is not NULL. */
void nst_params_default(nst_params *p, const nst_model *m);
/* Apply a JSON object of parameters on top of *p (start from
 * nst_params_default). Unknown keys, wrong types and out-of-range values fail
 * with NST_EINVAL and err->field naming the key. json need not be
 * NUL-terminated. */
int nst_params_parse(nst_params *p, const char *json, size_t len, const nst_limits *lim,
                     nst_error *err);
/* Apply one parameter given as text (command-line flags: "--style-layers
 * conv1_1,conv2_1"); key uses the JSON name. Same checks as the parser. */
int nst_params_set(nst_params *p, const char *key, const char *value, const nst_limits *lim,
                   nst_error *err);
/* Checks that depend on the number of style images (blend weights). */
int nst_params_check_styles(const nst_params *p, int n_styles, nst_error *err);
/* The effective parameters as a JSON object text (malloc'd, caller free()s). */
char *nst_params_to_json(const nst_params *p);
/* Command-line help of every parameter, in the order of the JSON object:
 * per parameter a line "  --json-key VALUE" (the key with '_' written '-';
 * VALUE a metavariable or the names an enum accepts, "max|avg") and below
 * it, indented and wrapped before column 79, its description, the values
 * the validator accepts (no limits applied) and its value in *defaults
 * (NULL: nst_params_default without a model). malloc'd text, caller
 * free()s it; NULL when out of memory. */
char *nst_params_usage(const nst_params *defaults);

/* ------------------------------------------------------------------ transfer */

/* Why a transfer ended (nst_progress.stopped, on its last report). */
typedef enum {
    NST_STOP_NONE = 0,        /* still running */
    NST_STOP_ITERATIONS,      /* it ran params.iterations */
    NST_STOP_TOLERANCE,       /* the loss stopped falling (params.tolerance) */
    NST_STOP_CONVERGED        /* the optimiser found no lower point */
} nst_stop;

/* "iterations", "tolerance", "converged"; "" for NST_STOP_NONE. */
const char *nst_stop_name(nst_stop s);

typedef struct {
    int iteration;            /* 1-based, completed iterations */
    int iterations;           /* total planned */
    double loss_total, loss_content, loss_style, loss_tv;
    double elapsed_s;         /* since the transfer started */
    const nst_image *image;   /* current image (colour handling applied) on
                                 preview iterations, else NULL; valid during
                                 the callback only */
    int evaluations;          /* losses evaluated so far, each a forward pass
                                 (L-BFGS's line search may try more than one
                                 point an iteration) */
    int gradients;            /* gradients so far, each a backward pass: one
                                 per accepted point */
    nst_stop stopped;         /* on the last report, why the run ended; the
                                 image is then the result */
} nst_progress;

typedef void (*nst_progress_fn)(const nst_progress *p, void *user);

typedef struct {
    nst_progress_fn progress; /* called after every iteration; may be NULL */
    void *user;
    const atomic_int *cancel; /* set by another thread: when non-NULL and
                                   *cancel != 0 the run
                                   stops within one iteration: NST_ECANCELED,
                                   and out holds the image reached so far
                                   (clamped, no colour handling) for a later
                                   resume; the caller frees it */
    const nst_image *resume;  /* when non-NULL: start from this image (output
                                 size) instead of params->init */
    int resume_iteration;     /* iterations already done when resuming */
    int threads;              /* threads the transfer computes on, counting
                                 the caller's; 0 = one per online core */
} nst_callbacks;

/* Run one transfer. content and styles are decoded images of any size; the
 * output has the content's aspect with longest side params->image_size.
 * With params->scales = S > 1 the optimisation runs coarse to fine (Gatys et
 * al. 2017): at image_size/2^(S-1), …, image_size/2, image_size, each scale
 * starting from the previous one's result upsampled, with the iterations
 * split 2^(S-1) : … : 2 : 1 so most of them run at low resolution (scales
 * whose longest side would be under 64 px are skipped). Progress counts
 * iterations over all scales. With params->tolerance > 0 a scale ends as
 * soon as its loss fell by less than that fraction over the last
 * NST_TOLERANCE_WINDOW iterations (the next scale starts at its planned
 * iteration; the last scale's end is the run's, reported as
 * NST_STOP_TOLERANCE).
 * out is allocated here on success and on NST_ECANCELED; caller frees it
 * (nst_image_free is safe on an empty image). cb may be NULL. */
int nst_transfer(const nst_model *m, const nst_params *p, const nst_image *content,
                 const nst_image *styles, int n_styles, const nst_callbacks *cb,
                 nst_image *out, nst_error *err);

/* Spatial control (Gatys et al. 2017): masks of any size, resized to the
 * output, read as their luma in [0,1] (white 1, black 0).
 *   style[k]  where on the output style k applies: its style loss is the
 *             guided one (the Gram matrix of the features times the mask,
 *             normalised by the mask's area Σ m², at each layer's
 *             resolution), a loss of its own weighted by its blend weight
 *             instead of a part of the blended target. NULL: the style
 *             joins the blend of the unmasked styles, everywhere.
 *   content   the region kept as the photo: taken out of every style's
 *             region (each mask times 1 − m), and the content loss there
 *             weighs params->content_mask_weight times as much.
 * A single style with an all-ones mask gives exactly the unmasked loss and
 * gradient. */
typedef struct {
    const nst_image *style[NST_MAX_STYLES];
    const nst_image *content;
} nst_masks;

/* nst_transfer with masks (NULL: none; the images are the caller's and
 * must outlive the call). */
int nst_transfer_masked(const nst_model *m, const nst_params *p, const nst_image *content,
                        const nst_image *styles, int n_styles, const nst_masks *masks,
                        const nst_callbacks *cb, nst_image *out, nst_error *err);

/* Peak memory in bytes of one nst_transfer with these parameters for a
 * content image of content_w×content_h and style images of
 * style_wh[2k]×style_wh[2k+1] (k < n_styles) as decoded: the images
 * passed in (held by the caller for the run) and every buffer the
 * transfer allocates at its largest scale (the network's activations,
 * gradients and convolution scratch, the content and style targets, the
 * style images' networks, the optimiser's history, the resizes'
 * temporaries), plus a fixed allowance for threads and BLAS. Derived from
 * the sizes the engine allocates, so it is an upper bound, not a guess; it
 * does not depend on iterations. The model's weights are not counted (one
 * copy is shared by every transfer). m may be NULL. 0 for no pixels. */
size_t nst_transfer_memory(const nst_model *m, const nst_params *p, int content_w,
                           int content_h, const int *style_wh, int n_styles);
/* The same for nst_transfer_masked: mask_wh is NULL (no masks) or holds
 * 2·(n_styles + 1) ints, the size of style k's mask at [2k], [2k+1] and the
 * content mask's at [2·n_styles], [2·n_styles + 1], 0×0 for none; the
 * masks passed in count as held by the caller. */
size_t nst_transfer_memory_masked(const nst_model *m, const nst_params *p, int content_w,
                                  int content_h, const int *style_wh, int n_styles,
                                  const int *mask_wh);

/* When params.memory_limit cannot hold a job's untiled evaluation, the
 * transfer evaluates the loss on square tiles (exactly: same loss and
 * gradient, more arithmetic), as large as fit what is left of the limit,
 * and nst_transfer_memory_masked counts that. Returns the tile side the
 * full-size scale gets (arguments as nst_transfer_memory_masked), 0 when
 * it is untiled. */
int nst_transfer_tile(const nst_params *p, int content_w, int content_h, const int *style_wh,
                      int n_styles, const int *mask_wh);

/* The image sizes nst_transfer_memory_masked reads, taken from the images:
 * style_wh (2·n_styles ints) and, with masks, mask_wh (2·(n_styles + 1)
 * ints, 0×0 for a style without a mask). Returns mask_wh, or NULL when
 * masks is NULL (as nst_transfer_memory_masked takes it). */
const int *nst_transfer_sizes(const nst_image *styles, int n_styles, const nst_masks *masks,
                              int *style_wh, int *mask_wh);

/* Working memory in bytes nst_image_decode needs for a w×h image beyond the
 * nst_image it returns: the decoder's temporaries (a 16-bit RGBA PNG
 * inflates to 8 bytes a pixel and expands to 8 more) and the 8-bit RGB
 * image converted from. */
size_t nst_image_decode_memory(int w, int h);

/* ------------------------------------------------------------------- files */

/* Whole-file reads and crash-safe replacement of files, shared by the
 * engine (PNG and model writing), the nst command and the server's job
 * store.
 *
 * A replaced file is written to a temporary ".tmp-<name>-XXXXXX" in the same
 * directory, fsynced, renamed over the target, and the directory is
 * fsynced: a reader (or a restart after a crash) sees the old file or the
 * whole new one, never part of one. Leftover ".tmp-*" files are only ever
 * the remains of a crash. */

/* fsync a directory, so entries created, renamed or removed in it survive
 * a crash. 0 or -errno. */
int nst_dir_sync(const char *dir);

/* Atomically replace path (mode 0644 before umask) with data. 0 or -errno;
 * on failure path is untouched and no temporary file remains. */
int nst_file_write(const char *path, const void *data, size_t len);

/* Read a whole regular file. *data is malloc'd, NUL-terminated past *len;
 * caller free()s. flags: 0 or NST_FILE_NOFOLLOW (a symbolic link as the last
 * component fails with -ELOOP). 0 or -errno. */
#define NST_FILE_NOFOLLOW 1
int nst_file_read(const char *path, int flags, unsigned char **data, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
