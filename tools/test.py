"""Evaluate a checkpoint with a cissreg config.

Usage:
    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.pkl|FILE.json]
                         [--show-dir DIR] [--cfg-options KEY=VALUE ...]
                         [--launcher none|pytorch|slurm]
"""
import argparse
import json
import os
import os.path as osp
from typing import Any, Sequence

import numpy as np
import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.evaluator import DumpResults
from mmengine.evaluator.metric import BaseMetric
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmengine.structures import BaseDataElement

from cissreg.engine.runner import close_dist
from cissreg.registry import RUNNERS
from cissreg.utils import register_all_modules
from cissreg.utils.config_loading import load_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for the evaluation logs '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--out', help='dump the predictions to this .pkl/.pickle or .json file')
    parser.add_argument('--show-dir', help='save drawn predictions to this directory '
                        '(enables the visualization hook)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. test_dataloader.batch_size=1')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def trigger_visualization_hook(cfg: Config, show_dir: str) -> Config:
    """Make ``default_hooks.visualization`` draw predictions into ``show_dir``.

    Whatever the config sets for the hook (``score_thr``, ``interval``, its ``type``) is kept;
    ``draw=True`` and ``show_dir`` are set, and ``type`` defaults to ``DetVisualizationHook``.
    """
    default_hooks = cfg.setdefault('default_hooks', ConfigDict())
    visualization = ConfigDict(default_hooks.get('visualization') or {})
    visualization.setdefault('type', 'DetVisualizationHook')
    visualization.update(draw=True, show_dir=show_dir)
    default_hooks['visualization'] = visualization
    return cfg


class DumpPredictions(DumpResults):
    """``DumpResults`` that also writes JSON (tensors, arrays and data samples as lists/dicts).

    Args:
        out_file_path (str): ``.pkl`` / ``.pickle`` (pickled as produced) or ``.json``.
    """

    def __init__(self, out_file_path: str) -> None:
        if not out_file_path.endswith(('.pkl', '.pickle', '.json')):
            raise ValueError(f'--out must end with .pkl, .pickle or .json, got {out_file_path}')
        BaseMetric.__init__(self)
        self.out_file_path = out_file_path

    def compute_metrics(self, results: list) -> dict:
        if not self.out_file_path.endswith('.json'):
            return super().compute_metrics(results)
        with open(self.out_file_path, 'w') as f:
            json.dump(to_builtin(results), f)
        print_log(f'Results have been saved to {self.out_file_path}.', logger='current')
        return {}


def to_builtin(obj: Any) -> Any:
    """Recursively turn predictions into JSON-serialisable Python objects."""
    if isinstance(obj, BaseDataElement):
        return to_builtin(obj.to_dict())
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): to_builtin(v) for k, v in obj.items()}
    if isinstance(obj, Sequence) and not isinstance(obj, str):
        return [to_builtin(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return repr(obj)


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command-line options to ``cfg``."""
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.show_dir:
        trigger_visualization_hook(cfg, args.show_dir)
    return cfg


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)  # the scope is the config's default_scope
    cfg = merge_args(load_config(args.config, args.cfg_options), args)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    if args.out is not None:
        runner.test_evaluator.metrics.append(DumpPredictions(args.out))
    runner.test()
    close_dist()


if __name__ == '__main__':
    main()
