// safetensors files: an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}),
// then the raw little-endian tensor bytes. https://github.com/huggingface/safetensors
//
// The reader trusts nothing: every length, offset, shape and dtype is checked against the file,
// tensors may not overlap and must cover the data section exactly (as the reference
// implementation requires), and F32 data may be checked for NaN/Inf. The writer is atomic:
// temp file in the same folder, fsync, rename, so an interrupted run never leaves a broken file.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum qn_dtype {
    QN_DTYPE_F32 = 0,
    QN_DTYPE_I32,
    QN_DTYPE_I16,
    QN_DTYPE_I8,
    QN_DTYPE_U8,
    QN_DTYPE_I64,
    QN_DTYPE_COUNT,
};

const char *qn_dtype_name(enum qn_dtype t);  // "F32", ...
size_t qn_dtype_size(enum qn_dtype t);

#define QN_ST_MAX_DIMS 8
#define QN_ST_MAX_NAME 256

struct qn_st_tensor {
    char name[QN_ST_MAX_NAME];
    enum qn_dtype dtype;
    int ndim;
    int64_t shape[QN_ST_MAX_DIMS];
    size_t nbytes;
    void *data;  // into the file's data section (64-byte aligned base, offsets multiple of elem size)
};

struct qn_safetensors {
    size_t n;
    struct qn_st_tensor *tensors;  // sorted by data offset
    size_t n_meta;
    char **meta_keys, **meta_values;  // __metadata__ (string values only)
    void *blob;                        // the data section
    size_t blob_bytes;
};

// Parses an in-memory file image (the fuzz target's entry point). `what` names the source in
// messages. With check_finite, any NaN/Inf in an F32 tensor is an error.
enum qn_status qn_st_parse(const void *buf, size_t len, const char *what, bool check_finite,
                           struct qn_safetensors *st, struct qn_error *e);
enum qn_status qn_st_read(const char *path, bool check_finite, struct qn_safetensors *st,
                          struct qn_error *e);
void qn_st_free(struct qn_safetensors *st);

const struct qn_st_tensor *qn_st_find(const struct qn_safetensors *st, const char *name);
const char *qn_st_meta(const struct qn_safetensors *st, const char *key);  // NULL if absent

// Checks that tensor `name` exists with this dtype and shape; the message names the file
// (`what`), the tensor and what differs.
enum qn_status qn_st_expect(const struct qn_safetensors *st, const char *what, const char *name,
                            enum qn_dtype dtype, int ndim, const int64_t *shape,
                            const struct qn_st_tensor **out, struct qn_error *e);

// --- writing ---

struct qn_st_entry {
    const char *name;
    enum qn_dtype dtype;
    int ndim;
    int64_t shape[QN_ST_MAX_DIMS];
    const void *data;
};

// Writes atomically. meta_keys/values may be NULL when n_meta == 0. Tensor data is laid out
// 64-byte aligned (header padded with spaces), in the order given.
enum qn_status qn_st_write(const char *path, const struct qn_st_entry *entries, size_t n,
                           const char *const *meta_keys, const char *const *meta_values,
                           size_t n_meta, struct qn_error *e);

// Whole-file read used by every reader of qnas: a regular file of at most max_len bytes into a
// new buffer (*buf, free it), *len its size. QN_ERR_IO (cannot open, not a regular file, short
// read), QN_ERR_FORMAT (larger than max_len), QN_ERR_NOMEM; messages start with the path.
enum qn_status qn_read_file(const char *path, size_t max_len, uint8_t **buf, size_t *len, struct qn_error *e);
// Opens path for reading when it is a regular file: a descriptor (blocking) and, when size is
// not NULL, the file's size; or -1 with e filled. The open does not block, so a FIFO in place
// of an input is refused, not waited on.
int qn_open_regular(const char *path, long long *size, struct qn_error *e);

// Atomic whole-file write used by every output of qnas (checkpoints, reports, models, logits,
// CSV): <path>.tmp.<pid> in the same folder, fsync, rename over path, fsync the folder.
// Refuses (qn_output_check) a path that is a folder or another non-regular file.
enum qn_status qn_write_atomic(const char *path, const void *const *parts, const size_t *sizes,
                               size_t n_parts, struct qn_error *e);
// QN_OK when path does not exist or is a regular file; QN_ERR_ARG when it is a folder, FIFO,
// device or socket, which the rename would replace by a regular file (or fail on).
enum qn_status qn_output_check(const char *path, struct qn_error *e);
// qn_output_check, then that the file can be created: makes and removes qn_write_atomic's temp
// file, so a missing or read-only folder is reported before a command does its work (QN_ERR_IO).
enum qn_status qn_output_creatable(const char *path, struct qn_error *e);
// Whether a and b name the same file: same device and inode when they exist (so "x", "./x", a
// hard link or a symlink to x all match); two paths that do not exist yet match when they are
// the same name in the same folder. A path that exists never matches one that does not.
bool qn_same_file(const char *a, const char *b);
