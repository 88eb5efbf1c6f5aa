#!/usr/bin/python3
"""PyTorch peer of `gradlab bench`: the MNIST MLP 784-512-512-10 workloads.

Same network (ReLU, cross-entropy, float32, torch.nn.Linear's init), a
batch of 128 synthetic MNIST-shaped examples, timed alternately so that a
machine whose load changes affects every workload alike:

  step  one training step: forward, backward, torch.optim.Adam (lr 1e-3)
  grad  loss and gradient (torch.autograd.grad)
  hvp   one exact Hessian-vector product by double backprop

Prints one JSON object with the medians in milliseconds.

On a GPU (--device cuda) every timed run ends with torch.cuda.synchronize(),
so that a run's time includes its kernels, as gradlab's GPU benchmark
(which reads a scalar back after each run) does.

Usage: /usr/bin/python3 mlp_torch.py [--reps N] [--threads T] [--device cpu|cuda] [--tf32]
"""
import argparse
import json
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matrix products on a GPU")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    gpu = dev.type == "cuda"
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 10)).to(dev)
    params = list(model.parameters())
    x = torch.rand(128, 784, device=dev)
    y = torch.randint(0, 10, (128,), device=dev)
    v = [torch.randn_like(p) for p in params]
    lossf = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(params, lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        lossf(model(x), y).backward()
        opt.step()

    def grad():
        return torch.autograd.grad(lossf(model(x), y), params)

    def hvp():
        g = torch.autograd.grad(lossf(model(x), y), params, create_graph=True)
        s = sum((gi * vi).sum() for gi, vi in zip(g, v))
        return torch.autograd.grad(s, params)

    work = {"step": step, "grad": grad, "hvp": hvp}
    for _ in range(5):
        for f in work.values():
            f()
    sync()
    times = {k: [] for k in work}
    for _ in range(a.reps):
        for k, f in work.items():
            t0 = time.perf_counter()
            f()
            sync()
            times[k].append(time.perf_counter() - t0)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "reps": a.reps, "device": str(dev),
           "tf32": bool(gpu and a.tf32)}
    for k, t in times.items():
        out[k + "_ms"] = round(statistics.median(t) * 1e3, 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
