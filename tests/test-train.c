// End-to-end training on a slice of Fashion-MNIST: the supernet must learn, and a run resumed
// from its checkpoint must end bit-identical to an uninterrupted one (same seed and threads).
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "test.h"
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

int main(int argc, char **argv) {
    (void)argc;
    qn_flush_denormals();
    snprintf(dir, sizeof(dir), "/tmp/qnas-test-train.%ld", (long)getpid());
    mkdir(dir, 0755);
    QT_RUN(supernet_learns);
    QT_RUN(resume_is_exact);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return qt_finish(argv[0]);
}
