"""Convolution by hand: what conv2d computes, checked against the textbook loops.

Deep-learning "convolution" (PyTorch's conv2d, scratchcnn's default ``mode="correlation"``) slides the kernel
as it is; the convolution of signal processing (``mode="convolution"``) flips it first. This script shows the
two on a tiny 5x5 input, then runs stride, padding (incl. "same"), dilation and groups through the fast engine
(``scratchcnn.functional.conv2d``: im2col + one GEMM) and through ``scratchcnn.functional.reference``, plain
Python loops written the way the formulas read, and prints the largest difference of each pair. Last,
``scratchcnn.viz.explain_conv`` writes one window's arithmetic out step by step.

Run:  python examples/02_conv_by_hand.py  (under a second; --quick is accepted and changes nothing).
Measured: every engine result equals the loops to ~1e-15 (float64), and seed 004's worked example gives [[1]].
"""
import argparse

import numpy as np

import scratchcnn as sc
import scratchcnn.functional as F
from scratchcnn.functional import reference as ref
from scratchcnn.viz import explain_conv

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="accepted for uniformity; this example is already tiny")
parser.add_argument("--out", help="unused (this example writes no files)")
args = parser.parse_args()
np.set_printoptions(precision=1, suppress=True)

# A 5x5 "image" (N=1, C=1) of small integers and an asymmetric 3x3 kernel, so that flipping it matters.
image = np.array([[3, 1, 4, 1, 5],
                  [9, 2, 6, 5, 3],
                  [5, 8, 9, 7, 9],
                  [3, 2, 3, 8, 4],
                  [6, 2, 6, 4, 3]], dtype=np.float64)
kernel = np.array([[1.0, 2.0, 0.0],
                   [0.0, 0.0, 0.0],
                   [0.0, 0.0, -1.0]])
x = sc.tensor(image[None, None])               # (N, C, H, W)
k = sc.tensor(kernel[None, None])              # (C_out, C_in, kH, kW)

# --- 1. Correlation vs true convolution. With no padding a 3x3 window fits 3x3 times in 5x5.
corr = F.conv2d(x, k).numpy()[0, 0]
conv = F.conv2d(x, k, mode="convolution").numpy()[0, 0]
flipped = F.conv2d(x, sc.tensor(kernel[::-1, ::-1].copy()[None, None])).numpy()[0, 0]
print("correlation  S(i,j) = sum I(i+m, j+n) K(m, n):\n", corr)
# Top-left output by hand: the window image[0:3, 0:3] times the kernel, element by element, summed.
print(f"  S(0,0) by hand: 1*3 + 2*1 + (-1)*9 = {1 * 3 + 2 * 1 + (-1) * 9}")
print("convolution  S(i,j) = sum I(i-m, j-n) K(m, n) (kernel flipped):\n", conv)
print(f"convolution == correlation with the flipped kernel: {np.array_equal(conv, flipped)}")
print(f"output size rule floor((5 + 2*0 - 1*(3-1) - 1) / 1) + 1 = {ref.output_size(5, 3)}")

# --- 2. Seed 004's worked example: a 3x3 all-ones input with the kernel [[1,0,-1],[0,1,0],[1,0,-1]].
seed004 = F.conv2d(sc.ones(1, 1, 3, 3), sc.tensor([[[[1.0, 0, -1], [0, 1, 0], [1, 0, -1]]]]))
print(f"seed 004's example: {seed004.numpy()[0, 0].tolist()}  (1 - 1 + 1 + 1 - 1 = 1)")

# --- 3. Stride, padding, dilation: engine vs the textbook loops, in both modes.
cases = [dict(stride=2), dict(padding=1), dict(padding="same"), dict(dilation=2),
         dict(stride=2, padding=2, dilation=2)]
worst = 0.0
for mode in ("correlation", "convolution"):
    for kw in cases:
        fast = F.conv2d(x, k, mode=mode, **kw).numpy()[0, 0]
        loops = ref.conv2d_reference(image, kernel, mode=mode, **kw)
        diff = float(np.abs(fast - loops).max())
        worst = max(worst, diff)
        args_text = ", ".join(f"{a}={v!r}" for a, v in kw.items())
        print(f"{mode:11s} {args_text:34s} -> output {fast.shape}, max |engine - loops| = {diff:.1e}")

# --- 4. Groups. Input channels are split into `groups` blocks and each output channel only sees its block:
#        groups=2 on 4 channels is two independent 2-channel convolutions; groups=4 is depthwise.
rng = np.random.default_rng(0)
x4 = rng.standard_normal((2, 4, 6, 6))
for groups, c_out in ((2, 6), (4, 4)):
    w = rng.standard_normal((c_out, 4 // groups, 3, 3))
    fast = F.conv2d(sc.tensor(x4), sc.tensor(w), padding=1, groups=groups).numpy()
    cin_g, cout_g = 4 // groups, c_out // groups
    loops = np.concatenate([ref.conv2d_reference(x4[:, g * cin_g:(g + 1) * cin_g], w[g * cout_g:(g + 1) * cout_g],
                                                 padding=1) for g in range(groups)], axis=1)
    diff = float(np.abs(fast - loops).max())
    worst = max(worst, diff)
    print(f"groups={groups} (4 -> {c_out} channels, weight {w.shape}): max |engine - per-group loops| = {diff:.1e}")
    # A grouped conv has groups-times fewer weights than a dense one with the same channel counts.
    print(f"    weights: {w.size} grouped vs {c_out * 4 * 9} dense")

# --- 5. 1-D: true convolution with padding K-1 is the "full" convolution np.convolve computes.
f1, g1 = np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5])
full = F.conv1d(sc.tensor(f1[None, None]), sc.tensor(g1[None, None]), padding=2, mode="convolution")
diff1 = float(np.abs(full.numpy()[0, 0] - np.convolve(f1, g1)).max())
worst = max(worst, diff1)
print(f"conv1d(mode='convolution', padding=K-1) = {full.numpy()[0, 0].tolist()}; np.convolve: "
      f"{np.convolve(f1, g1).tolist()}")

# --- 6. scratchcnn.viz.explain_conv writes one such computation out window by window (`scratchcnn explain conv`
#        on the command line); here the stride-2 case, first window only.
print(explain_conv(image, kernel, stride=2).to_text(max_steps=1))

print(f"largest difference engine vs reference over all checks: {worst:.1e}")
print(f"reference check: {'OK' if worst < 1e-9 else 'FAILED'}")
