/*
 * layers.h — the VGG19 layer table and the model's internal layout.
 *
 * One row per convolution (conv1_1 … conv5_4): its channels, whether a 2×2
 * pooling follows it, and its index in torchvision's `features` Sequential
 * (which names the safetensors tensors). Everything that walks the network
 * (loader, exporter, forward/backward, parameter validation) reads this
 * table; nothing else spells out VGG19's shape.
 */
#ifndef NST_LAYERS_H
#define NST_LAYERS_H

#include "nst.h"

typedef struct {
    const char *name;   /* "conv1_1" */
    int cin, cout;      /* input and output channels */
    int pool_after;     /* 1 when a 2×2 pooling follows this conv's ReLU */
    int feature_index;  /* torchvision features.N index of the conv */
} nst_layer_def;

extern const nst_layer_def nst_layers[NST_NUM_LAYERS];

/* Preprocessing applied to an image x in [0,1] before conv1_1:
 *   net[c] = (x[src(c)] * range - mean[c]) / std[c],  src(c) = bgr ? 2-c : c */
typedef struct {
    int bgr;
    float range;
    float mean[3];
    float std[3];
} nst_preprocess;

struct nst_model {
    char name[128];
    int pretrained;
    nst_model_defaults defaults;
    nst_preprocess pre;
    float *weight[NST_NUM_LAYERS]; /* (cout, cin, 3, 3), into storage */
    float *bias[NST_NUM_LAYERS];   /* (cout), into storage */
    float *storage;                /* one allocation for all tensors */
};

#endif
