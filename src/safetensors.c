#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const dtype_names[QN_DTYPE_COUNT] = {"F32", "I32", "I16", "I8", "U8", "I64"};
static const size_t dtype_sizes[QN_DTYPE_COUNT] = {4, 4, 2, 1, 1, 8};

const char *qn_dtype_name(enum qn_dtype t) { return (unsigned)t < QN_DTYPE_COUNT ? dtype_names[t] : "?"; }
size_t qn_dtype_size(enum qn_dtype t) { return (unsigned)t < QN_DTYPE_COUNT ? dtype_sizes[t] : 0; }

// The header is JSON of at most this many bytes (a supernet has a few hundred tensors).
#define ST_MAX_HEADER (64u << 20)
// Offsets and sizes stay far below 2^53 so cJSON's doubles hold them exactly.
#define ST_MAX_INT ((double)(1ull << 50))

static bool json_size(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= ST_MAX_INT) || v != floor(v)) return false;
    *out = (uint64_t)v;
    return true;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_offset(const void *a, const void *b) {
    const struct qn_st_tensor *x = a, *y = b;
    uintptr_t px = (uintptr_t)x->data, py = (uintptr_t)y->data;
    return px < py ? -1 : px > py;
}

void qn_st_free(struct qn_safetensors *st) {
    for (size_t i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    free(st->tensors);
    qn_free(st->blob);
    memset(st, 0, sizeof(*st));
}

enum qn_status qn_st_parse(const void *buf, size_t len, const char *what, bool check_finite,
                           struct qn_safetensors *st, struct qn_error *e) {
    memset(st, 0, sizeof(*st));
    const unsigned char *p = buf;
    if (len < 8) return qn_fail(e, QN_ERR_FORMAT, "%s: %zu bytes is too short for a safetensors file", what, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen < 2 || hlen > ST_MAX_HEADER || hlen > len - 8)
        return qn_fail(e, QN_ERR_FORMAT, "%s: header length %llu is impossible for a %zu-byte file", what,
                       (unsigned long long)hlen, len);
    cJSON *root = cJSON_ParseWithLength((const char *)p + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return qn_fail(e, QN_ERR_FORMAT, "%s: header is not a JSON object", what);
    }
    const size_t data_len = len - 8 - (size_t)hlen;
    const unsigned char *data = p + 8 + hlen;
    enum qn_status status = QN_OK;
    size_t count = 0;
    for (cJSON *it = root->child; it; it = it->next) count++;
    st->tensors = calloc(count ? count : 1, sizeof(*st->tensors));
    st->meta_keys = calloc(1, sizeof(char *));
    st->meta_values = calloc(1, sizeof(char *));
    st->blob = qn_alloc(data_len ? data_len : 1);
    if (!st->tensors || !st->meta_keys || !st->meta_values || !st->blob) {
        status = qn_fail(e, QN_ERR_NOMEM, "%s: out of memory", what);
        goto out;
    }
    memcpy(st->blob, data, data_len);
    st->blob_bytes = data_len;

    int seen_meta = 0;
    for (cJSON *it = root->child; it; it = it->next) {
        const char *name = it->string ? it->string : "";
        if (strcmp(name, "__metadata__") == 0) {
            if (!cJSON_IsObject(it)) {
                status = qn_fail(e, QN_ERR_FORMAT, "%s: __metadata__ is not an object", what);
                goto out;
            }
            // one object (cJSON keeps duplicate keys: a second one would be appended to
            // arrays sized for the first), and each key once
            if (seen_meta++) {
                status = qn_fail(e, QN_ERR_FORMAT, "%s: __metadata__ appears twice", what);
                goto out;
            }
            size_t nm = 0;
            for (cJSON *m = it->child; m; m = m->next) {
                nm++;
                for (cJSON *m2 = it->child; m2 != m; m2 = m2->next)
                    if (m->string && m2->string && strcmp(m->string, m2->string) == 0) {
                        status = qn_fail(e, QN_ERR_FORMAT, "%s: __metadata__ key '%s' appears twice", what,
                                         m->string);
                        goto out;
                    }
            }
            char **k = realloc(st->meta_keys, (nm + 1) * sizeof(char *));
            if (k) st->meta_keys = k;
            char **v = realloc(st->meta_values, (nm + 1) * sizeof(char *));
            if (v) st->meta_values = v;
            if (!k || !v) {
                status = qn_fail(e, QN_ERR_NOMEM, "%s: out of memory", what);
                goto out;
            }
            for (cJSON *m = it->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    status = qn_fail(e, QN_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string", what,
                                     m->string ? m->string : "");
                    goto out;
                }
                st->meta_keys[st->n_meta] = strdup(m->string ? m->string : "");
                st->meta_values[st->n_meta] = strdup(m->valuestring);
                st->n_meta++;
                if (!st->meta_keys[st->n_meta - 1] || !st->meta_values[st->n_meta - 1]) {
                    status = qn_fail(e, QN_ERR_NOMEM, "%s: out of memory", what);
                    goto out;
                }
            }
            continue;
        }
        struct qn_st_tensor *t = &st->tensors[st->n];
        if (strlen(name) == 0 || strlen(name) >= QN_ST_MAX_NAME) {
            status = qn_fail(e, QN_ERR_FORMAT, "%s: tensor name of length %zu (must be 1..%d)", what,
                             strlen(name), QN_ST_MAX_NAME - 1);
            goto out;
        }
        strcpy(t->name, name);
        if (!cJSON_IsObject(it)) {
            status = qn_fail(e, QN_ERR_FORMAT, "%s: entry '%s' is not an object", what, name);
            goto out;
        }
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        int dtype = -1;
        for (int d = 0; d < QN_DTYPE_COUNT && cJSON_IsString(dt); d++)
            if (strcmp(dt->valuestring, dtype_names[d]) == 0) dtype = d;
        if (dtype < 0) {
            status = qn_fail(e, QN_ERR_FORMAT, "%s: tensor '%s' has %s dtype", what, name,
                             cJSON_IsString(dt) ? "an unsupported" : "no");
            goto out;
        }
        t->dtype = (enum qn_dtype)dtype;
        int nd = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
        if (nd < 0 || nd > QN_ST_MAX_DIMS) {
            status = qn_fail(e, QN_ERR_FORMAT, "%s: tensor '%s': shape must be an array of at most %d sizes", what,
                             name, QN_ST_MAX_DIMS);
            goto out;
        }
        t->ndim = nd;
        uint64_t elems = 1;
        int d = 0;
        for (const cJSON *s = shape->child; s; s = s->next, d++) {
            uint64_t v;
            if (!json_size(s, &v) || (v && elems > (uint64_t)ST_MAX_INT / v)) {
                status = qn_fail(e, QN_ERR_FORMAT, "%s: tensor '%s': bad size in shape", what, name);
                goto out;
            }
            t->shape[d] = (int64_t)v;
            elems *= v;
        }
        uint64_t b, en;
        if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_size(offs->child, &b) ||
            !json_size(offs->child->next, &en) || b > en || en > data_len) {
            status = qn_fail(e, QN_ERR_FORMAT,
                             "%s: tensor '%s': data_offsets must be [begin, end] within the %zu data bytes", what,
                             name, data_len);
            goto out;
        }
        size_t es = dtype_sizes[dtype];
        if (en - b != elems * es) {
            status = qn_fail(e, QN_ERR_FORMAT, "%s: tensor '%s': %llu bytes for a %s tensor of %llu elements", what,
                             name, (unsigned long long)(en - b), dtype_names[dtype], (unsigned long long)elems);
            goto out;
        }
        if (b % es) {
            status = qn_fail(e, QN_ERR_FORMAT, "%s: tensor '%s': offset %llu is not a multiple of its element size",
                             what, name, (unsigned long long)b);
            goto out;
        }
        t->nbytes = (size_t)(en - b);
        t->data = (char *)st->blob + b;
        st->n++;
    }
    // Sorted by offset, tensors must tile the data section exactly: no gaps, no overlaps
    // (the reference implementation rejects both).
    qsort(st->tensors, st->n, sizeof(*st->tensors), cmp_offset);
    size_t pos = 0;
    for (size_t i = 0; i < st->n; i++) {
        size_t b = (size_t)((char *)st->tensors[i].data - (char *)st->blob);
        if (b != pos) {
            status = qn_fail(e, QN_ERR_FORMAT, "%s: tensor '%s' %s the previous tensor's data", what,
                             st->tensors[i].name, b < pos ? "overlaps" : "leaves a gap after");
            goto out;
        }
        pos = b + st->tensors[i].nbytes;
    }
    if (pos != data_len) {
        status = qn_fail(e, QN_ERR_FORMAT, "%s: %zu data bytes but the tensors describe %zu", what, data_len, pos);
        goto out;
    }
    if (st->n > 1) {
        const char **names = malloc(st->n * sizeof(char *));
        if (!names) {
            status = qn_fail(e, QN_ERR_NOMEM, "%s: out of memory", what);
            goto out;
        }
        for (size_t i = 0; i < st->n; i++) names[i] = st->tensors[i].name;
        qsort(names, st->n, sizeof(char *), cmp_name);
        for (size_t i = 1; i < st->n; i++)
            if (strcmp(names[i - 1], names[i]) == 0) {
                status = qn_fail(e, QN_ERR_FORMAT, "%s: tensor '%s' appears twice", what, names[i]);
                break;
            }
        free(names);
        if (status) goto out;
    }
    if (check_finite) {
        for (size_t i = 0; i < st->n; i++) {
            if (st->tensors[i].dtype != QN_DTYPE_F32) continue;
            const float *f = st->tensors[i].data;
            for (size_t j = 0; j < st->tensors[i].nbytes / 4; j++)
                if (!isfinite(f[j])) {
                    status = qn_fail(e, QN_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value at element %zu",
                                     what, st->tensors[i].name, j);
                    goto out;
                }
        }
    }
out:
    cJSON_Delete(root);
    if (status) qn_st_free(st);
    return status;
}

int qn_open_regular(const char *path, long long *size, struct qn_error *e) {
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        qn_fail(e, QN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    const int fl = fcntl(fd, F_GETFL);
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        close(fd);
        qn_fail(e, QN_ERR_IO, "%s: not a regular file", path);
        return -1;
    }
    if (size) *size = (long long)sb.st_size;
    return fd;
}

enum qn_status qn_read_file(const char *path, size_t max_len, uint8_t **buf, size_t *len, struct qn_error *e) {
    *buf = NULL, *len = 0;
    long long size;
    const int fd = qn_open_regular(path, &size, e);
    if (fd < 0) return QN_ERR_IO;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return qn_fail(e, QN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    if ((uint64_t)size > max_len) {
        fclose(f);
        return qn_fail(e, QN_ERR_FORMAT, "%s: %lld bytes, more than the %zu this reader accepts", path, size,
                       max_len);
    }
    const size_t n = (size_t)size;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return qn_fail(e, QN_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    const size_t got = fread(b, 1, n, f);
    fclose(f);
    if (got != n) {
        free(b);
        return qn_fail(e, QN_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
    }
    *buf = b, *len = n;
    return QN_OK;
}

enum qn_status qn_st_read(const char *path, bool check_finite, struct qn_safetensors *st,
                          struct qn_error *e) {
    memset(st, 0, sizeof(*st));
    uint8_t *buf;
    size_t len;
    enum qn_status s = qn_read_file(path, SIZE_MAX, &buf, &len, e);
    if (s) return s;
    s = qn_st_parse(buf, len, path, check_finite, st, e);
    free(buf);
    return s;
}

const struct qn_st_tensor *qn_st_find(const struct qn_safetensors *st, const char *name) {
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *qn_st_meta(const struct qn_safetensors *st, const char *key) {
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

static void shape_str(char *out, size_t cap, int ndim, const int64_t *shape) {
    size_t o = (size_t)snprintf(out, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < cap) snprintf(out + o, cap - o, "]");
}

enum qn_status qn_st_expect(const struct qn_safetensors *st, const char *what, const char *name,
                            enum qn_dtype dtype, int ndim, const int64_t *shape,
                            const struct qn_st_tensor **out, struct qn_error *e) {
    const struct qn_st_tensor *t = qn_st_find(st, name);
    if (!t) return qn_fail(e, QN_ERR_FORMAT, "%s: tensor '%s' is missing", what, name);
    bool same = t->dtype == dtype && t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char want[128], have[128];
        shape_str(want, sizeof(want), ndim, shape);
        shape_str(have, sizeof(have), t->ndim, t->shape);
        return qn_fail(e, QN_ERR_FORMAT, "%s: tensor '%s' is %s %s, expected %s %s", what, name,
                       qn_dtype_name(t->dtype), have, qn_dtype_name(dtype), want);
    }
    if (out) *out = t;
    return QN_OK;
}

// --- writing ---

enum qn_status qn_output_check(const char *path, struct qn_error *e) {
    struct stat sb;
    if (!path || !*path) return qn_fail(e, QN_ERR_ARG, "empty output path");
    if (stat(path, &sb) != 0) return QN_OK;  // a new file (whether it can be made: qn_output_creatable)
    if (S_ISDIR(sb.st_mode)) return qn_fail(e, QN_ERR_ARG, "%s: is a directory, not a file", path);
    // The rename of an atomic write would put a regular file in place of a FIFO, device or socket.
    if (!S_ISREG(sb.st_mode))
        return qn_fail(e, QN_ERR_ARG, "%s: exists and is not a regular file; refusing to replace it", path);
    return QN_OK;
}

// The temporary file qn_write_atomic writes before the rename.
static bool temp_name(char *tmp, size_t cap, const char *path) {
    return (size_t)snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid()) < cap;
}

// qn_write_atomic's first steps: the output check, then its temporary file tmp created (*fd).
static enum qn_status open_temp(const char *path, char tmp[4096], int *fd, struct qn_error *e) {
    *fd = -1;
    enum qn_status st = qn_output_check(path, e);
    if (st) return st;
    if (!temp_name(tmp, 4096, path)) return qn_fail(e, QN_ERR_ARG, "%s: path too long", path);
    *fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    return *fd < 0 ? qn_fail(e, QN_ERR_IO, "%s: cannot create: %s", path, strerror(errno)) : QN_OK;
}

enum qn_status qn_output_creatable(const char *path, struct qn_error *e) {
    // what qn_write_atomic will do first, so a missing or read-only folder fails before the work
    char tmp[4096];
    int fd;
    enum qn_status st = open_temp(path, tmp, &fd, e);
    if (st) return st;
    close(fd);
    unlink(tmp);
    return QN_OK;
}

bool qn_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    const bool ha = stat(a, &sa) == 0, hb = stat(b, &sb) == 0;
    if (ha || hb) return ha && hb && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    // Neither exists yet: the same name in the same folder (both outputs of one command).
    char da[4096], db[4096], na[4096], nb[4096];
    snprintf(da, sizeof(da), "%s", a), snprintf(db, sizeof(db), "%s", b);
    snprintf(na, sizeof(na), "%s", a), snprintf(nb, sizeof(nb), "%s", b);
    if (strcmp(basename(na), basename(nb)) != 0) return false;
    return stat(dirname(da), &sa) == 0 && stat(dirname(db), &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

enum qn_status qn_write_atomic(const char *path, const void *const *parts, const size_t *sizes,
                               size_t n_parts, struct qn_error *e) {
    char tmp[4096];
    int fd;
    enum qn_status st = open_temp(path, tmp, &fd, e);
    if (st) return st;
    for (size_t i = 0; i < n_parts; i++) {
        const char *p = parts[i];
        size_t left = sizes[i];
        while (left) {
            ssize_t w = write(fd, p, left);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                int err = errno;
                close(fd);
                unlink(tmp);
                return qn_fail(e, QN_ERR_IO, "%s: write failed: %s", path, strerror(err ? err : EIO));
            }
            p += w, left -= (size_t)w;
        }
    }
    const int synced = fsync(fd), sync_err = errno;
    if (close(fd) != 0 || synced != 0) {
        int err = synced != 0 ? sync_err : errno;
        unlink(tmp);
        return qn_fail(e, QN_ERR_IO, "%s: fsync failed: %s", path, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return qn_fail(e, QN_ERR_IO, "%s: rename failed: %s", path, strerror(err));
    }
    char dirbuf[4096];
    snprintf(dirbuf, sizeof(dirbuf), "%s", path);
    int dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);  // best effort: makes the rename itself durable
        close(dfd);
    }
    return QN_OK;
}

enum qn_status qn_st_write(const char *path, const struct qn_st_entry *entries, size_t n,
                           const char *const *meta_keys, const char *const *meta_values,
                           size_t n_meta, struct qn_error *e) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return qn_fail(e, QN_ERR_NOMEM, "%s: out of memory", path);
    enum qn_status status = QN_OK;
    if (n_meta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (size_t i = 0; m && i < n_meta; i++) cJSON_AddStringToObject(m, meta_keys[i], meta_values[i]);
    }
    // Tensors are laid out contiguously (the format allows no gaps), widest element type first,
    // so every offset is a multiple of its element size; the order within a width is kept.
    size_t *offset = calloc(n ? n : 1, sizeof(size_t));
    size_t pos = 0;
    for (size_t width = 8; offset && width >= 1 && !status; width /= 2) {
        for (size_t i = 0; i < n; i++) {
            const struct qn_st_entry *t = &entries[i];
            if ((unsigned)t->dtype >= QN_DTYPE_COUNT || t->ndim < 0 || t->ndim > QN_ST_MAX_DIMS) {
                status = qn_fail(e, QN_ERR_ARG, "%s: tensor '%s' has a bad dtype or rank", path, t->name);
                break;
            }
            if (dtype_sizes[t->dtype] != width) continue;
            size_t elems = 1;
            double shape[QN_ST_MAX_DIMS];
            for (int d = 0; d < t->ndim; d++) elems *= (size_t)t->shape[d], shape[d] = (double)t->shape[d];
            offset[i] = pos;
            size_t nb = elems * width;
            cJSON *o = cJSON_GetObjectItemCaseSensitive(root, t->name) || strcmp(t->name, "__metadata__") == 0
                           ? NULL : cJSON_AddObjectToObject(root, t->name);
            if (!o) {
                status = qn_fail(e, QN_ERR_ARG, "%s: cannot add tensor '%s' (duplicate name?)", path, t->name);
                break;
            }
            cJSON_AddStringToObject(o, "dtype", dtype_names[t->dtype]);
            cJSON_AddItemToObject(o, "shape", cJSON_CreateDoubleArray(shape, t->ndim));
            double offs[2] = {(double)pos, (double)(pos + nb)};
            cJSON_AddItemToObject(o, "data_offsets", cJSON_CreateDoubleArray(offs, 2));
            pos += nb;
        }
    }
    char *json = status || !offset ? NULL : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!status && (!json || !offset)) status = qn_fail(e, QN_ERR_NOMEM, "%s: out of memory", path);
    if (status) {
        free(json), free(offset);
        return status;
    }
    // Header padded with spaces (allowed by the format) so the data section starts 64-byte
    // aligned in the file, which lets a reader map it.
    size_t jl = strlen(json);
    size_t hl = QN_ROUND_UP(8 + jl, 64) - 8;
    size_t total = 8 + hl + pos;
    unsigned char *img = calloc(1, total);
    if (!img) {
        free(json), free(offset);
        return qn_fail(e, QN_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, total);
    }
    for (int i = 0; i < 8; i++) img[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(img + 8, json, jl);
    memset(img + 8 + jl, ' ', hl - jl);
    for (size_t i = 0; i < n; i++) {
        size_t elems = 1;
        for (int d = 0; d < entries[i].ndim; d++) elems *= (size_t)entries[i].shape[d];
        if (elems) memcpy(img + 8 + hl + offset[i], entries[i].data, elems * dtype_sizes[entries[i].dtype]);
    }
    const void *parts[1] = {img};
    size_t sizes[1] = {total};
    status = qn_write_atomic(path, parts, sizes, 1, e);
    free(img), free(json), free(offset);
    return status;
}
