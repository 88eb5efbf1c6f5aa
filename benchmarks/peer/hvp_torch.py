#!/usr/bin/python3
"""HVP time / gradient time for the MNIST MLP 784-512-512-10 with PyTorch.

The peer measurement for BenchmarkHVPOverGrad (benchmarks/hvp_test.go): the
same network (ReLU, cross-entropy, float32), a batch of 128 synthetic
MNIST-shaped examples, one loss-and-gradient evaluation against one exact
Hessian-vector product by double backprop (grad with create_graph=True, dot
with v, grad again). The two are timed alternately and the medians reported.

Usage: /usr/bin/python3 benchmarks/peer/hvp_torch.py [--reps N] [--threads T]
"""
import argparse
import json
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 10))
    params = list(model.parameters())
    x = torch.rand(128, 784)
    y = torch.randint(0, 10, (128,))
    v = [torch.randn_like(p) for p in params]
    lossf = torch.nn.CrossEntropyLoss()

    def grad():
        loss = lossf(model(x), y)
        return torch.autograd.grad(loss, params)

    def hvp():
        loss = lossf(model(x), y)
        g = torch.autograd.grad(loss, params, create_graph=True)
        s = sum((gi * vi).sum() for gi, vi in zip(g, v))
        return torch.autograd.grad(s, params)

    for _ in range(5):
        grad()
        hvp()
    tg, th = [], []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        grad()
        t1 = time.perf_counter()
        hvp()
        t2 = time.perf_counter()
        tg.append(t1 - t0)
        th.append(t2 - t1)
    mg, mh = statistics.median(tg), statistics.median(th)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "reps": a.reps,
                      "grad_ms": round(mg * 1e3, 3), "hvp_ms": round(mh * 1e3, 3), "ratio": round(mh / mg, 3)}))


if __name__ == "__main__":
    main()
