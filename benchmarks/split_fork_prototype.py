"""Experiment (not used by the library): the batch split over a forked worker process instead of a thread.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/split_fork_prototype.py seed000 proc
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/split_fork_prototype.py seed000 thread

``proc``: the parameters move to shared memory (anonymous ``mmap``), a ``fork``ed worker runs the second half of
each batch (forward, then backward with the gradient of its logits) with one BLAS thread and writes its parameter
gradients into shared buffers; two pipe round trips per step; the parts' arithmetic and summation order are the
thread split's. ``thread``: the library's own split (``train/split_batch.py``). Prints the step's median / min ms
over 100 steps (and, for ``proc``, where the main process's time goes). Linux only (fork). Measured in the
eleventh session, alternated: 12.4 vs 14.5 and 15.7 vs 17.3 ms (proc vs thread) -- 10-15%, not adopted
(docs/performance.md).
"""
import mmap
import os
import sys
import time

import numpy as np
import scratchcnn as sc
from scratchcnn.backend import tune_malloc
from scratchcnn.bench.measure import limit_threads
from scratchcnn.bench.workloads import _scratch_model, _inputs
from scratchcnn import nn, optim
from scratchcnn.tensor import leaf_grads_apart, _STEALABLE_REFS, Tensor
from scratchcnn.random import thread_generator, default_generator
tune_malloc()
name = sys.argv[1]; mode = sys.argv[2]
limit_threads(2)
model = _scratch_model(name); model.train()
x, y = _inputs(name, 64)
params = [p for p in model.parameters()]

def shm_array(shape, dtype):
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = mmap.mmap(-1, max(n, 1))
    return np.frombuffer(buf, dtype=dtype, count=int(np.prod(shape))).reshape(shape)

# params into shared memory
for p in params:
    a = shm_array(p.data.shape, p.data.dtype); a[...] = p.data; p.data = a
gbufs = [shm_array(p.data.shape, p.data.dtype) for p in params]
half = 32
xs = shm_array(x.shape, x.dtype); xs[...] = x
logit_buf = shm_array((64 - half, 10 if name != "textcnn" else 2), np.float32)
glog_buf = shm_array(logit_buf.shape, np.float32)
seed_buf = shm_array((1,), np.int64)
opt = optim.Adam(params, lr=1e-3); loss_fn = nn.CrossEntropyLoss(); yt = sc.Tensor(y)

if mode == "proc":
    c2w_r, c2w_w = os.pipe(); w2c_r, w2c_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        from scratchcnn import parallel
        parallel._pool = None; parallel.set_num_threads(1)
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
        out = None
        while True:
            cmd = os.read(c2w_r, 1)
            if cmd == b"F":
                with thread_generator(np.random.default_rng(int(seed_buf[0]))):
                    out = model(Tensor(xs[half:]))
                logit_buf[...] = out.data
                os.write(w2c_w, b"f")
            elif cmd == b"B":
                with leaf_grads_apart() as sink:
                    out.backward(Tensor(glog_buf.copy()))
                for p, g in zip(params, gbufs):
                    e = sink.get(id(p))
                    if e is None: g[...] = 0
                    else: g[...] = e[1]
                out = None
                os.write(w2c_w, b"b")
            else:
                os._exit(0)
    T = {k: [] for k in "abcdefg"}
    def step():
        t0 = time.perf_counter()
        opt.zero_grad()
        seeds = default_generator().integers(2**63 - 1, size=2)
        seed_buf[0] = seeds[1]
        os.write(c2w_w, b"F")
        from scratchcnn import parallel
        with parallel.one_blas_thread():
            with thread_generator(np.random.default_rng(int(seeds[0]))):
                out0 = model(Tensor(xs[:half]))
        t1 = time.perf_counter()
        assert os.read(w2c_r, 1) == b"f"
        t2 = time.perf_counter()
        logits = Tensor(np.concatenate([out0.data, logit_buf]), requires_grad=True)
        loss_fn(logits, yt).backward()
        glog_buf[...] = logits.grad[half:]
        os.write(c2w_w, b"B")
        t3 = time.perf_counter()
        with parallel.one_blas_thread():
            with leaf_grads_apart() as sink:
                out0.backward(logits.grad[:half])
        t4 = time.perf_counter()
        assert os.read(w2c_r, 1) == b"b"
        t5 = time.perf_counter()
        for p, g in zip(params, gbufs):
            e = sink.get(id(p))
            tot = g.copy() if e is None else e[1] + g
            p._accumulate(tot, _STEALABLE_REFS)
        t6 = time.perf_counter()
        opt.step()
        t7 = time.perf_counter()
        for k, v in zip("abcdefg", [t1-t0, t2-t1, t3-t2, t4-t3, t5-t4, t6-t5, t7-t6]): T[k].append(v)
else:
    from scratchcnn.train.split_batch import forward_for_training
    xt = sc.Tensor(xs)
    def step():
        opt.zero_grad()
        logits, finish = forward_for_training(model, xt)
        loss_fn(logits, yt).backward(); finish(); opt.step()

for _ in range(5): step()
ts = []
for _ in range(100):
    t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
print(name, mode, "median %.2f min %.2f ms" % (np.median(ts) * 1e3, min(ts) * 1e3))
if mode == "proc":
    os.write(c2w_w, b"Q")
    print("fwd0 %.2f waitF %.2f loss %.2f bwd0 %.2f waitB %.2f sum %.2f adam %.2f" % tuple(np.median(T[k][-100:])*1e3 for k in "abcdefg"))
