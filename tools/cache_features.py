"""Write the GCD feature cache of a checkpoint (projected features of every training sample).

Usage:
    python tools/cache_features.py CONFIG CHECKPOINT --out FEATURES.npz [--epoch N]
                                   [--cfg-options K=V ...]

Same file as ``GCDFeatureCacheHook`` writes at the end of a training stage (format in
``cissreg/clustering/cache_io.py``); ``tools/pseudo_label_pipeline.py`` calls this when a
feature cache is missing.
"""
import argparse
import os.path as osp
import re
import sys
from typing import List, Optional

from mmengine.config import DictAction

from cissreg.clustering.cache_io import save_feature_cache
from cissreg.engine.hooks.gcd_feature_cache_hook import extract_gcd_features
from cissreg.registry import RUNNERS
from cissreg.utils import register_all_modules
from cissreg.utils.config_loading import load_config


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='GCD feature cache of a checkpoint')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='feature cache .npz')
    parser.add_argument('--epoch', type=int, default=None,
                        help='epoch recorded in the cache (default: from the file name)')
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)  # the scope is the config's default_scope
    cfg = load_config(args.config, args.cfg_options)
    cfg.work_dir = osp.dirname(osp.abspath(args.checkpoint))
    cfg.load_from, cfg.resume = None, False
    cfg.train_dataloader.dataset.pseudo_labels = None
    runner = RUNNERS.build(cfg)
    runner.load_checkpoint(args.checkpoint)
    epoch = args.epoch
    if epoch is None:
        match = re.search(r'epoch_(\d+)', osp.basename(args.checkpoint))
        epoch = int(match.group(1)) if match else -1
    feats = extract_gcd_features(runner.model, runner.train_dataloader.dataset, args.batch_size)
    save_feature_cache(args.out, feats['indices'], feats['features'], feats['labels'],
                       feats['targets'], dict(epoch=epoch, checkpoint=osp.abspath(args.checkpoint)))
    print(f'feature cache of {args.checkpoint} written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
