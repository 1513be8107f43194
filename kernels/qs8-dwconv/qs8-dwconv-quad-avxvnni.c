// AVX-VNNI row-quad depthwise kernels: VEX vpdpbusd on ymm, 32 multiply-adds per instruction
// (the shared ymm structure in qs8-dwconv-quad-avx2.h).
#define QN_DWQ_VNNI
#include "qs8-dwconv/qs8-dwconv-quad-avx2.h"

QN_DWQ_KERNELS(avxvnni)
