// Standalone quantized models (`.qnas` files): one deployable subnet (struct qn_qnet) at its
// policy, with the integer weight codes bit-packed at their real widths and no supernet, so
// `qnas run` rebuilds the exact network `qnas eval` measured (bit-identical logits).
//
// Format, version 1. Every integer is little-endian; f32 is IEEE-754 binary32, i32 two's
// complement.
//
//   offset   size  field
//   0        4     magic "QNAS"
//   4        4     u32 format version (1)
//   8        4     u32 H, header length in bytes (1 .. 65536)
//   12       H     header: one JSON object (UTF-8), keys:
//                    "space"          search space name, e.g. "mbconv-fmnist"
//                    "genome"         genome text (models/mbconv.h)
//                    "policy"         policy text (models/mbconv-policy.h)
//                    "layers"         number of layer records = layers of the genome
//                    "calib", "wcalib", "percentile", "symmetric_act", "bn_images",
//                    "calib_images"   how the model was built (struct qn_qnet_cfg; reports)
//                    "seed"           the build seed, as a decimal string (a u64 does not fit
//                                     a JSON number exactly)
//                  unknown keys are ignored (additions that old readers may skip keep version 1)
//   12 + H   4     u32 zlib crc32 of bytes [0, 12 + H)
//   then one record per layer, in qn_mb_layers order:
//   +0       4     u32 P, body length
//   +4       P     body (below)
//   +4 + P   4     u32 crc32 of the record's bytes [+0, +4 + P)
//   the file ends right after the last record.
//
//   body     size  field
//   0        1     kind (enum qn_mb_layer_kind)
//   1        1     weight bits (0: FP32 layer, else 2..8)
//   2        1     activation bits (0 for FP32, else 2..8)
//   3        1     0 (reserved)
//   4        16    u32 cin, cout, k, weights (elements): all must equal the genome's layer
//   FP32 layer:
//   20       4 cout           f32 bias (batch norm folded)
//   ...      4 weights        f32 folded weights, layout of qn_qnet_layer.w
//   quantized layer (W wbits, A abits; lim = 2^(wbits-1) - 1):
//   20       4     f32 input activation scale (finite, >= FLT_MIN)
//   24       4     i32 input zero point, 0 .. 2^abits - 1
//   28       4 cout           f32 per-output-channel weight scale (finite, > 0)
//   ...      4 cout           f32 bias
//   ...      ceil(weights * wbits / 8)  weight codes in [-lim, lim], layout of
//                  qn_qnet_layer.wq, packed as one LSB-first bit stream: code i is the
//                  wbits-bit two's complement field at stream bits [i * wbits, (i + 1) * wbits),
//                  stream bit j being bit j % 8 of byte j / 8 (at 4 bits: low nibble first);
//                  the unused high bits of the last byte are 0.
//
// So a quantized layer takes exactly the bytes qn_mb_policy_size_bytes counts, and a file is
// qn_qnet_size_bytes + 16 + H + 28 per layer. Quantized layers carry no FP32 weights: the
// loaded qnet's w is the dequantized wq * wscale.
//
// The reader trusts nothing and reports one message naming the file and the problem
// (QN_ERR_FORMAT): bad magic, unsupported version, truncation, checksum mismatch, trailing
// bytes, unknown space, bad genome / policy text, a record that does not match its layer, a
// non-finite or non-positive scale, a non-finite bias or weight, a code outside the bit range,
// a zero point outside 0..qmax. Lengths read from the file are only compared with the bytes
// left; every allocation is sized from the (validated) genome, never from the file.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "qnet.h"

#define QN_QNAS_VERSION 1u
#define QN_QNAS_MAX_HEADER 65536u
#define QN_QNAS_MAX_FILE ((size_t)256 << 20)  // far above any model of the spaces we have
#define QN_QNAS_MAX_BATCH 65536

// Writes q atomically (temp file, fsync, rename): on error no file, not even a partial one,
// is left at path. q must be fully built (qn_qnet_build or qn_qnas_read); a layer whose values
// the reader would reject (non-finite, bad scale) gives QN_ERR_ARG and nothing is written.
enum qn_status qn_qnas_write(const char *path, const struct qn_qnet *q, struct qn_error *e);

// Reads a model into a runnable qnet (free with qn_qnet_free) for batches up to max_batch
// (1 .. QN_QNAS_MAX_BATCH). QN_ERR_IO for an unreadable file, QN_ERR_FORMAT for bad contents,
// QN_ERR_ARG for a bad max_batch, QN_ERR_NOMEM. On error *q holds nothing to free.
// The loaded qnet has no calibration data and no FP32 weights for its quantized layers:
// qn_qnet_forward and qn_qnet_forward_fake are exactly those of the exported qnet,
// qn_qnet_forward_fp32 runs the dequantized weights; qn_qnet_set_layer and qn_qnet_nsr have
// nothing to work from.
enum qn_status qn_qnas_read(const char *path, struct qn_qnet *q, int max_batch, struct qn_error *e);

// The same on a file image in memory (the fuzz target's entry point); `what` names the source
// in messages.
enum qn_status qn_qnas_parse(const uint8_t *buf, size_t len, const char *what, struct qn_qnet *q, int max_batch,
                             struct qn_error *e);
