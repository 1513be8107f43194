#!/usr/bin/python3
# Optional: checks one subnet of our runtime against the same subnet rebuilt in PyTorch, then
# times both on the same thread count.
#
#   bench/torch-compare.py [--weights W] [--genome max|min|random:SEED|TEXT] [--threads T]
#                          [--images N] [--json OUT] [--qnas build/qnas] [--data DIR]
#
# Needs Debian's PyTorch (apt-get install python3-torch) and runs under /usr/bin/python3, where
# that package lives; exits 2 without it. Steps:
#   1. `qnas eval --save-subnet --logits` writes the supernet with batch norm re-estimated for the
#      genome (same tensors as the supernet file) and our FP32 logits [N][10] (raw f32 LE) on the
#      first N test images.
#   2. The subnet is rebuilt in torch from those tensors exactly as qn_mb_forward computes it
#      (src/supernet.c): leading channels, Once-for-All kernel transforms for k < k_max, BN in
#      eval mode with the stored statistics. Logits must agree to 1e-4 of their largest
#      magnitude and on every argmax, or the script exits 1.
#   3. Latency medians at batch 1 and 64: ours from `qnas eval --json` (FP32 and INT8), torch
#      eager and torch.jit.freeze'd, NCHW and channels_last, under no_grad, after warm-up.
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as exc:
    print(f"torch-compare: PyTorch (with NumPy) is not importable under {sys.executable} ({exc}).\n"
          "It is optional; install it with:\n    apt-get install python3-torch\n"
          "and run this script with /usr/bin/python3.", file=sys.stderr)
    sys.exit(2)

TOL = 1e-4       # max |torch - ours| / max |ours|: FP32 with different summation orders
BN_EPS = 1e-5    # QN_NN_BN_EPS
MEAN, STD = 0.2860, 0.3530  # QN_FMNIST_MEAN / STD (src/train.h)
DATA_DIR = "/usr/share/datasets/fashion-mnist"  # QN_FMNIST_DIR (src/idx.h)

# What the tensor shapes do not say (models/mbconv.c): strides and kernel choices.
SPACES = {
    "mbconv-fmnist": dict(stem_stride=1, stage_strides=[2, 2, 2, 1, 1], kernels=[3, 5, 7], in_hw=28),
}


# --- files ---

def read_safetensors(path):
    """Tensors (as float32 torch tensors) and metadata of a safetensors file, without the
    safetensors package."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise SystemExit(f"torch-compare: {path}: tensor {name} is {t['dtype']}, expected F32")
        a, b = t["data_offsets"]
        arr = np.frombuffer(blob, dtype="<f4", count=(b - a) // 4, offset=base + a)
        out[name] = torch.from_numpy(arr.copy()).reshape(t["shape"])
    return out, meta


def read_idx_images(data_dir, n):
    """First n test images, uint8 [n][28][28] (IDX, plain or gzipped, as src/idx.c)."""
    base = os.path.join(data_dir, "t10k-images-idx3-ubyte")
    path = base + ".gz" if os.path.exists(base + ".gz") else base
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        blob = f.read()
    magic, count, h, w = struct.unpack(">IIII", blob[:16])
    if magic != 0x00000803:
        raise SystemExit(f"torch-compare: {path}: bad IDX magic {magic:#010x}")
    n = min(n, count)
    return np.frombuffer(blob, dtype=np.uint8, count=n * h * w, offset=16).reshape(n, h, w)


def normalize(images):
    """qn_batch_make: v * (1 / (255 std)) - mean / std in float32, as NCHW [B][1][28][28]."""
    scale = np.float32(1.0) / (np.float32(255.0) * np.float32(STD))
    shift = np.float32(-MEAN) / np.float32(STD)
    x = images.astype(np.float32) * scale + shift
    return torch.from_numpy(x[:, None, :, :].copy())


def parse_genome(text):
    """'k7e6,k5e4/k3e3,...' -> per stage a list of (kernel, expansion)."""
    stages = []
    for st in text.split("/"):
        blocks = []
        for blk in st.split(","):
            k, e = blk[1:].split("e")
            blocks.append((int(k), int(e)))
        stages.append(blocks)
    return stages


# --- the subnet in torch ---

def ohwi(w):  # our conv weights are OHWI; torch wants OIHW
    return w.permute(0, 3, 1, 2).contiguous()


def make_bn(t, prefix, c):
    bn = nn.BatchNorm2d(c, eps=BN_EPS)
    bn.weight.data.copy_(t[prefix + ".bn.weight"][:c])
    bn.bias.data.copy_(t[prefix + ".bn.bias"][:c])
    bn.running_mean.copy_(t[prefix + ".bn.running_mean"][:c])
    bn.running_var.copy_(t[prefix + ".bn.running_var"][:c])
    return bn


def dw_kernel(t, prefix, kernels, k, ce):
    """The k x k depthwise kernel [k][k][ce] after the kernel transforms (dw_chain):
    w_j[t][c] = sum_s T_j[t][s] * centre_{k_j}(w_{j+1})[s][c], from the stored k_max weight."""
    w = t[prefix + ".weight"][:, :, :ce]  # [kmax][kmax][ce_max] -> leading ce channels
    for j in range(len(kernels) - 2, kernels.index(k) - 1, -1):
        kj, kn = kernels[j], kernels[j + 1]
        o = (kn - kj) // 2
        centre = w[o:o + kj, o:o + kj, :].reshape(kj * kj, ce)
        T = t[f"{prefix}.kernel_transform_{kn}to{kj}"]  # [kj^2][kj^2]
        w = (T @ centre).reshape(kj, kj, ce)
    return w


class Block(nn.Module):
    def __init__(self, t, p, cin, cout, k, e, stride, kernels):
        super().__init__()
        ce = cin * e
        self.expand = nn.Conv2d(cin, ce, 1, bias=False)
        self.expand.weight.data.copy_(ohwi(t[p + ".expand.weight"][:ce]))
        self.bn1 = make_bn(t, p + ".expand", ce)
        self.dw = nn.Conv2d(ce, ce, k, stride=stride, padding=k // 2, groups=ce, bias=False)
        self.dw.weight.data.copy_(dw_kernel(t, p + ".dw", kernels, k, ce).permute(2, 0, 1).unsqueeze(1))
        self.bn2 = make_bn(t, p + ".dw", ce)
        self.project = nn.Conv2d(ce, cout, 1, bias=False)
        self.project.weight.data.copy_(ohwi(t[p + ".project.weight"][:, :, :, :ce]))
        self.bn3 = make_bn(t, p + ".project", cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = F.relu6(self.bn1(self.expand(x)))
        y = F.relu6(self.bn2(self.dw(y)))
        y = self.bn3(self.project(y))
        if self.residual:
            y = y + x
        return y


class Subnet(nn.Module):
    def __init__(self, t, space, genome):
        super().__init__()
        sw = t["stem.conv.weight"]  # [stem_c][k][k][in_c]
        stem_c, sk = sw.shape[0], sw.shape[1]
        self.stem = nn.Conv2d(sw.shape[3], stem_c, sk, stride=space["stem_stride"], padding=sk // 2, bias=False)
        self.stem.weight.data.copy_(ohwi(sw))
        self.stem_bn = make_bn(t, "stem.conv", stem_c)
        blocks, cin = [], stem_c
        for i, stage in enumerate(genome):
            cout = t[f"s{i + 1}.b1.project.weight"].shape[0]
            for b, (k, e) in enumerate(stage):
                stride = space["stage_strides"][i] if b == 0 else 1
                blocks.append(Block(t, f"s{i + 1}.b{b + 1}", cin, cout, k, e, stride, space["kernels"]))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        hw = t["head.conv.weight"]  # [head_c][1][1][c_last]
        self.head = nn.Conv2d(hw.shape[3], hw.shape[0], 1, bias=False)
        self.head.weight.data.copy_(ohwi(hw))
        self.head_bn = make_bn(t, "head.conv", hw.shape[0])
        cw = t["classifier.weight"]
        self.classifier = nn.Linear(cw.shape[1], cw.shape[0])
        self.classifier.weight.data.copy_(cw)
        self.classifier.bias.data.copy_(t["classifier.bias"])

    def forward(self, x):
        x = F.hardswish(self.stem_bn(self.stem(x)))
        x = self.blocks(x)
        x = F.hardswish(self.head_bn(self.head(x)))
        return self.classifier(x.mean(dim=(2, 3)))


# --- running ---

def run_qnas(a, genome, policy, limit, extra):
    cmd = [a.qnas, "--threads", str(a.threads), "eval", "--weights", a.weights, "--genome", genome,
           "--policy", policy, "--split", "test", "--limit", str(limit), "--json"] + extra
    if a.data:
        cmd += ["--data", a.data]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"torch-compare: `{' '.join(cmd)}` failed with exit code {p.returncode}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def time_ms(fn, x, reps, warmup):
    """(median, min) of reps timed calls, in ms."""
    with torch.no_grad():
        for _ in range(warmup):
            fn(x)
        t = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn(x)
            t.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(t)), float(np.min(t))


def busy_cpus(seconds=0.5):
    """CPUs kept busy by other processes over a short idle wait (from /proc/stat), or None."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return (os.cpu_count() or 1) * (1.0 - (i1 - i0) / max(t1 - t0, 1))


def blas_library():
    """The BLAS shared object torch ended up with (Debian's alternatives decide), for the record:
    the reference libblas is far slower than OpenBLAS for torch's non-oneDNN paths."""
    try:
        with open("/proc/self/maps") as f:
            libs = {l.split()[-1] for l in f if "blas" in l.lower() and l.split()[-1].startswith("/")}
        return ", ".join(sorted(os.path.realpath(p) for p in libs)) or "none loaded"
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description="Check a qnas subnet against PyTorch and compare latencies.")
    ap.add_argument("--qnas", default="build/qnas")
    ap.add_argument("--weights", default="weights/mbconv-fmnist.safetensors")
    ap.add_argument("--genome", default="max")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=256, help="test images for the logits check")
    ap.add_argument("--data", default=None, help="Fashion-MNIST folder (default: qnas's, " + DATA_DIR + ")")
    ap.add_argument("--reps", type=int, default=50, help="timed runs at batch 1 (batch 64: reps/5, at least 5)")
    ap.add_argument("--json", default="build/torch-compare.json")
    a = ap.parse_args()
    if a.threads < 1 or a.images < 1 or a.reps < 3:
        ap.error("--threads, --images need to be >= 1 and --reps >= 3")
    torch.set_num_threads(a.threads)

    # 1. our subnet and logits
    with tempfile.TemporaryDirectory(prefix="torch-compare.") as tmp:
        sub_path, logits_path = os.path.join(tmp, "subnet.safetensors"), os.path.join(tmp, "logits.bin")
        info = run_qnas(a, a.genome, "fp32", a.images,
                        ["--no-latency", "--save-subnet", sub_path, "--logits", logits_path])
        t, meta = read_safetensors(sub_path)
        ours = np.fromfile(logits_path, dtype="<f4")
    genome = info["genome"]
    n = info["images"]
    ours = torch.from_numpy(ours.reshape(n, -1))
    space_name = meta.get("space", "mbconv-fmnist")
    if space_name not in SPACES:
        raise SystemExit(f"torch-compare: unknown space '{space_name}' (knows {', '.join(SPACES)})")
    if meta.get("genome", genome) != genome:
        raise SystemExit(f"torch-compare: subnet file is for {meta['genome']}, qnas reported {genome}")
    space = SPACES[space_name]

    # 2. the same subnet in torch, and the check
    model = Subnet(t, space, parse_genome(genome)).eval()
    x = normalize(read_idx_images(a.data or DATA_DIR, n))
    with torch.no_grad():
        theirs = torch.cat([model(x[i:i + 64]) for i in range(0, n, 64)])
    err = (theirs - ours).abs().max().item() / max(ours.abs().max().item(), 1e-30)
    agree = (theirs.argmax(1) == ours.argmax(1)).float().mean().item()
    ok = err <= TOL and agree == 1.0
    print(f"genome {genome}")
    print(f"check on {n} test images: max |torch - ours| / max |ours| = {err:.3e} (limit {TOL:.0e}), "
          f"argmax agreement {100 * agree:.2f}%, our top-1 {100 * info['accuracy']:.2f}% -> "
          f"{'ok' if ok else 'MISMATCH'}")
    if not ok:
        sys.exit(1)

    # 3. latencies
    busy = busy_cpus()
    ours_fp32 = run_qnas(a, genome, "fp32", 64, ["--reps", str(a.reps)])
    ours_int8 = run_qnas(a, genome, "int8", 64, ["--reps", str(a.reps)])
    reps64 = max(5, a.reps // 5)
    variants = []
    for cl in (False, True):
        fmt = torch.channels_last if cl else torch.contiguous_format
        m = Subnet(t, space, parse_genome(genome)).eval().to(memory_format=fmt)
        with torch.no_grad():
            ex = torch.randn(1, 1, space["in_hw"], space["in_hw"]).contiguous(memory_format=fmt)
            try:
                jm = torch.jit.script(m)
                how = "script"
            except Exception:  # noqa: BLE001 -- tracing covers this model as well
                jm = torch.jit.trace(m, ex)
                how = "trace"
            jm = torch.jit.freeze(jm.eval())
            # freezing folds BN into the convs: checked again, so every timing is of a model that
            # computes our function
            xc, ref = x[:64].contiguous(memory_format=fmt), ours[:64]
            for name, fn in (("eager", m), (f"jit.freeze({how})", jm)):
                label = f"torch {name}{' channels_last' if cl else ''}"
                e2 = (fn(xc) - ref).abs().max().item() / max(ref.abs().max().item(), 1e-30)
                if e2 > TOL:
                    print(f"warning: {label} differs from ours by {e2:.3e} (relative) on the first 64 images")
                variants.append((label, fn, fmt, e2))
    def qrow(name, j):
        return {"variant": name, "b1_ms": j["latency_ms_b1"], "b64_ms": j["latency_ms_b64"],
                "b1_min_ms": j["latency_ms_b1_range"][0], "b64_min_ms": j["latency_ms_b64_range"][0],
                "top1_first64": j["accuracy"]}
    rows = [qrow("qnas fp32", ours_fp32), qrow("qnas int8", ours_int8)]
    for name, fn, fmt, e2 in variants:
        b1 = time_ms(fn, torch.randn(1, 1, space["in_hw"], space["in_hw"]).contiguous(memory_format=fmt), a.reps, 10)
        b64 = time_ms(fn, torch.randn(64, 1, space["in_hw"], space["in_hw"]).contiguous(memory_format=fmt), reps64, 3)
        rows.append({"variant": name, "b1_ms": b1[0], "b64_ms": b64[0], "b1_min_ms": b1[1], "b64_min_ms": b64[1],
                     "rel_err": e2})
    best1 = min(r["b1_ms"] for r in rows[2:])
    best64 = min(r["b64_ms"] for r in rows[2:])
    for r in rows:
        if r["variant"] == "qnas int8":  # against the fastest torch FP32 variant
            r["ratio_b1"], r["ratio_b64"] = r["b1_ms"] / best1, r["b64_ms"] / best64
        elif r["variant"] != "qnas fp32":  # qnas FP32 against this variant
            r["ratio_b1"], r["ratio_b64"] = rows[0]["b1_ms"] / r["b1_ms"], rows[0]["b64_ms"] / r["b64_ms"]

    print(f"\nlatency, median ms, {a.threads} threads (torch {torch.__version__}, BLAS: {blas_library()})")
    if busy is not None and busy > 0.25:  # both sides use OpenMP: a busy core stalls every parallel region
        print(f"note: other processes kept {busy:.1f} of {os.cpu_count()} CPUs busy just before timing; the medians "
              f"are unreliable (minima are in {a.json})")
    print(f"{'variant':<40} {'batch 1':>9} {'batch 64':>9} {'ours/torch b1':>14} {'b64':>6}")
    for r in rows:
        ratio = (f"{r['ratio_b1']:>14.2f} {r['ratio_b64']:>6.2f}" if "ratio_b1" in r else f"{'':>14} {'':>6}")
        print(f"{r['variant']:<40} {r['b1_ms']:>9.3f} {r['b64_ms']:>9.2f} {ratio}")
    print("ours/torch: qnas FP32 time / torch time (< 1: qnas faster); on the qnas int8 row, qnas INT8 / the "
          "fastest torch FP32 variant.")
    print(f"qnas int8 top-1 on the first 64 test images: {100 * ours_int8['accuracy']:.2f}% "
          f"(fp32 {100 * ours_fp32['accuracy']:.2f}%)")

    out = {"genome": genome, "space": space_name, "weights": a.weights, "threads": a.threads,
           "check": {"images": n, "max_rel_err": err, "tolerance": TOL, "argmax_agreement": agree, "ok": ok},
           "torch": torch.__version__, "blas": blas_library(), "cpus": os.cpu_count(),
           "busy_cpus_before_timing": busy, "rows": rows}
    os.makedirs(os.path.dirname(a.json) or ".", exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
