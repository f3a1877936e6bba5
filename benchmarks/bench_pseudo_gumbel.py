"""Pseudo-Gumbel: memory and time of the mixing step and of the EMA teacher update.

* **mixing**: one forward + backward of the straight-through top-k Gumbel-softmax at the
  issue's sizes (``--vocab 32000 --k 128 --dim 1024 --tokens 512``, i.e. B*T = 512): cissreg's
  :class:`TopKGumbelSoftmax` (``embedding_bag`` mixing, never [N, k, D]) against the
  plain dense gather ``(y.unsqueeze(-1) * E[topk_idx]).sum(-2)``. The embedding table is
  frozen (LoRA training), so the gradient flows to the logits only. Each variant runs in its own
  subprocess; the memory is the growth of the peak RSS (``ru_maxrss``) during the first
  full-size step, after the inputs were allocated and a warm-up step on 8 tokens ran (on
  CUDA ``torch.cuda.max_memory_allocated`` minus the inputs). Time: best of ``--repeats``.
* **ema**: :meth:`EMATeacher.update` (one ``torch._foreach_lerp_`` over every tensor) against
  mmengine's ``ExponentialMovingAverage.update_parameters`` (a Python loop of per-tensor
  ``lerp_``) on a ~100M-parameter MLP stack (``--ema-params``).

Usage:
    python benchmarks/bench_pseudo_gumbel.py [--device cpu|cuda] [--repeats 5] [--threads 1]
"""
import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import torch
from torch import nn

from cissreg.models.segmentors.pseudo_gumbel import EMATeacher, TopKGumbelSoftmax, gumbel_noise


def _dense_st(logits, emb, noise, tau, k):
    """The dense formulation: y_hard - y_soft.detach() + y_soft, dense gather [N, k, D]."""
    vals, ids = logits.topk(k, dim=-1)
    y_soft = torch.softmax((vals + noise) / tau, dim=-1)
    y_hard = torch.zeros_like(y_soft).scatter_(-1, y_soft.argmax(-1, keepdim=True), 1.0)
    y = y_hard - y_soft.detach() + y_soft
    return (y.unsqueeze(-1) * emb[ids]).sum(dim=-2)


def mixing_child(args) -> dict:
    """Run one variant (in a subprocess); returns its time and peak-memory growth."""
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    layer = TopKGumbelSoftmax(tau=0.7, k=args.k)

    def make(tokens):
        g = torch.Generator(device=dev).manual_seed(0)
        logits = torch.randn(1, tokens, args.vocab, device=dev, generator=g).requires_grad_()
        emb = torch.randn(args.vocab, args.dim, device=dev, generator=g)
        noise = gumbel_noise((1, tokens, args.k), dev, torch.float32, g)
        return logits, emb, noise, torch.randn(1, tokens, args.dim, device=dev, generator=g)

    def step(logits, emb, noise, upstream):
        if args.variant == 'sparse':
            out = layer(logits, emb, noise=noise)
        else:
            out = _dense_st(logits, emb, noise, 0.7, args.k)
        out.backward(upstream)
        logits.grad = None

    step(*make(8))  # warm-up on small shapes: library and thread-pool initialisation
    inputs = make(args.tokens)
    if dev.type == 'cuda':
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step(*inputs)
    if dev.type == 'cuda':
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) * 1024
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        step(*inputs)
        if dev.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return dict(time=min(times), peak=peak)


def run_child(args, variant) -> dict:
    """Run a variant in a fresh process (its own RSS high-water mark)."""
    cmd = [sys.executable, __file__, '--child', variant] + [
        f'--{k}={v}' for k, v in dict(device=args.device, repeats=args.repeats,
                                      threads=args.threads, vocab=args.vocab, k=args.k,
                                      dim=args.dim, tokens=args.tokens).items()]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def ema_bench(args) -> dict:
    """Foreach EMA teacher update vs mmengine's ExponentialMovingAverage, same model."""
    from mmengine.model import ExponentialMovingAverage
    torch.set_num_threads(args.threads)
    width = 1024
    layers = max(1, round(args.ema_params / (width * width + width)))
    model = nn.Sequential(*[nn.Linear(width, width) for _ in range(layers)]).to(args.device)
    n_params = sum(p.numel() for p in model.parameters())
    teacher = EMATeacher(model)
    mm = ExponentialMovingAverage(model, momentum=0.001, update_buffers=True)
    mm.update_parameters(model)  # mmengine's first call only copies
    teacher.update(model, 0.999)

    def timed(fn):
        best = float('inf')
        for _ in range(args.repeats):
            if args.device == 'cuda':
                torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            if args.device == 'cuda':
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        return best

    ours = timed(lambda: teacher.update(model, 0.999))
    theirs = timed(lambda: mm.update_parameters(model))
    # same result: both average every tensor with weight 0.001 on the model
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    teacher.update(model, 0.999)
    mm.update_parameters(model)
    diff = max((a - b).abs().max().item() for a, b in
               zip(teacher.module.parameters(), mm.module.parameters()))
    return dict(params=n_params, tensors=2 * layers, ours=ours, mmengine=theirs,
                max_abs_diff_after_same_update=diff)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--vocab', type=int, default=32000)
    parser.add_argument('--k', type=int, default=128)
    parser.add_argument('--dim', type=int, default=1024)
    parser.add_argument('--tokens', type=int, default=512)
    parser.add_argument('--ema-params', type=float, default=100e6)
    parser.add_argument('--child', choices=['sparse', 'dense'])
    args = parser.parse_args()
    if args.child:
        args.variant = args.child
        print(json.dumps(mixing_child(args)))
        return
    print(f'machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, '
          f'device {args.device}, threads {args.threads}')
    sparse, dense = run_child(args, 'sparse'), run_child(args, 'dense')
    print(f'mixing step fwd+bwd, V={args.vocab} k={args.k} D={args.dim} B*T={args.tokens}:')
    print('| variant | time (ms) | peak memory growth (MiB) |\n| --- | --- | --- |')
    for name, r in (('TopKGumbelSoftmax (embedding_bag)', sparse), ('dense gather', dense)):
        print(f"| {name} | {r['time'] * 1e3:.1f} | {r['peak'] / 2**20:.1f} |")
    print(f"ratio: time {sparse['time'] / dense['time']:.2f}x, "
          f"memory {sparse['peak'] / max(dense['peak'], 1):.3f}x (targets <= 1.0x, <= 0.2x)")
    ema = ema_bench(args)
    print(f"\nEMA update of {ema['params'] / 1e6:.1f}M parameters ({ema['tensors']} tensors):")
    print('| implementation | time (ms) |\n| --- | --- |')
    print(f"| EMATeacher.update (one _foreach_lerp_) | {ema['ours'] * 1e3:.1f} |")
    print(f"| mmengine ExponentialMovingAverage | {ema['mmengine'] * 1e3:.1f} |")
    print(f"ratio: {ema['ours'] / ema['mmengine']:.2f}x (target <= 0.5x); "
          f"max |difference| after the same update: {ema['max_abs_diff_after_same_update']:.2e}")


if __name__ == '__main__':
    main()
