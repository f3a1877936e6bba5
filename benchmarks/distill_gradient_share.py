"""How much of the student's gradient comes from each distillation term, per batch size.

Builds a distillation config's model (teacher from ``--teacher-ckpt``), takes the first
``B`` training images of the config's train set (augmentation as configured, seed fixed) and
prints, for each ``B`` in ``--batches`` and each ``loss_scale`` (``global_batch``: the terms
on the detection losses' scale, the default; ``batch_mean``: the terms as batch means, the
behaviour before issue 10's fix), the gradient norm over the student's parameters of the
detection losses and of each distillation term, and their ratio to the detection gradient.
``--student-ckpt`` loads student weights (e.g. a trained distiller checkpoint) instead of
the initial ones.

Usage:
    python benchmarks/distill_gradient_share.py CONFIG --teacher-ckpt CKPT
        [--student-ckpt CKPT] [--batches 1 4 16] [--threads N]
"""
import argparse
from typing import Dict, List

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from cissreg.models.distillers import strip_ddp_prefix, student_state_dict
from cissreg.registry import MODELS
from cissreg.utils.safe_load import safe_torch_load

DET_TERMS = ('loss_cls', 'loss_bbox', 'loss_dfl')


def gradient_norms(model, batch: dict, terms: Dict[str, List[str]]) -> Dict[str, float]:
    """Gradient norm over the student's parameters of each group of loss terms."""
    data = model.data_preprocessor(batch, training=True)
    params = list(model.student.parameters())
    norms = {}
    for group, keys in terms.items():
        model.zero_grad(set_to_none=True)
        losses = model(**data, mode='loss')
        sum(losses[k] for k in keys).backward()
        norms[group] = float(torch.sqrt(sum((p.grad.double()**2).sum() for p in params
                                            if p.grad is not None)))
    return norms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--teacher-ckpt', required=True)
    parser.add_argument('--student-ckpt')
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 4, 16])
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    init_default_scope('cissreg')
    cfg.model.teacher_ckpt = args.teacher_ckpt
    loader_cfg = cfg.train_dataloader
    loader_cfg.batch_size = max(args.batches)
    loader_cfg.num_workers = 0
    loader_cfg.persistent_workers = False
    loader_cfg.sampler = dict(type='DefaultSampler', shuffle=False)
    torch.manual_seed(args.seed)
    full = next(iter(Runner.build_dataloader(loader_cfg, seed=args.seed)))

    print(f'{args.config}: gradient norm over the student parameters (seed {args.seed})')
    print('| batch | loss_scale | detection | ' + ' | '.join(
        f'{t} (ratio)' for t in ('loss_cwd', 'loss_kl_cls', 'loss_kl_box')) + ' |')
    print('| --- ' * 6 + '|')
    for scale in ('batch_mean', 'global_batch'):
        torch.manual_seed(args.seed)
        model = MODELS.build(dict(cfg.model, loss_scale=scale)).train()
        if args.student_ckpt:
            state = strip_ddp_prefix(safe_torch_load(args.student_ckpt,
                                                     map_location='cpu')['state_dict'])
            model.student.load_state_dict(student_state_dict(state))
        kd_terms = [t.name for t in model.terms]
        groups = dict(detection=list(DET_TERMS), **{t: [t] for t in kd_terms})
        for b in args.batches:
            batch = dict(inputs=full['inputs'][:b], data_samples=full['data_samples'][:b])
            norms = gradient_norms(model, batch, groups)
            cells = [f'{norms[t]:.3g} ({norms[t] / norms["detection"]:.2e})' if t in norms
                     else '-' for t in ('loss_cwd', 'loss_kl_cls', 'loss_kl_box')]
            print(f'| {b} | {scale} | {norms["detection"]:.3g} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
