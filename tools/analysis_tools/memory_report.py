"""Memory of a config's model: parameters, gradients, optimizer state, EMA copy, per component.

Usage:
    python tools/analysis_tools/memory_report.py CONFIG [--meta] [--word-tokenizer]
        [--dtype float32|bfloat16|float16] [--expand mllm ...] [--check-grads] [--out FILE.json]
        [--cfg-options KEY=VALUE ...]

Bytes are computed from the built model and the optimizer its config builds (the config's
optimizer wrapper constructor, so frozen tensors and an EMA teacher are counted where they
really are): trainable / frozen parameter bytes, one gradient per trainable parameter,
optimizer state (allocated state when the optimizer has stepped, else the optimizer's known
per-parameter state: 2 tensors for Adam / AdamW, 3 with amsgrad, 1 for SGD with momentum).
A module attribute named ``teacher`` (or ``ema``) is reported as the EMA copy.

``--meta`` builds on the meta device (no memory, no weights: sizes only); ``--word-tokenizer``
replaces the model's tokenizer folder by a small word-level one (for configs whose tokenizer
is a local folder that is not there; the LM keeps its config's vocabulary size).
``--check-grads`` runs one training loss on a batch of the config's train data and counts,
per component, the trainable tensors that received a non-zero gradient. On a CUDA machine
(and not ``--meta``) the peak of one training step (forward, backward, optimizer step) is
measured with ``torch.cuda.max_memory_allocated``.
"""
import argparse
import json
import tempfile
from collections import OrderedDict
from typing import Dict, List, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from cissreg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from cissreg.utils import register_all_modules

EMA_NAMES = ('teacher', 'ema')
STATE_PER_PARAM = {'Adam': 2, 'AdamW': 2, 'SGD': 1}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--meta', action='store_true', help='build on the meta device')
    parser.add_argument('--word-tokenizer', action='store_true',
                        help='use a small word-level tokenizer instead of the config\'s folder')
    parser.add_argument('--dtype', default=None, choices=['float32', 'bfloat16', 'float16'],
                        help='cast the model to this dtype before counting')
    parser.add_argument('--expand', nargs='*', default=['mllm'],
                        help='top-level modules reported per child (default: mllm)')
    parser.add_argument('--check-grads', action='store_true',
                        help='one training loss: which components get non-zero gradients')
    parser.add_argument('--out', help='write the report as json')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def component_of(name: str, expand: Sequence[str] = ('mllm', )) -> str:
    """Component of a parameter: its top-level module, or the top-level module and its child
    for modules in ``expand`` (``'mllm.lm.base_model.x.weight'`` -> ``'mllm.lm'``)."""
    parts = name.split('.')
    if parts[0] in expand and len(parts) > 2:
        return '.'.join(parts[:2])
    return parts[0]


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> Dict[int, int]:
    """Bytes of optimizer state per parameter id (allocated, or the optimizer's known rule)."""
    out: Dict[int, int] = {}
    for group in optimizer.param_groups:
        n_state = STATE_PER_PARAM.get(type(optimizer).__name__, 0)
        if type(optimizer).__name__ == 'SGD' and not group.get('momentum', 0):
            n_state = 0
        if group.get('amsgrad'):
            n_state += 1
        for p in group['params']:
            state = optimizer.state.get(p, {})
            if state:
                out[id(p)] = sum(v.numel() * v.element_size() for v in state.values()
                                 if torch.is_tensor(v) and v.dim() > 0)
            else:
                out[id(p)] = n_state * p.numel() * p.element_size()
    return out


def memory_rows(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                expand: Sequence[str] = ('mllm', )) -> List[dict]:
    """One row per component: bytes of trainable / frozen params, grads, optimizer state."""
    state = optimizer_state_bytes(optimizer)
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g['params']}
    rows: 'OrderedDict[str, dict]' = OrderedDict()
    for name, p in model.named_parameters():
        row = rows.setdefault(component_of(name, expand), dict(
            component=component_of(name, expand), params_trainable=0, params_frozen=0,
            grads=0, optimizer_state=0, numel=0, in_optimizer=0, ema_copy=False))
        nbytes = p.numel() * p.element_size()
        row['numel'] += p.numel()
        row['params_trainable' if p.requires_grad else 'params_frozen'] += nbytes
        row['grads'] += nbytes if p.requires_grad else 0
        row['optimizer_state'] += state.get(id(p), 0)
        row['in_optimizer'] += int(id(p) in in_optimizer)
        row['ema_copy'] = name.split('.')[0] in EMA_NAMES
    for name, b in model.named_buffers():
        key = component_of(name, expand)
        if key in rows:
            rows[key]['params_frozen'] += b.numel() * b.element_size()
    for row in rows.values():
        row['total'] = (row['params_trainable'] + row['params_frozen'] + row['grads']
                        + row['optimizer_state'])
    return list(rows.values())


def _gib(n: int) -> str:
    return f'{n / 2**30:.3f} GiB' if n >= 2**24 else f'{n / 2**20:.2f} MiB'


def format_table(rows: List[dict]) -> str:
    """Markdown table (GiB, or MiB below 16 MiB)."""
    keys = ('params_trainable', 'params_frozen', 'grads', 'optimizer_state', 'total')
    lines = ['| component | numel | ' + ' | '.join(keys) + ' | in optimizer |',
             '|' + ' --- |' * (len(keys) + 3)]
    for r in rows + [dict(component='**total**', numel=sum(r['numel'] for r in rows),
                          in_optimizer=sum(r['in_optimizer'] for r in rows),
                          **{k: sum(r[k] for r in rows) for k in keys})]:
        name = r['component'] + (' (EMA copy)' if r.get('ema_copy') else '')
        lines.append(f"| {name} | {r['numel'] / 1e6:.2f} M | "
                     + ' | '.join(_gib(r[k]) for k in keys) + f" | {r['in_optimizer']} |")
    return '\n'.join(lines)


def build(cfg: Config, meta: bool, word_tokenizer: bool):
    """Model and optim wrapper of ``cfg`` (on the meta device when asked)."""
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'cissreg'))
    if word_tokenizer:
        tok = cfg.model.mllm.tokenizer
        tok.path = tempfile.mkdtemp(prefix='memory_report_tok_')
        tok.words = ['the', 'region', 'describe', 'this', 'please', 'segment']
    if meta:
        with torch.device('meta'):
            model = MODELS.build(cfg.model)
    else:
        model = MODELS.build(cfg.model)
    optim_cfg = cfg.optim_wrapper.copy()
    constructor = optim_cfg.pop('constructor', 'DefaultOptimWrapperConstructor')
    paramwise = optim_cfg.pop('paramwise_cfg', None)
    wrapper = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type=constructor, optim_wrapper_cfg=optim_cfg, paramwise_cfg=paramwise))(model)
    return model, wrapper


def check_gradients(model, cfg: Config, expand: Sequence[str]) -> Dict[str, str]:
    """Non-zero-gradient trainable tensors / trainable tensors, per component, after one
    training loss on the first batch of the config's train data."""
    from mmengine.runner import Runner
    loader = Runner.build_dataloader(cfg.train_dataloader)
    batch = next(iter(loader))
    model.train()
    data = model.data_preprocessor(batch, True)
    losses = model._run_forward(data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    counts: Dict[str, List[int]] = OrderedDict()
    for name, p in model.named_parameters():
        c = counts.setdefault(component_of(name, expand), [0, 0, 0])
        if p.requires_grad:
            c[1] += 1
            c[0] += int(p.grad is not None and bool(p.grad.abs().sum() > 0))
        elif p.grad is not None:
            c[2] += 1
    return {k: f'{v[0]}/{v[1]}' + (f' ({v[2]} frozen with a gradient)' if v[2] else '')
            for k, v in counts.items()}


def cuda_peak(model, wrapper, cfg: Config) -> int:
    """Peak bytes of one training step on CUDA."""
    from mmengine.runner import Runner
    model.cuda()
    wrapper.optimizer.state.clear()
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    torch.cuda.reset_peak_memory_stats()
    model.train_step(batch, wrapper)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model, wrapper = build(cfg, args.meta, args.word_tokenizer)
    if args.dtype:
        model.to(getattr(torch, args.dtype))
    report = dict(config=args.config, meta=args.meta, dtype=args.dtype or 'as built',
                  optimizer=type(wrapper.optimizer).__name__,
                  rows=memory_rows(model, wrapper.optimizer, args.expand))
    ema = [r for r in report['rows'] if r['ema_copy']]
    report['ema_copy_bytes'] = sum(r['params_trainable'] + r['params_frozen'] for r in ema)
    report['ema_in_optimizer'] = sum(r['in_optimizer'] for r in ema)
    if args.check_grads and not args.meta:
        report['nonzero_grads'] = check_gradients(model, cfg, args.expand)
    if torch.cuda.is_available() and not args.meta:
        report['cuda_peak_bytes'] = cuda_peak(model, wrapper, cfg)
    print(format_table(report['rows']))
    print(f"\nEMA copy: {_gib(report['ema_copy_bytes'])}, "
          f"{report['ema_in_optimizer']} of its tensors in the optimizer")
    if 'nonzero_grads' in report:
        print('non-zero gradients (trainable tensors):', report['nonzero_grads'])
    if 'cuda_peak_bytes' in report:
        print(f"CUDA peak of one training step: {_gib(report['cuda_peak_bytes'])}")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == '__main__':
    main()
