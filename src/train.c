// Supernet training with the sandwich rule (largest, smallest and n random subnets per step)
// and in-place distillation from the largest subnet (BigNAS), plus evaluation helpers.
//
// Determinism: every random draw (shuffle, augmentation, subnet sampling) comes from a state
// derived from (seed, epoch, step), and every reduction in the engine has a fixed order for a
// given thread count, so a run -- or a resumed run -- is bit-identical for the same seed and
// thread count.
#include "train.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn.h"

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return z ? z : 1;
}

static uint64_t next(uint64_t *st) {
    uint64_t x = *st;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *st = x;
    return x * 0x2545f4914f6cdd1dull;
}

static void shuffle(int *p, int n, uint64_t seed) {
    uint64_t st = seed;
    for (int i = 0; i < n; i++) p[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(next(&st) % (uint64_t)(i + 1));
        int t = p[i];
        p[i] = p[j], p[j] = t;
    }
}

void qn_batch_make(const struct qn_dataset *ds, const int *idx, int B, bool aug, int pad, uint64_t *rng,
                   float *x, uint8_t *labels) {
    const int H = ds->h, W = ds->w;
    const float scale = 1.0f / (255.0f * QN_FMNIST_STD), shift = -QN_FMNIST_MEAN / QN_FMNIST_STD;
    for (int b = 0; b < B; b++) {
        const uint8_t *img = ds->images + (size_t)idx[b] * H * W;
        float *o = x + (size_t)b * H * W;
        labels[b] = ds->labels[idx[b]];
        int dy = 0, dx = 0, flip = 0;
        if (aug) {
            uint64_t r = next(rng);
            dy = (int)(r % (uint64_t)(2 * pad + 1)) - pad;
            dx = (int)((r >> 16) % (uint64_t)(2 * pad + 1)) - pad;
            flip = (int)((r >> 32) & 1);
        }
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                int si = i + dy, sj = (flip ? W - 1 - j : j) + dx;
                float v = si >= 0 && si < H && sj >= 0 && sj < W ? (float)img[si * W + sj] : 0.0f;
                o[i * W + j] = v * scale + shift;  // padding is black, like the images' background
            }
    }
}

enum qn_status qn_bn_recalibrate(struct qn_mb_net *net, const struct qn_mb_genome *g, const struct qn_mb_policy *pol,
                                 struct qn_mb_run *r, int max_batch, const struct qn_dataset *train, int images,
                                 uint64_t seed) {
    int n = QN_MIN(images, train->n);
    int *perm = malloc(sizeof(int) * (size_t)train->n);
    float *x = qn_alloc(sizeof(float) * (size_t)max_batch * train->h * train->w);
    uint8_t *lab = malloc((size_t)max_batch);
    QN_ASSERT(perm && x && lab);
    shuffle(perm, train->n, mix(seed, 0xbadc0ffee));
    int count = 0;
    enum qn_status st = QN_OK;
    for (int at = 0; at < n && !st; at += max_batch) {
        int B = QN_MIN(max_batch, n - at);
        qn_batch_make(train, perm + at, B, false, 0, NULL, x, lab);
        qn_mb_forward_q(net, g, pol, r, x, B, QN_MB_BN_RECAL, count++);
        if (qn_mb_run_nonfinite(r)) st = QN_ERR_FORMAT;
    }
    free(perm), qn_free(x), free(lab);
    return st;
}

double qn_evaluate(const struct qn_mb_net *net, const struct qn_mb_genome *g, const struct qn_mb_policy *pol,
                   struct qn_mb_run *r, int max_batch, const struct qn_dataset *ds, int limit) {
    int n = limit > 0 ? QN_MIN(limit, ds->n) : ds->n;
    int *idx = malloc(sizeof(int) * (size_t)max_batch);
    float *x = qn_alloc(sizeof(float) * (size_t)max_batch * ds->h * ds->w);
    uint8_t *lab = malloc((size_t)max_batch);
    QN_ASSERT(idx && x && lab);
    const int K = net->space->n_classes;
    long hits = 0;
    for (int at = 0; at < n; at += max_batch) {
        int B = QN_MIN(max_batch, n - at);
        for (int b = 0; b < B; b++) idx[b] = at + b;
        qn_batch_make(ds, idx, B, false, 0, NULL, x, lab);
        const float *z = qn_mb_forward_q(net, g, pol, r, x, B, QN_MB_EVAL, 0);
        for (int b = 0; b < B; b++) {
            int arg = 0;
            for (int k = 1; k < K; k++)
                if (z[b * K + k] > z[b * K + arg]) arg = k;
            hits += arg == lab[b];
        }
    }
    free(idx), qn_free(x), free(lab);
    return n ? (double)hits / n : 0.0;
}

// --- training ---

void qn_train_cfg_default(struct qn_train_cfg *c) {
    *c = (struct qn_train_cfg){
        // lr 0.1 with 2 warm-up epochs: 0.05 left the largest subnet under-fitted (training the
        // largest alone for 8 epochs: val top-1 90.8% at 0.05, 92.4% at 0.15). Weight decay 5e-4
        // (the usual value for SGD at lr 0.1 on 32x32-scale data): at 5e-5 the weights shrank by
        // only ~4% over the whole run (exp(-sum lr * wd)), i.e. hardly regularized, and the test
        // top-1 of the largest subnet stayed 0.6 pp under its validation top-1.
        .epochs = 40, .batch = 128, .optim = QN_OPT_SGD, .lr = 0.1f, .weight_decay = 5e-4f,
        .momentum = 0.9f, .smoothing = 0.1f, .warmup_epochs = 2.0f, .n_random = 2, .seed = 1,
        .qat_bits = {4, 6, 8}, .n_qat_bits = 3,
    };
}

static float lr_at(const struct qn_train_cfg *c, double epoch_f) {
    // linear warm-up, then cosine to zero
    if (epoch_f < c->warmup_epochs) return c->lr * (float)((epoch_f + 1e-3) / c->warmup_epochs);
    double t = (epoch_f - c->warmup_epochs) / QN_MAX(1e-9, c->epochs - c->warmup_epochs);
    return (float)(0.5 * c->lr * (1.0 + cos(M_PI * QN_MIN(1.0, t))));
}

struct opt_state {
    float *m, *v;  // momentum (SGD) or first/second moments (AdamW), [n_floats]
    long step;
};

static void opt_step(struct qn_mb_net *net, const struct qn_train_cfg *c, struct opt_state *o, float lr) {
    o->step++;
    const float wd = c->weight_decay, mu = c->momentum;
    const double b1 = 0.9, b2 = 0.999;
    const float bc1 = (float)(1.0 - pow(b1, (double)o->step)), bc2 = (float)(1.0 - pow(b2, (double)o->step));
    for (size_t t = 0; t < net->n_tensors; t++) {
        const struct qn_mb_tensor *tt = &net->tensors[t];
        if (!tt->trainable) continue;
        float *w = net->w + tt->offset, *g = net->grad + tt->offset, *m = o->m + tt->offset, *v = o->v + tt->offset;
        const float d = tt->decay ? wd : 0.0f;
        if (c->optim == QN_OPT_SGD) {
            // Nesterov momentum, decay added to the gradient (PyTorch SGD semantics)
            for (size_t i = 0; i < tt->count; i++) {
                float gi = g[i] + d * w[i];
                m[i] = mu * m[i] + gi;
                w[i] -= lr * (gi + mu * m[i]);
            }
        } else {
            for (size_t i = 0; i < tt->count; i++) {
                m[i] = (float)b1 * m[i] + (float)(1 - b1) * g[i];
                v[i] = (float)b2 * v[i] + (float)(1 - b2) * g[i] * g[i];
                float mh = m[i] / bc1, vh = v[i] / bc2;
                w[i] -= lr * (mh / (sqrtf(vh) + 1e-8f) + d * w[i]);
            }
        }
    }
}

static const char *optim_name(enum qn_optim o) { return o == QN_OPT_SGD ? "sgd-nesterov" : "adamw"; }

// Metadata: the space, the recipe, and the progress so --resume can continue exactly.
static char *recipe_json(const struct qn_train_cfg *c) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "optimizer", optim_name(c->optim));
    cJSON_AddNumberToObject(j, "epochs", c->epochs);
    cJSON_AddNumberToObject(j, "batch", c->batch);
    cJSON_AddNumberToObject(j, "lr", c->lr);
    cJSON_AddNumberToObject(j, "weight_decay", c->weight_decay);
    cJSON_AddNumberToObject(j, "momentum", c->momentum);
    cJSON_AddNumberToObject(j, "label_smoothing", c->smoothing);
    cJSON_AddNumberToObject(j, "warmup_epochs", c->warmup_epochs);
    cJSON_AddStringToObject(j, "schedule", "linear warm-up, cosine to 0");
    cJSON_AddNumberToObject(j, "random_subnets_per_step", c->n_random);
    cJSON_AddStringToObject(j, "sandwich", "largest (label-smoothed CE) + smallest + random (KL to largest)");
    cJSON_AddStringToObject(j, "augmentation", "random crop, zero padding 2; horizontal flip");
    cJSON_AddNumberToObject(j, "seed", (double)c->seed);
    cJSON_AddNumberToObject(j, "threads", c->threads);
    cJSON_AddNumberToObject(j, "limit_train", c->limit_train);
    cJSON_AddNumberToObject(j, "limit_val", c->limit_val);
    if (c->qat) {
        cJSON_AddStringToObject(j, "qat", "fake quantization, STE; per-layer weight bits drawn from qat_bits (1/3: "
                                          "one width for all layers), activations 8 bits; FP32 largest subnet teaches");
        cJSON_AddItemToObject(j, "qat_bits", cJSON_CreateIntArray(c->qat_bits, c->n_qat_bits));
        cJSON_AddStringToObject(j, "init", c->init ? c->init : "");
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static char *space_json(const struct qn_mb_space *s) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", s->name);
    cJSON_AddNumberToObject(j, "input", s->in_h);
    cJSON_AddNumberToObject(j, "stem_channels", s->stem_c);
    cJSON_AddItemToObject(j, "stage_channels", cJSON_CreateIntArray(s->stage_c, s->n_stages));
    cJSON_AddItemToObject(j, "stage_strides", cJSON_CreateIntArray(s->stage_stride, s->n_stages));
    cJSON_AddNumberToObject(j, "head_channels", s->head_c);
    cJSON_AddItemToObject(j, "depths", cJSON_CreateIntArray(s->depths, s->n_depths));
    cJSON_AddItemToObject(j, "kernels", cJSON_CreateIntArray(s->kernels, s->n_kernels));
    cJSON_AddItemToObject(j, "expansions", cJSON_CreateIntArray(s->expands, s->n_expands));
    cJSON_AddStringToObject(j, "elastic_kernel", "k x k = learned (k^2 x k^2) transform of the centre of the next larger kernel (Once-for-All)");
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return out;
}

// A checkpoint's integer metadata: decimal digits only (the writer's "%d" / "%ld" of a count),
// the whole string, at most hi.
static bool meta_count(const char *s, long long hi, long long *out) {
    if (!s || !*s) return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') return false;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE || v > hi) return false;
    *out = v;
    return true;
}

static enum qn_status save_checkpoint(const struct qn_train_cfg *c, const struct qn_mb_net *net,
                                      const struct opt_state *o, int epochs_done, const char *history,
                                      double elapsed, struct qn_error *e) {
    const bool final = epochs_done >= c->epochs;
    size_t n = net->n_tensors, total = final ? n : 3 * n;
    struct qn_st_entry *ent = calloc(total, sizeof(*ent));
    char(*names)[80] = calloc(total, 80);
    if (!ent || !names) {
        free(ent), free(names);
        return qn_fail(e, QN_ERR_NOMEM, "out of memory writing %s", c->out);
    }
    qn_mb_net_entries(net, ent);
    size_t k = n;
    for (size_t t = 0; !final && t < n; t++) {
        const struct qn_mb_tensor *tt = &net->tensors[t];
        if (!tt->trainable) continue;
        for (int which = 0; which < 2; which++) {
            snprintf(names[k], 80, "optim.%s.%s", which ? "v" : "m", tt->name);
            ent[k] = ent[t];
            ent[k].name = names[k];
            ent[k].data = (which ? o->v : o->m) + tt->offset;
            k++;
        }
    }
    char *recipe = recipe_json(c), *space = space_json(net->space);
    char done[32], step[32], secs[32];
    snprintf(done, sizeof(done), "%d", epochs_done);
    snprintf(step, sizeof(step), "%ld", o->step);
    snprintf(secs, sizeof(secs), "%.0f", elapsed);
    const char *keys[] = {"format", "space", "space_def", "recipe", "epochs_done", "optimizer_step",
                          "train_seconds", "history", "command"};
    const char *vals[] = {"qnas-supernet-1", net->space->name, space, recipe, done, step, secs, history,
                          c->cmdline ? c->cmdline : ""};
    enum qn_status s = qn_st_write(c->out, ent, k, keys, vals, sizeof(keys) / sizeof(keys[0]), e);
    free(recipe), free(space), free(ent), free(names);
    return s;
}

static void progress(bool tty, int epoch, int epochs, int step, int steps, double loss, float lr, double ips,
                     double eta) {
    if (tty) {
        int width = 24, filled = steps ? step * width / steps : 0;
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\repoch %d/%d [%s] step %d/%d  loss %.4f  lr %.4f  %.0f img/s  ETA %dm%02ds ", epoch, epochs,
                bar, step, steps, loss, lr, ips, (int)(eta / 60), (int)fmod(eta, 60));
    } else {
        fprintf(stderr, "epoch %d/%d step %d/%d loss %.4f lr %.5f %.0f img/s ETA %.0f s\n", epoch, epochs, step, steps,
                loss, lr, ips, eta);
    }
}

// QAT precision sampling: a third of the time one width for every layer (so the uniform
// policies are trained as such), otherwise a width per layer; activations 8 bits.
static void sample_policy(const struct qn_mb_space *S, const struct qn_mb_genome *g, const struct qn_train_cfg *c,
                          uint64_t *rng, struct qn_mb_policy *p) {
    if (next(rng) % 3 == 0) {
        int b = c->qat_bits[next(rng) % (uint64_t)c->n_qat_bits];
        qn_mb_policy_uniform(S, g, b, 8, p);
    } else {
        qn_mb_policy_random(S, g, c->qat_bits, c->n_qat_bits, rng, p);
    }
}

enum qn_status qn_train(const struct qn_train_cfg *c, struct qn_error *e) {
    const struct qn_mb_space *S = qn_mb_space_fmnist();
    struct qn_dataset train = {0}, val = {0};
    struct qn_mb_net net = {0};
    struct qn_mb_run *run = NULL;
    struct opt_state o = {0};
    float *x = NULL, *dlogits = NULL, *teacher = NULL;
    uint8_t *lab = NULL;
    int *perm = NULL;
    cJSON *hist = NULL;
    enum qn_status st;
    if ((st = qn_dataset_load_fit(c->data_dir, QN_SPLIT_TRAIN, S->in_h, S->in_w, S->n_classes, &train, e)) ||
        (st = qn_dataset_load_fit(c->data_dir, QN_SPLIT_VAL, S->in_h, S->in_w, S->n_classes, &val, e)))
        goto out;
    if (c->limit_train > 0 && c->limit_train < train.n) train.n = c->limit_train;
    // The last partial batch is dropped (BN needs full batches): fewer images than a batch
    // would train nothing and still write a checkpoint.
    if (train.n < c->batch) {
        st = qn_fail(e, QN_ERR_ARG, "--batch %d exceeds the %d training images", c->batch, train.n);
        goto out;
    }
    const int steps = train.n / c->batch;
    if ((st = qn_mb_net_init(&net, S, e)) || (st = qn_mb_net_alloc_grad(&net, e))) goto out;
    o.m = qn_alloc(net.n_floats * sizeof(float));
    o.v = qn_alloc(net.n_floats * sizeof(float));
    const int B = c->batch, K = S->n_classes;
    run = qn_mb_run_new(&net, B);
    x = qn_alloc(sizeof(float) * (size_t)B * S->in_h * S->in_w);
    dlogits = qn_alloc(sizeof(float) * (size_t)B * K);
    teacher = qn_alloc(sizeof(float) * (size_t)B * K);
    lab = malloc((size_t)B);
    perm = malloc(sizeof(int) * (size_t)train.n);
    if (!o.m || !o.v || !run || !x || !dlogits || !teacher || !lab || !perm) {
        st = qn_fail(e, QN_ERR_NOMEM, "out of memory for training");
        goto out;
    }
    memset(o.m, 0, net.n_floats * sizeof(float));
    memset(o.v, 0, net.n_floats * sizeof(float));
    qn_mb_net_init_weights(&net, c->seed);
    // Activations that are not finite before this run's first update come from the weights it
    // loaded (the --init file or the resumed checkpoint), not from a diverged training.
    const char *loaded = NULL;
    long steps_run = 0;
    if (c->init && !(c->resume && access(c->out, F_OK) == 0)) {
        loaded = c->init;
        struct qn_safetensors in;
        if ((st = qn_st_read(c->init, true, &in, e))) goto out;
        st = qn_mb_net_load(&net, &in, c->init, e);
        qn_st_free(&in);
        if (st) goto out;
    }
    int start_epoch = 0;
    double elapsed_before = 0;
    hist = cJSON_CreateArray();
    if (c->resume && access(c->out, F_OK) == 0) {
        struct qn_safetensors ck;
        if ((st = qn_st_read(c->out, true, &ck, e))) goto out;
        const char *sp = qn_st_meta(&ck, "space"), *done = qn_st_meta(&ck, "epochs_done");
        const char *stp = qn_st_meta(&ck, "optimizer_step"), *his = qn_st_meta(&ck, "history");
        const char *secs = qn_st_meta(&ck, "train_seconds");
        if (!sp || strcmp(sp, S->name) != 0 || !done || !stp) {
            qn_st_free(&ck);
            st = qn_fail(e, QN_ERR_FORMAT, "%s: not a %s training checkpoint (metadata missing)", c->out, S->name);
            goto out;
        }
        if ((st = qn_mb_net_load(&net, &ck, c->out, e))) {
            qn_st_free(&ck);
            goto out;
        }
        loaded = c->out;
        // The run continues exactly only under the recipe it started with.
        const char *rec = qn_st_meta(&ck, "recipe");
        char *mine = recipe_json(c);
        cJSON *a = rec ? cJSON_Parse(rec) : NULL, *b = cJSON_Parse(mine);
        const char *keys[] = {"optimizer", "epochs", "batch", "lr", "weight_decay", "momentum", "label_smoothing",
                              "warmup_epochs", "random_subnets_per_step", "seed", "limit_train", "qat_bits"};
        const char *differs = a ? NULL : "recipe";
        for (size_t k = 0; a && !differs && k < sizeof(keys) / sizeof(keys[0]); k++) {
            cJSON *x = cJSON_GetObjectItemCaseSensitive(a, keys[k]), *y = cJSON_GetObjectItemCaseSensitive(b, keys[k]);
            if ((x == NULL) != (y == NULL) || (x && !cJSON_Compare(x, y, true))) differs = keys[k];
        }
        cJSON *th = a ? cJSON_GetObjectItemCaseSensitive(a, "threads") : NULL;
        if (!differs && th && cJSON_IsNumber(th) && th->valueint != c->threads)
            fprintf(stderr, "qnas: note: %s was trained with %d threads, resuming with %d: the run stays valid but is "
                            "no longer bit-identical to an uninterrupted one\n", c->out, th->valueint, c->threads);
        cJSON_Delete(a), cJSON_Delete(b), free(mine);
        if (differs) {
            st = qn_fail(e, QN_ERR_ARG, "%s: --resume with a different %s than the checkpoint's recipe (%s)", c->out,
                         differs, rec ? rec : "none");
            qn_st_free(&ck);
            goto out;
        }
        // The progress, checked against the recipe: epochs_done in 0..epochs, and each finished
        // epoch took exactly `steps` optimizer steps (checkpoints are written between epochs).
        long long nd = 0, ns = 0;
        char *end = NULL;
        elapsed_before = secs ? strtod(secs, &end) : 0;
        if (!meta_count(done, c->epochs, &nd))
            st = qn_fail(e, QN_ERR_FORMAT, "%s: checkpoint metadata epochs_done is '%.40s', expected a whole number in "
                         "0..%d (--epochs)", c->out, done, c->epochs);
        else if (!meta_count(stp, LLONG_MAX, &ns) || ns != nd * steps)
            st = qn_fail(e, QN_ERR_FORMAT, "%s: checkpoint metadata optimizer_step is '%.40s', expected %lld "
                         "(epochs_done %lld x %d steps per epoch)", c->out, stp, nd * steps, nd, steps);
        else if (secs && (end == secs || *end || !(elapsed_before >= 0 && elapsed_before < 1e12)))
            st = qn_fail(e, QN_ERR_FORMAT, "%s: checkpoint metadata train_seconds is '%.40s', expected seconds >= 0",
                         c->out, secs);
        if (st) {
            qn_st_free(&ck);
            goto out;
        }
        start_epoch = (int)nd;
        o.step = (long)ns;
        if (start_epoch >= c->epochs) {
            qn_st_free(&ck);
            st = qn_fail(e, QN_ERR_ARG, "%s: already trained for %d epochs (--epochs %d); nothing to resume", c->out,
                         start_epoch, c->epochs);
            goto out;
        }
        for (size_t t = 0; t < net.n_tensors; t++) {
            if (!net.tensors[t].trainable) continue;
            for (int which = 0; which < 2; which++) {
                char nm[96];
                snprintf(nm, sizeof(nm), "optim.%s.%s", which ? "v" : "m", net.tensors[t].name);
                const struct qn_st_tensor *src;
                if ((st = qn_st_expect(&ck, c->out, nm, QN_DTYPE_F32, net.tensors[t].ndim, net.tensors[t].shape, &src,
                                       e))) {
                    qn_st_free(&ck);
                    goto out;
                }
                memcpy((which ? o.v : o.m) + net.tensors[t].offset, src->data, net.tensors[t].count * sizeof(float));
            }
        }
        if (his) {
            cJSON *h = cJSON_Parse(his);
            if (cJSON_IsArray(h)) cJSON_Delete(hist), hist = h;
            else cJSON_Delete(h);
        }
        qn_st_free(&ck);
        fprintf(stderr, "qnas: resuming %s after epoch %d (step %ld)\n", c->out, start_epoch, o.step);
    }
    const bool tty = isatty(2);
    struct qn_mb_genome gmax, gmin, gr;
    struct qn_mb_policy qpol, q4max;
    qn_mb_genome_max(S, &gmax);
    qn_mb_genome_min(S, &gmin);
    qn_mb_policy_uniform(S, &gmax, 4, 8, &q4max);
    const double t_start = qn_now();
    long images_done = 0;
    const int end_epoch = c->stop_after > 0 ? QN_MIN(c->epochs, start_epoch + c->stop_after) : c->epochs;
    for (int epoch = start_epoch; epoch < end_epoch; epoch++) {
        shuffle(perm, train.n, mix(c->seed, (uint64_t)epoch + 1));
        double loss_sum = 0;
        int loss_n = 0;
        const double t_epoch = qn_now();
        for (int step = 0; step < steps; step++) {
            uint64_t rng = mix(mix(c->seed, (uint64_t)epoch + 1), (uint64_t)step + 1);
            qn_batch_make(&train, perm + (size_t)step * B, B, true, 2, &rng, x, lab);
            memset(net.grad, 0, net.n_floats * sizeof(float));
            // largest subnet on the labels; its softened outputs teach the others
            const float *z = qn_mb_forward(&net, &gmax, run, x, B, QN_MB_TRAIN, 0);
            bool nonfinite = qn_mb_run_nonfinite(run);
            float loss = qn_nn_softmax_xent(B, K, z, lab, c->smoothing, NULL, dlogits, NULL);
            qn_nn_softmax(B, K, z, teacher);
            qn_mb_backward(&net, &gmax, run, dlogits);
            // students: FP32 training distils the smallest and n_random random subnets; QAT
            // distils the largest, the smallest and n_random random subnets, each at random bits
            for (int s = c->qat ? -1 : 0; s < 1 + c->n_random; s++) {
                if (s < 0) gr = gmax;
                else if (s == 0) gr = gmin;
                else qn_mb_genome_sample(S, &rng, &gr);
                const struct qn_mb_policy *pol = NULL;
                if (c->qat) {
                    sample_policy(S, &gr, c, &rng, &qpol);
                    pol = &qpol;
                }
                z = qn_mb_forward_q(&net, &gr, pol, run, x, B, QN_MB_TRAIN, 0);
                nonfinite |= qn_mb_run_nonfinite(run);
                qn_nn_softmax_xent(B, K, z, NULL, 0.0f, teacher, dlogits, NULL);
                qn_mb_backward(&net, &gr, run, dlogits);
            }
            float lr = lr_at(c, epoch + (double)step / steps);
            opt_step(&net, c, &o, lr);
            if (!isfinite(loss) || nonfinite) {
                if (!steps_run && loaded)
                    st = qn_fail(e, QN_ERR_FORMAT, "%s: activations are not finite on the first training step "
                                                   "(weights out of range?)", loaded);
                else
                    st = qn_fail(e, QN_ERR_ARG, "training diverged at epoch %d step %d (loss %f); lower --lr",
                                 epoch + 1, step + 1, loss);
                goto out;
            }
            steps_run++;
            loss_sum += loss, loss_n++;
            images_done += B;
            if (tty ? (step % 5 == 4 || step == steps - 1) : (step % 100 == 99 || step == steps - 1)) {
                double el = qn_now() - t_start, ips = images_done / QN_MAX(el, 1e-9);
                double left = ((double)(c->epochs - epoch) * steps - step - 1) * B / QN_MAX(ips, 1e-9);
                progress(tty, epoch + 1, c->epochs, step + 1, steps, loss_sum / loss_n, lr, ips, left);
            }
        }
        if (tty) fputc('\n', stderr);
        // validation of the two extremes, each after BN re-estimation (2,000 training images)
        // (QAT: also the largest at W4A8, fake-quantized over each batch's ranges)
        double acc[3] = {0, 0, -1};
        for (int w = 0; w < (c->qat ? 3 : 2); w++) {
            const struct qn_mb_genome *g = w == 1 ? &gmin : &gmax;
            const struct qn_mb_policy *pol = w == 2 ? &q4max : NULL;
            if (qn_bn_recalibrate(&net, g, pol, run, B, &train, c->limit_val ? QN_MIN(2000, c->limit_val) : 2000,
                                  c->seed)) {
                const char *which = w == 1 ? "smallest" : w == 2 ? "largest (W4A8)" : "largest";
                if (!steps_run && loaded)
                    st = qn_fail(e, QN_ERR_FORMAT, "%s: activations are not finite for the %s subnet (weights out "
                                                   "of range?)", loaded, which);
                else
                    st = qn_fail(e, QN_ERR_ARG, "training diverged in epoch %d: the %s subnet's activations are not "
                                                "finite; lower --lr", epoch + 1, which);
                goto out;
            }
            acc[w] = qn_evaluate(&net, g, pol, run, B, &val, c->limit_val);
        }
        double ep_s = qn_now() - t_epoch;
        char qacc[48] = "";
        if (c->qat) snprintf(qacc, sizeof(qacc), ", max W4A8 %.2f%%", 100 * acc[2]);
        fprintf(stderr, "epoch %d/%d done in %.0f s: train loss %.4f, val top-1 max %.2f%% min %.2f%%%s\n", epoch + 1,
                c->epochs, ep_s, loss_sum / QN_MAX(loss_n, 1), 100 * acc[0], 100 * acc[1], qacc);
        cJSON *h = cJSON_CreateObject();
        cJSON_AddNumberToObject(h, "epoch", epoch + 1);
        cJSON_AddNumberToObject(h, "train_loss", loss_sum / QN_MAX(loss_n, 1));
        cJSON_AddNumberToObject(h, "val_top1_max", acc[0]);
        cJSON_AddNumberToObject(h, "val_top1_min", acc[1]);
        if (c->qat) cJSON_AddNumberToObject(h, "val_top1_max_w4a8", acc[2]);
        cJSON_AddNumberToObject(h, "seconds", ep_s);
        cJSON_AddItemToArray(hist, h);
        char *hs = cJSON_PrintUnformatted(hist);
        st = save_checkpoint(c, &net, &o, epoch + 1, hs, elapsed_before + qn_now() - t_start, e);
        free(hs);
        if (st) goto out;
    }
    st = QN_OK;
out:
    cJSON_Delete(hist);
    qn_dataset_free(&train), qn_dataset_free(&val);
    qn_mb_run_free(run);
    qn_mb_net_free(&net);
    qn_free(o.m), qn_free(o.v), qn_free(x), qn_free(dlogits), qn_free(teacher);
    free(lab), free(perm);
    return st;
}
