"""Autograd basics: tensors, requires_grad, backward, and checking a gradient three ways.

We take a tiny least-squares loss of a line through three points,

    L(w, b) = mean((w * x + b - y) ** 2),

let scratchcnn's reverse-mode autograd compute dL/dw and dL/db, and compare them with the hand derivation

    dL/dw = mean(2 * r * x),   dL/db = mean(2 * r),   r = w * x + b - y

and with central finite differences. Then a few plain gradient-descent steps fit the line.

Run:  python examples/01_autograd_basics.py  (about a second; --quick does the same work, there is nothing to
shrink). Measured: autograd agrees with the hand derivation to ~1e-16 and with finite differences to ~1e-10
(float64), and 200 descent steps bring L from 13.715 to 0.0125 (w = 2.000, b = 1.049; the exact least-squares
line is w = 2.000, b = 1.050).
"""
import argparse

import numpy as np

import scratchcnn as sc

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="accepted for uniformity; this example is already tiny")
parser.add_argument("--out", help="unused (this example writes no files)")
args = parser.parse_args()

# --- 1. Tensors. Leaves we want gradients for are made with requires_grad=True. float64 keeps the finite
#        differences below accurate (the library's default dtype is float32, like PyTorch's).
f64 = np.float64
x = sc.tensor([0.0, 1.0, 2.0, 3.0], dtype=f64)      # data: no gradient needed
y = sc.tensor([1.0, 3.2, 4.9, 7.1], dtype=f64)      # roughly y = 2x + 1
w = sc.tensor(0.5, requires_grad=True, dtype=f64)   # 0-d parameters, broadcast against x
b = sc.tensor(0.0, requires_grad=True, dtype=f64)


def loss_fn(w, b):
    r = w * x + b - y          # every op records a node in the graph (because w and b require grad)
    return (r ** 2).mean()


# --- 2. backward(): one reverse sweep fills .grad of every leaf that requires grad (a plain NumPy array).
loss = loss_fn(w, b)
loss.backward()
print(f"L(w=0.5, b=0) = {loss.item():.6f}")
print(f"autograd:   dL/dw = {float(w.grad):+.12f}   dL/db = {float(b.grad):+.12f}")

# --- 3. The hand derivation, in plain NumPy.
r = 0.5 * x.numpy() + 0.0 - y.numpy()
hand_w, hand_b = np.mean(2 * r * x.numpy()), np.mean(2 * r)
print(f"by hand:    dL/dw = {hand_w:+.12f}   dL/db = {hand_b:+.12f}")

# --- 4. Central finite differences, (L(p + h) - L(p - h)) / 2h, evaluated without building a graph.
h = 1e-6
with sc.no_grad():
    fd_w = (loss_fn(w + h, b).item() - loss_fn(w - h, b).item()) / (2 * h)
    fd_b = (loss_fn(w, b + h).item() - loss_fn(w, b - h).item()) / (2 * h)
print(f"finite diff: dL/dw = {fd_w:+.12f}   dL/db = {fd_b:+.12f}")

err_hand = max(abs(float(w.grad) - hand_w), abs(float(b.grad) - hand_b))
err_fd = max(abs(float(w.grad) - fd_w), abs(float(b.grad) - fd_b))
print(f"max |autograd - hand| = {err_hand:.2e}")
print(f"max |autograd - finite difference| = {err_fd:.2e}")
print(f"gradient check: {'OK' if err_hand < 1e-12 and err_fd < 1e-6 else 'FAILED'}")

# --- 5. Gradients ACCUMULATE (like PyTorch): a second backward adds to .grad, so zero it between steps.
loss_fn(w, b).backward()
print(f"after a second backward dL/dw doubled: {float(w.grad):+.6f} (= 2 x {hand_w:+.6f})")

# --- 6. Gradient descent by hand: update the leaves' data in place, outside the graph.
lr = 0.05
start = loss_fn(w, b).item()
for step in range(200):
    w.grad = None
    b.grad = None
    loss = loss_fn(w, b)
    loss.backward()
    with sc.no_grad():
        w.data -= lr * w.grad
        b.data -= lr * b.grad
print(f"gradient descent: L {start:.4f} -> {loss_fn(w, b).item():.4f} after 200 steps, "
      f"w = {float(w.data):.3f}, b = {float(b.data):.3f}")
# np.polyfit gives the exact least-squares line for comparison.
slope, intercept = np.polyfit(x.numpy(), y.numpy(), 1)
print(f"least-squares line (np.polyfit): w = {slope:.3f}, b = {intercept:.3f}")
