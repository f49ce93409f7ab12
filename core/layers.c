/*
 * layers.c — VGG19's convolutional part as one table (see layers.h), and
 * the name ↔ index lookups built on it.
 */
#include <string.h>

#include "layers.h"

const nst_layer_def nst_layers[NST_NUM_LAYERS] = {
    {"conv1_1", 3, 64, 0, 0},      {"conv1_2", 64, 64, 1, 2},
    {"conv2_1", 64, 128, 0, 5},    {"conv2_2", 128, 128, 1, 7},
    {"conv3_1", 128, 256, 0, 10},  {"conv3_2", 256, 256, 0, 12},
    {"conv3_3", 256, 256, 0, 14},  {"conv3_4", 256, 256, 1, 16},
    {"conv4_1", 256, 512, 0, 19},  {"conv4_2", 512, 512, 0, 21},
    {"conv4_3", 512, 512, 0, 23},  {"conv4_4", 512, 512, 1, 25},
    {"conv5_1", 512, 512, 0, 28},  {"conv5_2", 512, 512, 0, 30},
    {"conv5_3", 512, 512, 0, 32},  {"conv5_4", 512, 512, 1, 34},
};

int nst_layer_index(const char *name)
{
    for (int i = 0; i < NST_NUM_LAYERS; i++)
        if (strcmp(nst_layers[i].name, name) == 0) return i;
    return -1;
}

const char *nst_layer_name(int index)
{
    return index >= 0 && index < NST_NUM_LAYERS ? nst_layers[index].name : NULL;
}
