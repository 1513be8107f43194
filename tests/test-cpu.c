// ISA selection and dispatch plumbing.
#include "test.h"

static void isa_levels_are_ordered(void) {
    // Every level the machine supports implies the ones below it.
    for (int i = QN_ISA_COUNT - 1; i > 0; i--)
        if (qn_isa_supported((enum qn_isa)i) && i != QN_ISA_AVX512)
            QT_CHECK(qn_isa_supported((enum qn_isa)(i - 1)), "level %d without %d", i, i - 1);
    QT_CHECK(qn_isa_supported(QN_ISA_SCALAR), "scalar must always be supported");
    QT_CHECK(qn_isa_supported(qn_isa_best()), "best level is unsupported");
}

static void isa_names_roundtrip(void) {
    for (int i = 0; i < QN_ISA_COUNT; i++)
        QT_CHECK((int)qn_isa_parse(qn_isa_name((enum qn_isa)i)) == i, "name of level %d", i);
    QT_CHECK(qn_isa_parse("sse9") == QN_ISA_COUNT, "unknown name accepted");
    QT_CHECK(qn_isa_parse(NULL) == QN_ISA_COUNT, "NULL name accepted");
}

static void isa_set_refuses_unsupported(void) {
    enum qn_isa saved = qn_isa();
    for (int i = 0; i < QN_ISA_COUNT; i++) {
        bool ok = qn_isa_set((enum qn_isa)i);
        QT_CHECK(ok == qn_isa_supported((enum qn_isa)i), "set level %d", i);
        if (ok) QT_CHECK(qn_isa() == (enum qn_isa)i, "level %d not in use after set", i);
    }
    qn_isa_set(saved);
}

static void alloc_is_aligned(void) {
    for (size_t n = 1; n < 5000; n += 997) {
        void *p = qn_alloc(n);
        QT_CHECK(p && ((uintptr_t)p & 63) == 0, "qn_alloc(%zu) not 64-byte aligned", n);
        qn_free(p);
    }
    QT_CHECK(qn_alloc(0) == NULL, "qn_alloc(0) should return NULL");
}

// Cache sizes from cpuid: where reported, each level is a plausible size and no smaller than
// the level below it (this x86 machine reports all three; other machines may report none).
static void cache_sizes_plausible(void) {
    const struct qn_cpu_features *f = qn_cpu();
    const unsigned long sz[3] = {f->l1d, f->l2, f->l3};
    for (int i = 0; i < 3; i++)
        if (sz[i]) QT_CHECK(sz[i] >= (4ul << 10) && sz[i] <= (1ul << 30), "L%d %lu bytes", i + 1, sz[i]);
    if (f->l1d && f->l2) QT_CHECK(f->l2 >= f->l1d, "L2 %lu < L1d %lu", f->l2, f->l1d);
    if (f->l2 && f->l3) QT_CHECK(f->l3 >= f->l2, "L3 %lu < L2 %lu", f->l3, f->l2);
#if defined(__x86_64__)
    if (f->avx2) QT_CHECK(f->l1d && f->l2, "an AVX2 x86 CPU reported no L1d / L2 size");
#endif
}

// Library callers get the CLI's bound: 99999 threads crashed libgomp through QNAS_THREADS.
static void threads_set_capped(void) {
    const int saved = qn_threads();
    qn_threads_set(99999);
    QT_CHECK(qn_threads() == QN_MAX_THREADS, "qn_threads_set(99999) gave %d threads", qn_threads());
    qn_threads_set(3);
    QT_CHECK(qn_threads() == 3, "qn_threads_set(3) gave %d", qn_threads());
    qn_threads_set(saved);
    QT_CHECK(qn_threads() == saved, "restored %d, got %d", saved, qn_threads());
}

int main(int argc, char **argv) {
    (void)argc;
    QT_RUN(isa_levels_are_ordered);
    QT_RUN(isa_names_roundtrip);
    QT_RUN(isa_set_refuses_unsupported);
    QT_RUN(alloc_is_aligned);
    QT_RUN(cache_sizes_plausible);
    QT_RUN(threads_set_capped);
    return qt_finish(argv[0]);
}
