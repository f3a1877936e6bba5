"""The incremental-method example of docs/en/user_guides/plugins.md runs on IncrementalLoop."""
import json
import os.path as osp
import sys

import torch
from mmengine.config import Config

from cissreg.registry import RUNNERS
from cissreg.testing.plugins_doc import code_blocks, load_plugin_config


def test_documented_growing_classifier_trains_three_tasks(tmp_path, monkeypatch):
    module, config = code_blocks('## 4. A new incremental method')[:2]
    cfg = load_plugin_config(tmp_path, monkeypatch, 'growing_linear', module, config)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.checkpoint.interval = 100
    runner = RUNNERS.build(cfg)
    runner.train()
    model = runner.model
    assert model.fc.weight.shape == (10, 3 * 32 * 32)  # grown to 4, 7, 10 classes
    assert model.old_weight.shape == (7, 3 * 32 * 32)
    with open(osp.join(cfg.work_dir, 'incremental_results.json')) as f:
        results = json.load(f)
    assert [t['task'] for t in results['tasks']] == [0, 1, 2]
    assert results['CILMetric']['acc_matrix'][0][0] > 50  # linear on digits pixels learns
    # the task checkpoint of a grown model resumes (begin_task runs before the load)
    resumed = Config.fromfile(str(tmp_path / 'my_configs' / 'cfg.py'))
    resumed.merge_from_dict(dict(work_dir=cfg.work_dir, resume=True,
                                 load_from=osp.join(cfg.work_dir, 'task_1.pth'),
                                 default_hooks=dict(checkpoint=dict(interval=100))))
    runner = RUNNERS.build(resumed)
    runner.train()
    assert torch.equal(runner.model.fc.weight, model.fc.weight)
    sys.modules.pop('my_pkg.growing_linear', None)
    sys.modules.pop('my_pkg', None)
