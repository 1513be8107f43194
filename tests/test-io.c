// Readers: IDX datasets and safetensors, including hostile inputs.
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "idx.h"
#include "safetensors.h"
#include "test.h"

static char tmpdir[256];

static void path_in_tmp(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", tmpdir, name); }

// --- IDX ---

static void write_gz(const char *path, const void *data, size_t n) {
    gzFile f = gzopen(path, "wb");
    QN_ASSERT(f);
    if (n) QN_ASSERT(gzwrite(f, data, (unsigned)n) == (int)n);
    gzclose(f);
}

static size_t idx_image(unsigned char *buf, int n, int h, int w, int pixel_bytes_missing) {
    unsigned char hdr[16] = {0, 0, 8, 3};
    int dims[3] = {n, h, w};
    for (int d = 0; d < 3; d++)
        for (int b = 0; b < 4; b++) hdr[4 + 4 * d + b] = (unsigned char)(dims[d] >> (24 - 8 * b));
    memcpy(buf, hdr, 16);
    size_t px = (size_t)n * h * w - pixel_bytes_missing;
    for (size_t i = 0; i < px; i++) buf[16 + i] = (unsigned char)(i * 7);
    return 16 + px;
}

static void idx_reads_valid_and_rejects_broken(void) {
    char p[512];
    unsigned char buf[16 + 6 * 4 * 3 + 8];
    int dims[3];
    uint8_t *data;
    struct qn_error e;
    path_in_tmp(p, sizeof(p), "ok-idx3.gz");
    write_gz(p, buf, idx_image(buf, 6, 4, 3, 0));
    QT_CHECK(qn_idx_read(p, 3, dims, &data, &e) == QN_OK, "valid file rejected: %s", e.msg);
    QT_CHECK(dims[0] == 6 && dims[1] == 4 && dims[2] == 3, "dims %d %d %d", dims[0], dims[1], dims[2]);
    QT_CHECK(data && data[5] == 35, "pixel 5 is %d", data ? data[5] : -1);
    qn_free(data);

    path_in_tmp(p, sizeof(p), "trunc-idx3.gz");
    write_gz(p, buf, idx_image(buf, 6, 4, 3, 5));
    QT_CHECK(qn_idx_read(p, 3, dims, &data, &e) == QN_ERR_FORMAT && data == NULL, "truncated accepted");
    QT_CHECK(strstr(e.msg, "truncated") && strstr(e.msg, p), "message: %s", e.msg);

    path_in_tmp(p, sizeof(p), "trail-idx3.gz");
    size_t n = idx_image(buf, 6, 4, 3, 0);
    buf[n] = 1;
    write_gz(p, buf, n + 1);
    QT_CHECK(qn_idx_read(p, 3, dims, &data, &e) == QN_ERR_FORMAT, "trailing bytes accepted");

    path_in_tmp(p, sizeof(p), "magic-idx3.gz");
    idx_image(buf, 6, 4, 3, 0);
    buf[2] = 9;
    write_gz(p, buf, n);
    QT_CHECK(qn_idx_read(p, 3, dims, &data, &e) == QN_ERR_FORMAT && strstr(e.msg, "magic"), "bad magic: %s", e.msg);

    path_in_tmp(p, sizeof(p), "huge-idx3.gz");
    idx_image(buf, 6, 4, 3, 0);
    buf[4] = 0x7f;  // 2 billion images
    write_gz(p, buf, n);
    QT_CHECK(qn_idx_read(p, 3, dims, &data, &e) == QN_ERR_FORMAT, "absurd dimension accepted");

    // Within the dimension limits but promising 13 GB: rejected as truncated without
    // allocating what the header claims.
    path_in_tmp(p, sizeof(p), "liar-idx3.gz");
    idx_image(buf, 6, 4, 3, 0);
    buf[4] = 0x00, buf[5] = 0xff, buf[6] = 0xff, buf[7] = 0xff;
    buf[8 + 2] = 0x01, buf[8 + 3] = 0x00, buf[12 + 2] = 0x01, buf[12 + 3] = 0x00;
    write_gz(p, buf, n);
    QT_CHECK(qn_idx_read(p, 3, dims, &data, &e) == QN_ERR_FORMAT && strstr(e.msg, "truncated"), "liar: %s", e.msg);

    path_in_tmp(p, sizeof(p), "empty.gz");
    write_gz(p, buf, 0);
    QT_CHECK(qn_idx_read(p, 3, dims, &data, &e) == QN_ERR_FORMAT, "empty file accepted");

    path_in_tmp(p, sizeof(p), "no-such-file");
    QT_CHECK(qn_idx_read(p, 3, dims, &data, &e) == QN_ERR_IO, "missing file not an I/O error");
}

static void dataset_splits(void) {
    struct qn_dataset ds;
    struct qn_error e;
    struct stat sb;
    if (stat(QN_FMNIST_DIR, &sb) != 0) {
        // The kernel tests do not need the data; say so loudly rather than pass silently.
        QT_CHECK(0, "Fashion-MNIST missing: apt-get install dataset-fashion-mnist");
        return;
    }
    int want[3] = {55000, 5000, 10000};
    for (int s = 0; s < 3; s++) {
        enum qn_status st = qn_dataset_load(NULL, (enum qn_split)s, &ds, &e);
        QT_CHECK(st == QN_OK, "%s: %s", qn_split_name((enum qn_split)s), e.msg);
        if (st) continue;
        QT_CHECK(ds.n == want[s] && ds.h == 28 && ds.w == 28 && ds.n_classes == 10, "%s: n=%d %dx%d classes=%d",
                 qn_split_name((enum qn_split)s), ds.n, ds.h, ds.w, ds.n_classes);
        int hist[10] = {0};
        for (int i = 0; i < ds.n; i++) hist[ds.labels[i]]++;
        for (int c = 0; c < 10; c++) QT_CHECK(hist[c] > ds.n / 20, "class %d has %d images", c, hist[c]);
        qn_dataset_free(&ds);
    }
    QT_CHECK(qn_dataset_load(tmpdir, QN_SPLIT_TEST, &ds, &e) == QN_ERR_IO && strstr(e.msg, "t10k-images"),
             "folder without the files: %s", e.msg);
    // an MNIST-format folder of the wrong image size, then of too many classes: loads, but
    // does not fit a 28x28, 10-class model
    char p[512];
    static unsigned char img[16 + 3 * 14 * 14];
    const unsigned char lab[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 11};
    path_in_tmp(p, sizeof(p), "t10k-images-idx3-ubyte.gz");
    write_gz(p, img, idx_image(img, 3, 14, 14, 0));
    path_in_tmp(p, sizeof(p), "t10k-labels-idx1-ubyte.gz");
    write_gz(p, lab, sizeof(lab));
    QT_CHECK(qn_dataset_load(tmpdir, QN_SPLIT_TEST, &ds, &e) == QN_OK, "small images: %s", e.msg);
    QT_CHECK(qn_dataset_fits(&ds, tmpdir, 28, 28, 10, &e) == QN_ERR_FORMAT && strstr(e.msg, "14x14"),
             "14x14 images accepted: %s", e.msg);
    QT_CHECK(qn_dataset_fits(&ds, tmpdir, 14, 14, 10, &e) == QN_ERR_FORMAT && strstr(e.msg, "labels up to 11"),
             "label 11 accepted for 10 classes: %s", e.msg);
    QT_CHECK(qn_dataset_fits(&ds, tmpdir, 14, 14, 12, &e) == QN_OK, "fitting data refused: %s", e.msg);
    qn_dataset_free(&ds);
    path_in_tmp(p, sizeof(p), "t10k-images-idx3-ubyte.gz");
    unlink(p);
    path_in_tmp(p, sizeof(p), "t10k-labels-idx1-ubyte.gz");
    unlink(p);
}

// --- safetensors ---

static void st_roundtrip(void) {
    char p[512];
    path_in_tmp(p, sizeof(p), "rt.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6};
    int8_t b[3] = {-1, 0, 1};
    int32_t c[2] = {7, -7};
    struct qn_st_entry es[3] = {
        {"b.int8", QN_DTYPE_I8, 1, {3}, b},
        {"a", QN_DTYPE_F32, 2, {2, 3}, a},
        {"c", QN_DTYPE_I32, 1, {2}, c},
    };
    const char *k[2] = {"space", "recipe"}, *v[2] = {"mbconv-fmnist", "{\"epochs\": 3}"};
    struct qn_error e;
    QT_CHECK(qn_st_write(p, es, 3, k, v, 2, &e) == QN_OK, "write: %s", e.msg);
    struct qn_safetensors st;
    QT_CHECK(qn_st_read(p, true, &st, &e) == QN_OK, "read back: %s", e.msg);
    if (st.n != 3) {
        QT_CHECK(0, "%zu tensors", st.n);
        return;
    }
    const struct qn_st_tensor *t;
    int64_t sa[2] = {2, 3}, sb[1] = {3};
    QT_CHECK(qn_st_expect(&st, p, "a", QN_DTYPE_F32, 2, sa, &t, &e) == QN_OK && memcmp(t->data, a, 24) == 0, "a");
    QT_CHECK(((uintptr_t)t->data & 63) == 0 || ((uintptr_t)t->data & 3) == 0, "a misaligned");
    QT_CHECK(qn_st_expect(&st, p, "b.int8", QN_DTYPE_I8, 1, sb, &t, &e) == QN_OK && memcmp(t->data, b, 3) == 0, "b");
    QT_CHECK(qn_st_expect(&st, p, "a", QN_DTYPE_F32, 1, sb, &t, &e) == QN_ERR_FORMAT && strstr(e.msg, "expected"),
             "wrong shape not reported: %s", e.msg);
    QT_CHECK(qn_st_expect(&st, p, "zz", QN_DTYPE_F32, 1, sb, &t, &e) == QN_ERR_FORMAT && strstr(e.msg, "missing"),
             "missing tensor not reported");
    QT_CHECK(qn_st_meta(&st, "space") && strcmp(qn_st_meta(&st, "space"), "mbconv-fmnist") == 0, "metadata");
    QT_CHECK(qn_st_meta(&st, "nope") == NULL, "absent metadata key found");
    qn_st_free(&st);
    // no temp file left behind
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", p, (long)getpid());
    QT_CHECK(access(tmp, F_OK) != 0, "temp file left behind");
    // duplicate names refused by the writer
    struct qn_st_entry dup[2] = {{"x", QN_DTYPE_U8, 1, {1}, b}, {"x", QN_DTYPE_U8, 1, {1}, b}};
    QT_CHECK(qn_st_write(p, dup, 2, NULL, NULL, 0, &e) == QN_ERR_ARG, "duplicate names written");
}

// Outputs: an existing folder, FIFO or other non-regular file is refused (the rename of the
// atomic write would replace a FIFO by a regular file) and left as it was; a missing folder is
// reported before any work; "same file" is decided by device and inode, not by the spelling.
// An input that is a FIFO is refused at once: opened to read, it would wait for a writer
// forever (the alarm ends the run, which then counts as failed, should that come back).
static void fifo_inputs_refused(void) {
    char fifo[512];
    path_in_tmp(fifo, sizeof(fifo), "in.fifo");
    QN_ASSERT(mkfifo(fifo, 0644) == 0);
    alarm(20);
    struct qn_error e = {{0}};
    uint8_t *buf = NULL, *data = NULL;
    size_t len = 0;
    int dims[3];
    QT_CHECK(qn_read_file(fifo, 1 << 20, &buf, &len, &e) == QN_ERR_IO && strstr(e.msg, "not a regular file"),
             "qn_read_file on a FIFO: %s", e.msg);
    e.msg[0] = 0;
    QT_CHECK(qn_idx_read(fifo, 3, dims, &data, &e) == QN_ERR_IO && strstr(e.msg, "not a regular file"),
             "qn_idx_read on a FIFO: %s", e.msg);
    alarm(0);
    free(buf), free(data);
    unlink(fifo);
}

static void output_checks(void) {
    char fifo[512], dir[512], reg[512], dotted[512], hard[512], soft[512], tmp[600];
    path_in_tmp(fifo, sizeof(fifo), "out.fifo");
    path_in_tmp(dir, sizeof(dir), "out.dir");
    path_in_tmp(reg, sizeof(reg), "out.bin");
    snprintf(dotted, sizeof(dotted), "%s/./out.bin", tmpdir);
    path_in_tmp(hard, sizeof(hard), "out.hard");
    path_in_tmp(soft, sizeof(soft), "out.soft");
    QN_ASSERT(mkfifo(fifo, 0644) == 0 && mkdir(dir, 0755) == 0);
    struct qn_error e = {{0}};
    const char bytes[4] = "abc";
    const void *parts[1] = {bytes};
    const size_t sizes[1] = {sizeof(bytes)};
    QT_CHECK(qn_write_atomic(fifo, parts, sizes, 1, &e) == QN_ERR_ARG && strstr(e.msg, "not a regular file"),
             "a FIFO was written over: %s", e.msg);
    struct stat sb;
    QT_CHECK(stat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), "the FIFO was replaced");
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", fifo, (long)getpid());
    QT_CHECK(access(tmp, F_OK) != 0, "temp file left next to the FIFO");
    QT_CHECK(qn_write_atomic(dir, parts, sizes, 1, &e) == QN_ERR_ARG && strstr(e.msg, "directory"),
             "a folder as output: %s", e.msg);
    QT_CHECK(qn_output_creatable(fifo, &e) == QN_ERR_ARG, "FIFO creatable");
    QT_CHECK(qn_output_creatable("/nonexistent-qnas/x.bin", &e) == QN_ERR_IO && strstr(e.msg, "cannot create"),
             "missing folder: %s", e.msg);
    QT_CHECK(qn_output_creatable(reg, &e) == QN_OK && access(reg, F_OK) != 0, "a new file: %s", e.msg);
    QT_CHECK(qn_write_atomic(reg, parts, sizes, 1, &e) == QN_OK, "regular file: %s", e.msg);
    QT_CHECK(qn_output_check(reg, &e) == QN_OK && qn_output_creatable(reg, &e) == QN_OK, "existing regular file");
    QN_ASSERT(link(reg, hard) == 0 && symlink(reg, soft) == 0);
    QT_CHECK(qn_same_file(reg, dotted) && qn_same_file(reg, hard) && qn_same_file(soft, reg), "same file missed");
    QT_CHECK(!qn_same_file(reg, fifo) && !qn_same_file(reg, "/nonexistent-qnas/out.bin"), "different files matched");
    char a[512], b[512];
    path_in_tmp(a, sizeof(a), "new.bin");
    snprintf(b, sizeof(b), "%s/../%s/new.bin", tmpdir, strrchr(tmpdir, '/') + 1);
    QT_CHECK(qn_same_file(a, b), "two spellings of one new file not matched");
    path_in_tmp(b, sizeof(b), "new2.bin");
    QT_CHECK(!qn_same_file(a, b), "two new files matched");
    unlink(fifo), rmdir(dir), unlink(reg), unlink(hard), unlink(soft);
}

static size_t make_file(unsigned char *out, const char *json, size_t data_len) {
    size_t hl = strlen(json);
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(out + 8, json, hl);
    memset(out + 8 + hl, 0, data_len);
    return 8 + hl + data_len;
}

static void st_rejects_hostile(void) {
    struct { const char *json; size_t data; const char *why; } cases[] = {
        {"[1,2]", 0, "not a JSON object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "not a JSON object"},
        {"{\"a\":{\"dtype\":\"F99\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unsupported"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "bytes for"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "within"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "bad size"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,8]}}", 8, "bad size"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "within"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlaps"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "describe"},
        {"{\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[2,6]},"
         "\"b\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 6, "multiple"},
        {"{\"__metadata__\":{\"k\":3}}", 0, "not a string"},
        // a second object used to be appended past arrays sized for the first (heap overflow)
        {"{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"},\"__metadata__\":{\"x\":\"y\"}}", 0,
         "__metadata__ appears twice"},
        {"{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0, "key 'a' appears twice"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
         "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, "twice"},
    };
    unsigned char buf[1024];
    struct qn_safetensors st;
    struct qn_error e;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = make_file(buf, cases[i].json, cases[i].data);
        e.msg[0] = 0;
        enum qn_status s = qn_st_parse(buf, n, "mem", false, &st, &e);
        QT_CHECK(s == QN_ERR_FORMAT && strstr(e.msg, cases[i].why), "case %zu: status %d, message '%s'", i, s, e.msg);
        if (s == QN_OK) qn_st_free(&st);
    }
    // header length larger than the file
    size_t n = make_file(buf, "{}", 0);
    buf[0] = 200;
    QT_CHECK(qn_st_parse(buf, n, "mem", false, &st, &e) == QN_ERR_FORMAT, "header length past EOF accepted");
    QT_CHECK(qn_st_parse(buf, 5, "mem", false, &st, &e) == QN_ERR_FORMAT, "5-byte file accepted");
    // non-finite values
    float nanv = NAN;
    n = make_file(buf, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    memcpy(buf + n - 4, &nanv, 4);
    QT_CHECK(qn_st_parse(buf, n, "mem", false, &st, &e) == QN_OK, "NaN rejected without check_finite");
    qn_st_free(&st);
    QT_CHECK(qn_st_parse(buf, n, "mem", true, &st, &e) == QN_ERR_FORMAT && strstr(e.msg, "non-finite"),
             "NaN accepted: %s", e.msg);
}

// Deterministic mutation fuzzing of a valid file: every mutant must parse or be rejected cleanly
// (under ASan/UBSan in make test-asan, any out-of-bounds access aborts the run).
static void st_mutation_fuzz(void) {
    float a[5] = {1, 2, 3, 4, 5};
    int8_t b[7] = {1, 2, 3, 4, 5, 6, 7};
    struct qn_st_entry es[2] = {{"w", QN_DTYPE_F32, 2, {1, 5}, a}, {"q", QN_DTYPE_I8, 1, {7}, b}};
    char p[512];
    path_in_tmp(p, sizeof(p), "seed.safetensors");
    struct qn_error e;
    QN_ASSERT(qn_st_write(p, es, 2, NULL, NULL, 0, &e) == QN_OK);
    FILE *f = fopen(p, "rb");
    unsigned char seed[4096];
    size_t len = fread(seed, 1, sizeof(seed), f);
    fclose(f);
    unsigned char m[4096];
    int ok = 0, rejected = 0, trials = qt_quick() ? 3000 : 30000;
    qt_seed(42);
    for (int t = 0; t < trials; t++) {
        memcpy(m, seed, len);
        size_t n = len;
        int edits = qt_int(1, 4);
        for (int k = 0; k < edits; k++) {
            int kind = qt_int(0, 3);
            size_t at = (size_t)qt_int(0, (int)n - 1);
            if (kind == 0) m[at] = (unsigned char)qt_u64();
            else if (kind == 1) m[at] = "0123456789[]{},:\"-e."[qt_int(0, 19)];
            else if (kind == 2) n = at + 1;  // truncate
            else m[at] ^= (unsigned char)(1u << qt_int(0, 7));
        }
        struct qn_safetensors st;
        if (qn_st_parse(m, n, "mutant", true, &st, &e) == QN_OK) {
            ok++;
            // A parse that succeeds must describe memory inside the data section.
            for (size_t i = 0; i < st.n; i++) {
                const char *d = st.tensors[i].data;
                QT_CHECK(d >= (char *)st.blob && d + st.tensors[i].nbytes <= (char *)st.blob + st.blob_bytes,
                         "tensor outside data");
            }
            qn_st_free(&st);
        } else {
            rejected++;
            QT_CHECK(e.msg[0] != 0, "rejection without a message");
        }
    }
    QT_CHECK(rejected > trials / 2 && ok > 0, "ok %d rejected %d: mutations not exercising both paths", ok, rejected);
}

int main(int argc, char **argv) {
    (void)argc;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/qnas-test-io.%ld", (long)getpid());
    mkdir(tmpdir, 0755);
    QT_RUN(idx_reads_valid_and_rejects_broken);
    QT_RUN(dataset_splits);
    QT_RUN(st_roundtrip);
    QT_RUN(output_checks);
    QT_RUN(fifo_inputs_refused);
    QT_RUN(st_rejects_hostile);
    QT_RUN(st_mutation_fuzz);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return qt_finish(argv[0]);
}
