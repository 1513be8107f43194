#include "idx.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "safetensors.h"

const char *qn_split_name(enum qn_split split) {
    switch (split) {
    case QN_SPLIT_TRAIN: return "train";
    case QN_SPLIT_VAL: return "val";
    case QN_SPLIT_TEST: return "test";
    }
    return "invalid";
}

// Reads exactly n bytes; returns the count actually read (short at EOF), -1 on a gzip error.
static long long gz_read_full(gzFile f, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        unsigned chunk = (unsigned)QN_MIN(n - got, (size_t)1 << 30);
        int r = gzread(f, (char *)buf + got, chunk);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

enum qn_status qn_idx_read(const char *path, int expect_ndim, int dims_out[3], uint8_t **data,
                           struct qn_error *e) {
    *data = NULL;
    const int fd = qn_open_regular(path, NULL, e);  // a FIFO is refused, not waited on
    if (fd < 0) return QN_ERR_IO;
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        return qn_fail(e, QN_ERR_IO, "%s: cannot open: %s", path, strerror(errno ? errno : ENOMEM));
    }
    enum qn_status st = QN_OK;
    unsigned char hdr[4 + 4 * 3];
    long long got = gz_read_full(f, hdr, 4);
    if (got != 4) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: %s", path, got < 0 ? "not a valid gzip stream" : "file too short for an IDX header");
        goto out;
    }
    if (hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 || hdr[3] != expect_ndim) {
        st = qn_fail(e, QN_ERR_FORMAT,
                     "%s: bad IDX magic %02x %02x %02x %02x (expected 00 00 08 %02x: u8 data, %d dims)",
                     path, hdr[0], hdr[1], hdr[2], hdr[3], expect_ndim, expect_ndim);
        goto out;
    }
    if (gz_read_full(f, hdr + 4, 4 * (size_t)expect_ndim) != 4 * expect_ndim) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: truncated IDX header", path);
        goto out;
    }
    size_t total = 1;
    for (int d = 0; d < expect_ndim; d++) {
        const unsigned char *p = hdr + 4 + 4 * d;
        uint32_t v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
        // 16M items and 4096x4096 images bound any MNIST-like set and keep total < 2^48.
        uint32_t lim = d == 0 ? (1u << 24) : 4096u;
        if (v == 0 || v > lim) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: dimension %d is %u (must be 1..%u)", path, d, v, lim);
            goto out;
        }
        dims_out[d] = (int)v;
        total *= v;
    }
    // The buffer grows with the bytes actually read, so a header that promises gigabytes
    // costs nothing unless the data is really there.
    size_t cap = QN_MIN(total, (size_t)1 << 20), have = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        got = gz_read_full(f, buf + have, cap - have);
        if (got < 0) break;
        have += (size_t)got;
        if (have < cap || cap == total) break;
        size_t ncap = QN_MIN(total, 2 * cap);
        uint8_t *nb = realloc(buf, ncap);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb, cap = ncap;
    }
    if (!buf) {
        st = qn_fail(e, QN_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, cap);
        goto out;
    }
    if (got < 0 || have != total) {
        free(buf);
        st = got < 0 ? qn_fail(e, QN_ERR_FORMAT, "%s: corrupt gzip data", path)
                     : qn_fail(e, QN_ERR_FORMAT, "%s: truncated: header promises %zu data bytes, file has %zu",
                               path, total, have);
        goto out;
    }
    unsigned char extra;
    got = gz_read_full(f, &extra, 1);
    if (got != 0) {
        free(buf);
        st = qn_fail(e, QN_ERR_FORMAT, "%s: %s", path,
                     got < 0 ? "corrupt gzip data" : "trailing bytes after the data the header describes");
        goto out;
    }
    *data = qn_alloc(total);  // the caller frees with qn_free, and kernels like aligned data
    if (!*data) {
        free(buf);
        st = qn_fail(e, QN_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, total);
        goto out;
    }
    memcpy(*data, buf, total);
    free(buf);
out:
    gzclose(f);
    return st;
}

// Finds "<dir>/<base>" or "<dir>/<base>.gz".
static int find_file(char *out, size_t cap, const char *dir, const char *base) {
    struct stat sb;
    snprintf(out, cap, "%s/%s.gz", dir, base);
    if (stat(out, &sb) == 0) return 1;
    snprintf(out, cap, "%s/%s", dir, base);
    return stat(out, &sb) == 0;
}

enum qn_status qn_dataset_load(const char *dir, enum qn_split split, struct qn_dataset *ds,
                               struct qn_error *e) {
    memset(ds, 0, sizeof(*ds));
    const char *d = dir ? dir : QN_FMNIST_DIR;
    struct stat sb;
    if (stat(d, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        if (!dir)
            return qn_fail(e, QN_ERR_IO,
                           "%s: Fashion-MNIST not found; install it with: apt-get install dataset-fashion-mnist "
                           "(or pass --data DIR with an MNIST-format folder)", d);
        return qn_fail(e, QN_ERR_IO, "%s: not a directory", d);
    }
    const char *prefix = split == QN_SPLIT_TEST ? "t10k" : "train";
    char ipath[1024], lpath[1024], base[64];
    snprintf(base, sizeof(base), "%s-images-idx3-ubyte", prefix);
    if (!find_file(ipath, sizeof(ipath), d, base))
        return qn_fail(e, QN_ERR_IO, "%s: missing %s[.gz]%s", d, base,
                       dir ? "" : "; reinstall with: apt-get install --reinstall dataset-fashion-mnist");
    snprintf(base, sizeof(base), "%s-labels-idx1-ubyte", prefix);
    if (!find_file(lpath, sizeof(lpath), d, base))
        return qn_fail(e, QN_ERR_IO, "%s: missing %s[.gz]", d, base);

    int idims[3], ldims[3];
    uint8_t *img = NULL, *lab = NULL;
    enum qn_status st = qn_idx_read(ipath, 3, idims, &img, e);
    if (st) return st;
    st = qn_idx_read(lpath, 1, ldims, &lab, e);
    if (st) {
        qn_free(img);
        return st;
    }
    if (ldims[0] != idims[0]) {
        qn_free(img), qn_free(lab);
        return qn_fail(e, QN_ERR_FORMAT, "%s: %d labels for %d images in %s", lpath, ldims[0], idims[0], ipath);
    }
    int n = idims[0], first = 0;
    if (split != QN_SPLIT_TEST) {
        if (n <= QN_VAL_IMAGES) {
            qn_free(img), qn_free(lab);
            return qn_fail(e, QN_ERR_FORMAT, "%s: %d training images; need more than %d to carve out the validation split",
                           ipath, n, QN_VAL_IMAGES);
        }
        if (split == QN_SPLIT_VAL) first = n - QN_VAL_IMAGES, n = QN_VAL_IMAGES;
        else n -= QN_VAL_IMAGES;
    }
    size_t px = (size_t)idims[1] * idims[2];
    if (first) {
        memmove(img, img + (size_t)first * px, (size_t)n * px);
        memmove(lab, lab + first, (size_t)n);
    }
    int maxl = 0;
    for (int i = 0; i < n; i++) maxl = QN_MAX(maxl, lab[i]);
    ds->n = n, ds->h = idims[1], ds->w = idims[2], ds->n_classes = maxl + 1;
    ds->images = img, ds->labels = lab;
    return QN_OK;
}

void qn_dataset_free(struct qn_dataset *ds) {
    qn_free(ds->images);
    qn_free(ds->labels);
    memset(ds, 0, sizeof(*ds));
}

enum qn_status qn_dataset_fits(const struct qn_dataset *ds, const char *dir, int h, int w, int n_classes,
                               struct qn_error *e) {
    if (ds->h != h || ds->w != w)
        return qn_fail(e, QN_ERR_FORMAT, "%s holds %dx%d images, the model takes %dx%d", dir ? dir : QN_FMNIST_DIR,
                       ds->h, ds->w, h, w);
    if (ds->n_classes > n_classes)
        return qn_fail(e, QN_ERR_FORMAT, "%s has labels up to %d, the model has %d classes", dir ? dir : QN_FMNIST_DIR,
                       ds->n_classes - 1, n_classes);
    return QN_OK;
}

enum qn_status qn_dataset_load_fit(const char *dir, enum qn_split split, int h, int w, int n_classes,
                                   struct qn_dataset *ds, struct qn_error *e) {
    enum qn_status st = qn_dataset_load(dir, split, ds, e);
    if (!st && (st = qn_dataset_fits(ds, dir, h, w, n_classes, e))) qn_dataset_free(ds);
    return st;
}
