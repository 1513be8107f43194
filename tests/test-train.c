// End-to-end training on a slice of Fashion-MNIST: the supernet must learn, and a run resumed
// from its checkpoint must end bit-identical to an uninterrupted one (same seed and threads).
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "test.h"
#include "weights-edit.h"
#include "train.h"

static char dir[128];

static struct qn_train_cfg small_cfg(const char *out, int epochs) {
    struct qn_train_cfg c;
    qn_train_cfg_default(&c);
    c.out = out;
    c.epochs = epochs;
    c.batch = 32;
    c.limit_train = qt_quick() ? 384 : 640;
    c.limit_val = 200;
    c.warmup_epochs = 0;
    c.lr = 0.1f;
    c.seed = 5;
    c.threads = qn_threads();
    return c;
}

static double meta_val_acc(const char *path) {
    struct qn_safetensors st;
    struct qn_error e;
    if (qn_st_read(path, true, &st, &e)) return -1;
    const char *h = qn_st_meta(&st, "history");
    const char *at = h ? strstr(h, "\"val_top1_max\":") : NULL;
    double v = -1;
    // the last epoch's entry
    while (at) {
        v = atof(at + 15);
        at = strstr(at + 15, "\"val_top1_max\":");
    }
    qn_st_free(&st);
    return v;
}

static void supernet_learns(void) {
    char out[256];
    snprintf(out, sizeof(out), "%s/learn.safetensors", dir);
    struct qn_train_cfg c = small_cfg(out, 2);
    struct qn_error e;
    QT_CHECK(qn_train(&c, &e) == QN_OK, "train: %s", e.msg);
    double acc = meta_val_acc(out);
    printf("    largest subnet after 2 short epochs: %.1f%% on 200 validation images\n", 100 * acc);
    // 10 classes: chance is ~10%; a broken gradient or initialization stays there
    QT_CHECK(acc > (qt_quick() ? 0.25 : 0.35), "validation accuracy %.3f: the supernet did not learn", acc);
}

static void resume_is_exact(void) {
    char a[256], b[256];
    snprintf(a, sizeof(a), "%s/straight.safetensors", dir);
    snprintf(b, sizeof(b), "%s/resumed.safetensors", dir);
    struct qn_error e;
    struct qn_train_cfg c = small_cfg(a, 2);
    QT_CHECK(qn_train(&c, &e) == QN_OK, "straight: %s", e.msg);
    c = small_cfg(b, 2);
    c.stop_after = 1;  // an interrupted run: one epoch, then a checkpoint
    QT_CHECK(qn_train(&c, &e) == QN_OK, "first half: %s", e.msg);
    c = small_cfg(b, 3);
    c.resume = true;
    QT_CHECK(qn_train(&c, &e) == QN_ERR_ARG && strstr(e.msg, "epochs"), "changed recipe accepted: %s", e.msg);
    c = small_cfg(b, 2);
    c.resume = true;
    QT_CHECK(qn_train(&c, &e) == QN_OK, "resume: %s", e.msg);
    // the metadata records wall time, so compare the tensors, not the files
    struct qn_safetensors sa, sb;
    QN_ASSERT(qn_st_read(a, true, &sa, &e) == QN_OK && qn_st_read(b, true, &sb, &e) == QN_OK);
    QT_CHECK(sa.n == sb.n && sa.blob_bytes == sb.blob_bytes && memcmp(sa.blob, sb.blob, sa.blob_bytes) == 0,
             "resumed weights differ from the uninterrupted run");
    qn_st_free(&sa), qn_st_free(&sb);
    // resuming a finished run is refused with a message
    c.resume = true;
    QT_CHECK(qn_train(&c, &e) == QN_ERR_ARG && strstr(e.msg, "already trained"), "finished run: %s", e.msg);
}

// A copy of the checkpoint `src` at `dst` with metadata `key` set to `value` (tensors unchanged).
static void with_meta(const char *src, const char *dst, const char *key, const char *value) {
    struct qn_safetensors st;
    struct qn_error e;
    QN_ASSERT(qn_st_read(src, true, &st, &e) == QN_OK);
    struct qn_st_entry *ent = calloc(st.n, sizeof(*ent));
    const char **vals = calloc(st.n_meta, sizeof(*vals));
    QN_ASSERT(ent && vals);
    for (size_t i = 0; i < st.n; i++) {
        const struct qn_st_tensor *t = &st.tensors[i];
        ent[i] = (struct qn_st_entry){t->name, t->dtype, t->ndim, {0}, t->data};
        memcpy(ent[i].shape, t->shape, sizeof(t->shape));
    }
    for (size_t i = 0; i < st.n_meta; i++) vals[i] = strcmp(st.meta_keys[i], key) ? st.meta_values[i] : value;
    QN_ASSERT(qn_st_write(dst, ent, st.n, (const char *const *)st.meta_keys, vals, st.n_meta, &e) == QN_OK);
    free(ent), free(vals);
    qn_st_free(&st);
}

// --resume reads the progress strictly: a value that is not a whole number in range, or an
// optimizer step that does not match the epochs done, is refused with the file and the key
// (it used to be read with atoi / atol: "-1" resumed "after epoch -1", 2^64 overflowed the step).
static void resume_refuses_bad_metadata(void) {
    char ck[256], bad[256];
    snprintf(ck, sizeof(ck), "%s/meta.safetensors", dir);
    snprintf(bad, sizeof(bad), "%s/meta-bad.safetensors", dir);
    struct qn_train_cfg c = small_cfg(ck, 2);
    c.limit_train = 64, c.limit_val = 20, c.stop_after = 1;
    struct qn_error e;
    QT_CHECK(qn_train(&c, &e) == QN_OK, "first epoch: %s", e.msg);
    // (each qn_train loads the data set first: a few cases keep this under a few seconds)
    struct { const char *key, *value; } cases[] = {
        {"optimizer_step", "99999999999999999999"}, {"optimizer_step", "3"}, {"epochs_done", "-1"},
        {"epochs_done", "abc"}, {"epochs_done", "3"}, {"train_seconds", "-1"},
    };
    c.out = bad, c.stop_after = 0, c.resume = true;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        with_meta(ck, bad, cases[k].key, cases[k].value);
        e.msg[0] = 0;
        enum qn_status st = qn_train(&c, &e);
        QT_CHECK(st == QN_ERR_FORMAT && strstr(e.msg, bad) && strstr(e.msg, cases[k].key),
                 "%s = '%s': status %d, '%s'", cases[k].key, cases[k].value, st, e.msg);
    }
    // the checkpoint as written resumes (64 images / batch 32: 2 steps per epoch)
    with_meta(ck, bad, "optimizer_step", "2");
    QT_CHECK(qn_train(&c, &e) == QN_OK, "valid checkpoint refused: %s", e.msg);
}

// Fewer training images than a batch: refused before any work, nothing written (it used to
// run zero steps, print loss 0 and write a checkpoint).
static void batch_over_training_images(void) {
    char out[256];
    snprintf(out, sizeof(out), "%s/tiny.safetensors", dir);
    struct qn_train_cfg c = small_cfg(out, 1);
    c.limit_train = 1, c.limit_val = 1, c.batch = 2;
    struct qn_error e = {{0}};
    QT_CHECK(qn_train(&c, &e) == QN_ERR_ARG && strstr(e.msg, "--batch 2 exceeds the 1 training images"), "%s", e.msg);
    QT_CHECK(access(out, F_OK) != 0, "a checkpoint was written");
}

// Top-1 of the largest subnet at uniform W<bits>A8 (fake quantization, BN re-estimated the
// same way) on the first 200 validation images, from a weights file.
static double low_bit_acc(const char *path, int bits) {
    struct qn_safetensors st;
    struct qn_error e;
    struct qn_mb_net net;
    const struct qn_mb_space *S = qn_mb_space_fmnist();
    struct qn_dataset tr = {0}, val = {0};
    QN_ASSERT(qn_st_read(path, true, &st, &e) == QN_OK && qn_mb_net_init(&net, S, &e) == QN_OK);
    QN_ASSERT(qn_mb_net_load(&net, &st, path, &e) == QN_OK);
    qn_st_free(&st);
    QN_ASSERT(qn_dataset_load(NULL, QN_SPLIT_TRAIN, &tr, &e) == QN_OK && qn_dataset_load(NULL, QN_SPLIT_VAL, &val, &e) == QN_OK);
    struct qn_mb_genome g;
    struct qn_mb_policy p;
    qn_mb_genome_max(S, &g);
    qn_mb_policy_uniform(S, &g, bits, 8, &p);
    struct qn_mb_run *r = qn_mb_run_new(&net, 100);
    QN_ASSERT(qn_bn_recalibrate(&net, &g, &p, r, 100, &tr, 500, 5) == QN_OK);
    double acc = qn_evaluate(&net, &g, &p, r, 100, &val, 200);
    qn_mb_run_free(r);
    qn_mb_net_free(&net), qn_dataset_free(&tr), qn_dataset_free(&val);
    return acc;
}

// Quantization-aware fine-tuning at 2-bit weights recovers accuracy that 2-bit quantization
// of the FP32-trained supernet loses (two short QAT epochs: one left a margin of a few images
// out of 200 in the quick mode CI runs under ASan).
static void qat_recovers_low_bits(void) {
    char fp[256], q[256];
    snprintf(fp, sizeof(fp), "%s/learn.safetensors", dir);
    snprintf(q, sizeof(q), "%s/qat.safetensors", dir);
    struct qn_train_cfg c = small_cfg(q, 2);
    c.qat = true, c.init = fp, c.qat_bits[0] = 2, c.n_qat_bits = 1, c.lr = 0.05f, c.n_random = 0;
    struct qn_error e;
    QT_CHECK(qn_train(&c, &e) == QN_OK, "qat: %s", e.msg);
    double before = low_bit_acc(fp, 2), after = low_bit_acc(q, 2), fp32 = meta_val_acc(fp);
    printf("    largest subnet, 200 validation images: FP32 %.1f%%, W2A8 %.1f%% before QAT, %.1f%% after\n",
           100 * fp32, 100 * before, 100 * after);
    QT_CHECK(after > before + 0.05, "W2A8 accuracy %.3f after QAT, %.3f before", after, before);
}

// Initial weights that pass the file checks but overflow (the stem's conv weights at 3e38, every
// value finite): training refuses them with one message naming the file at the first step, and
// writes nothing (before: an assertion in the fake quantization of --qat). FP32 and QAT.
static void overflowing_init_refused(void) {
    char init[256], out[256];
    snprintf(init, sizeof(init), "%s/huge-init.safetensors", dir);
    snprintf(out, sizeof(out), "%s/never.safetensors", dir);
    // the committed supernet with the stem's conv weights at 3e38
    QN_ASSERT(qt_weights_with("weights/mbconv-fmnist.safetensors", init, "stem.conv.weight", 3e38f));
    struct qn_error e;
    for (int k = 0; k < 2; k++) {
        struct qn_train_cfg c = small_cfg(out, 1);
        c.init = init, c.qat = k == 0;  // QAT: its fake quantization aborted
        memset(e.msg, 0, sizeof(e.msg));
        const enum qn_status st = qn_train(&c, &e);
        QT_CHECK(st == QN_ERR_FORMAT && strstr(e.msg, init) && strstr(e.msg, "not finite"), "case %d: status %d, '%s'",
                 k, st, e.msg);
        QT_CHECK(access(out, F_OK) != 0, "case %d: %s written", k, out);
    }
    remove(init);
}

int main(int argc, char **argv) {
    (void)argc;
    qn_flush_denormals();
    snprintf(dir, sizeof(dir), "/tmp/qnas-test-train.%ld", (long)getpid());
    mkdir(dir, 0755);
    QT_RUN(supernet_learns);
    QT_RUN(resume_is_exact);
    QT_RUN(resume_refuses_bad_metadata);
    QT_RUN(batch_over_training_images);
    QT_RUN(qat_recovers_low_bits);
    QT_RUN(overflowing_init_refused);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return qt_finish(argv[0]);
}
