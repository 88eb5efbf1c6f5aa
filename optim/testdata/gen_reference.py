#!/usr/bin/python3
"""Reference trajectories for gradlab's optim package, produced with PyTorch.

Problem: two parameter tensors (shapes [2, 3] and [4]); the gradient of each
at theta is h * (theta - c) + s * sin(theta), computed in closed form (no
autograd), i.e. the gradient of sum(h/2 (theta-c)^2 - s cos(theta)).
Each case runs 10 steps of a torch.optim optimizer in float64 from theta0 and
records both tensors after every step.

Run with Debian's interpreter (python3-torch): /usr/bin/python3 gen_reference.py
It writes reference.json next to this script.
"""
import json
import os

import torch

torch.set_default_dtype(torch.float64)

SHAPES = [[2, 3], [4]]
THETA0 = [[0.8, -1.3, 2.1, 0.05, -0.4, 1.7], [3.0, -2.2, 0.6, -0.9]]
H = [[0.5, 2.0, 0.1, 4.0, 1.0, 0.25], [0.05, 3.0, 1.5, 0.7]]
C = [[0.3, 0.2, -1.0, 0.5, 0.0, -0.6], [1.0, 0.0, -0.5, 2.0]]
S = 0.3
STEPS = 10

CASES = [
    ("sgd", "sgd", dict(lr=0.1)),
    ("sgd_wd", "sgd", dict(lr=0.1, weight_decay=0.05)),
    ("sgd_momentum", "sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd_momentum_dampening_wd", "sgd", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.02)),
    ("sgd_nesterov", "sgd", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("sgd_nesterov_wd", "sgd", dict(lr=0.05, momentum=0.7, nesterov=True, weight_decay=0.1)),
    ("adam", "adam", dict(lr=0.05)),
    ("adam_betas_eps", "adam", dict(lr=0.1, betas=(0.8, 0.95), eps=1e-2)),
    ("adam_wd", "adam", dict(lr=0.05, weight_decay=0.1)),
    ("adam_amsgrad", "adam", dict(lr=0.2, betas=(0.5, 0.9), amsgrad=True)),
    ("adamw", "adamw", dict(lr=0.05, weight_decay=0.1)),
    ("adamw_amsgrad", "adamw", dict(lr=0.2, betas=(0.5, 0.9), weight_decay=0.3, amsgrad=True)),
    ("rmsprop", "rmsprop", dict(lr=0.01)),
    ("rmsprop_alpha_eps_wd", "rmsprop", dict(lr=0.02, alpha=0.9, eps=1e-3, weight_decay=0.05)),
    ("rmsprop_centered", "rmsprop", dict(lr=0.01, centered=True)),
    ("rmsprop_momentum", "rmsprop", dict(lr=0.01, momentum=0.9)),
    ("rmsprop_centered_momentum_wd", "rmsprop", dict(lr=0.01, alpha=0.95, momentum=0.5, centered=True, weight_decay=0.1)),
]

OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop}


def run(kind, cfg):
    params = [torch.tensor(t).reshape(s).requires_grad_(True) for t, s in zip(THETA0, SHAPES)]
    hs = [torch.tensor(t).reshape(s) for t, s in zip(H, SHAPES)]
    cs = [torch.tensor(t).reshape(s) for t, s in zip(C, SHAPES)]
    opt = OPTIMIZERS[kind](params, **cfg)
    traj = []
    for _ in range(STEPS):
        with torch.no_grad():
            for p, h, c in zip(params, hs, cs):
                p.grad = h * (p - c) + S * torch.sin(p)
        opt.step()
        traj.append([p.detach().reshape(-1).tolist() for p in params])
    return traj


def main():
    out = {
        "generator": "gen_reference.py",
        "torch_version": torch.__version__,
        "shapes": SHAPES, "theta0": THETA0, "h": H, "c": C, "s": S, "steps": STEPS,
        "cases": [],
    }
    for name, kind, cfg in CASES:
        jcfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}
        out["cases"].append({"name": name, "optimizer": kind, "config": jcfg, "trajectory": run(kind, cfg)})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
