// MNIST-format (IDX) datasets, gzip-compressed or plain: Fashion-MNIST from Debian's
// dataset-fashion-mnist package, or any folder holding the same four files.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define QN_FMNIST_DIR "/usr/share/datasets/fashion-mnist"

// One split: n images of h x w u8 pixels (row-major, one channel) and their labels.
struct qn_dataset {
    int n, h, w;
    int n_classes;     // max label + 1
    uint8_t *images;   // [n][h][w]
    uint8_t *labels;   // [n]
};

enum qn_split {
    QN_SPLIT_TRAIN,  // training images except the last 5,000
    QN_SPLIT_VAL,    // the last 5,000 training images (search uses these)
    QN_SPLIT_TEST,   // the 10,000 test images (final reports only)
};

#define QN_VAL_IMAGES 5000

// Reads one IDX file: magic 0x0000080<ndim> (u8 data), big-endian dims, then the data.
// Gzip or plain (zlib reads both). Every size is checked against the bytes actually present;
// trailing bytes are an error. dims_out receives up to 3 dims.
enum qn_status qn_idx_read(const char *path, int expect_ndim, int dims_out[3], uint8_t **data,
                           struct qn_error *e);

// Loads a split from dir (NULL: QN_FMNIST_DIR). Files: {train,t10k}-{images-idx3,labels-idx1}-ubyte
// with or without .gz. A missing folder or file gets a message with the install command.
enum qn_status qn_dataset_load(const char *dir, enum qn_split split, struct qn_dataset *ds,
                               struct qn_error *e);
void qn_dataset_free(struct qn_dataset *ds);
// QN_ERR_FORMAT unless ds holds h x w images with labels below n_classes (what a model of that
// input and output takes); the message names dir (NULL: QN_FMNIST_DIR).
enum qn_status qn_dataset_fits(const struct qn_dataset *ds, const char *dir, int h, int w, int n_classes,
                               struct qn_error *e);
// qn_dataset_load, then qn_dataset_fits; on any error ds is left empty.
enum qn_status qn_dataset_load_fit(const char *dir, enum qn_split split, int h, int w, int n_classes,
                                   struct qn_dataset *ds, struct qn_error *e);
const char *qn_split_name(enum qn_split split);
