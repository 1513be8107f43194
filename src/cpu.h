// CPU feature detection, ISA selection and thread count.
//
// The ISA level is chosen once at start-up from cpuid (the highest the machine and the OS
// support) and may be lowered with QNAS_ISA=avx512|avxvnni|avx2|scalar. Each op keeps one
// config per level, filled once; operators index it with qn_isa(). Tests and benchmarks call
// qn_isa_set() to run every level the machine supports in one process.
#pragma once

#include <stdbool.h>

enum qn_isa {
    QN_ISA_SCALAR = 0,  // portable C
    QN_ISA_AVX2,        // AVX2 + FMA
    QN_ISA_AVXVNNI,     // AVX2 + FMA + AVX-VNNI (VEX vpdpbusd on ymm)
    QN_ISA_AVX512,      // AVX-512 F/BW/VL/DQ + AVX512-VNNI
    QN_ISA_COUNT,
};

struct qn_cpu_features {
    bool sse42, avx, avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512vbmi, avx512bf16, avx512fp16;
    bool avxvnni, amx_tile, amx_int8, amx_bf16;
    bool os_avx, os_avx512;  // XCR0 says the OS saves ymm / zmm + opmask state
    bool os_amx;             // XCR0 has the tile state and Linux granted this process its use
    // data / unified cache sizes in bytes from cpuid's deterministic cache leaf (4 on Intel,
    // 0x8000001D on AMD), 0 when not reported; l3 is the whole cache, shared by its cores
    unsigned long l1d, l2, l3;
    char brand[49];
};

const struct qn_cpu_features *qn_cpu(void);

// Highest level this machine supports.
enum qn_isa qn_isa_best(void);
// The level in use: qn_isa_best(), lowered by QNAS_ISA at first call, or set by qn_isa_set().
enum qn_isa qn_isa(void);
bool qn_isa_supported(enum qn_isa isa);
// Returns false (and changes nothing) when the machine lacks that level.
bool qn_isa_set(enum qn_isa isa);
const char *qn_isa_name(enum qn_isa isa);
// Parses "avx512", "avxvnni", "avx2", "scalar"; returns QN_ISA_COUNT when unknown.
enum qn_isa qn_isa_parse(const char *name);

// AMX (Intel's tile unit: tdpbusd, 16x16x64 u8 x s8 per instruction) runs the INT8 GEMM at
// the AVX-512 level when the CPU has AMX-TILE + AMX-INT8 and the OS lets this process use the
// tile state (Linux asks for it per process: arch_prctl ARCH_REQ_XCOMP_PERM, requested at
// detection). It changes no weight layout, so it can be switched at run time: QNAS_AMX=0 at
// start-up, or qn_amx_set(false), runs the VNNI kernels instead (tests run both).
bool qn_amx_supported(void);
// The switch: supported and not turned off (QNAS_AMX=0, qn_amx_set), whatever the level.
bool qn_amx_enabled(void);
// In use: enabled and at the AVX-512 level.
bool qn_amx(void);
// Returns false (and changes nothing) when asked to switch on what the machine lacks.
bool qn_amx_set(bool on);

// Outputs of at least this many bytes bypass the caches (non-temporal stores, where a kernel
// has them: the INT8 GEMM's FP32 tiles, the FP32 depthwise band kernel): a quarter of the L3,
// whose other three quarters hold the inputs and the other cores' data, and at most 8 MiB (also
// when cpuid reports no L3). The next layer would find little of such an output in cache
// anyway, and the stores skip reading every line for ownership first. The cap: a VM guest may
// be shown the host's whole L3, shared with other tenants (480 MiB on the Xeon with AMX, 2
// cores), where a 28 MB output already went to memory: the FP32 depthwise 5x5 layer at batch 64
// (64x28x28x144) ran 34 GFLOP/s with plain stores and 97 streaming, 13.8 MB outputs 1.1-1.6x
// faster streaming; 4.8 MB ones (64x14x14x96 3x3) 0.84x, so they stay under the cap.
// qn_stream_bytes_set(b) overrides it (b < 0: back to the default); for tests and tuning.
double qn_stream_bytes(void);
void qn_stream_bytes_set(double bytes);

// Orders earlier non-temporal stores before later stores (sfence; a no-op off x86). Each
// thread that streamed calls it before its results are read by another.
static inline void qn_store_fence(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_sfence();
#endif
}

// Flush denormal floats to zero (FTZ) and read them as zero (DAZ) on this thread and every
// OpenMP worker. Gradients of a trained network drift into the denormal range, where each FMA
// costs a microcode assist (training ran 2x slower without it). Called once by the CLI.
void qn_flush_denormals(void);

// OpenMP thread count used by every parallel region: QNAS_THREADS, else the number of
// online cores. qn_threads_set(n) overrides (--threads N), at most QN_MAX_THREADS (libgomp
// fails thread creation, or worse, far past the machine); n <= 0 returns to the default.
int qn_threads(void);
void qn_threads_set(int n);
// A thread count as --threads and QNAS_THREADS take it: decimal digits only, 1..QN_MAX_THREADS.
#define QN_MAX_THREADS 1024
bool qn_threads_parse(const char *s, int *n);
