/*
 * job_memory.c — how much memory one job needs, and how much of the
 * max_job_memory setting its engine may use. The API refuses a job over
 * the limit with this estimate before storing it; the worker gives the
 * engine the same share when it runs the job, so the two always agree.
 *
 * Not here: the engine's own accounting (nst_transfer_memory), refusing
 * (api/routes_jobs.c).
 */
#include "jobs.h"

/* A job's peak beyond the engine's transfer: the decoder's working memory
 * for the largest image it decodes (an input, a mask or the output-sized
 * checkpoint it resumes from), and the checkpoint itself and the encoding
 * of a preview or the result (an 8-bit copy, stb's filtered rows and the
 * PNG) at out_w×out_h. */
static size_t around_transfer(const int *wh, int n_styles, const int *mask_wh, int out_w,
                              int out_h)
{
    size_t decode = nst_image_decode_memory(out_w, out_h);
    for (int i = 0; i <= n_styles; i++) {
        size_t d = nst_image_decode_memory(wh[2 * i], wh[2 * i + 1]);
        if (d > decode) decode = d;
        d = mask_wh ? nst_image_decode_memory(mask_wh[2 * i], mask_wh[2 * i + 1]) : 0;
        if (d > decode) decode = d;
    }
    return decode + (size_t)out_w * out_h * (3 * sizeof(float) + 16);
}

size_t jobs_memory(const nst_model *m, long max_job_memory, nst_params *p, const int *wh,
                   int n_styles, const int *mask_wh, int *out_w, int *out_h)
{
    int cw = wh[0], ch = wh[1];
    int ow = cw >= ch ? p->image_size : (int)((double)cw * p->image_size / ch + 0.5);
    int oh = cw >= ch ? (int)((double)ch * p->image_size / cw + 0.5) : p->image_size;
    if (ow < 1) ow = 1;
    if (oh < 1) oh = 1;
    size_t around = around_transfer(wh, n_styles, mask_wh, ow, oh);
    p->memory_limit = 0;
    if (max_job_memory > 0)   /* 1: the engine's share is used up, the smallest history */
        p->memory_limit = (size_t)max_job_memory > around ? (size_t)max_job_memory - around : 1;
    if (out_w) *out_w = ow;
    if (out_h) *out_h = oh;
    return nst_transfer_memory_masked(m, p, cw, ch, wh + 2, n_styles, mask_wh) + around;
}
