"""The incremental-method example of docs/en/user_guides/plugins.md runs on IncrementalLoop."""
import json
import os.path as osp
import re
import sys

import torch
from mmengine.config import Config

from cissreg.registry import RUNNERS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _code_blocks():
    with open(osp.join(ROOT, 'docs', 'en', 'user_guides', 'plugins.md')) as f:
        text = f.read()
    section = text[text.index('## 4. A new incremental method'):]
    return re.findall(r'```python\n(.*?)```', section, re.S)


def test_documented_growing_classifier_trains_three_tasks(tmp_path, monkeypatch):
    module, config = _code_blocks()[:2]
    (tmp_path / 'my_pkg').mkdir()
    (tmp_path / 'my_pkg' / '__init__.py').write_text('')
    (tmp_path / 'my_pkg' / 'growing_linear.py').write_text(module)
    (tmp_path / 'my_configs').mkdir()
    (tmp_path / 'my_configs' / 'cfg.py').write_text(
        config.replace('../configs/', osp.join(ROOT, 'configs') + '/'))
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = Config.fromfile(str(tmp_path / 'my_configs' / 'cfg.py'))
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
