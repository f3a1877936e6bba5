"""The incremental-method example of docs/en/user_guides/plugins.md runs on IncrementalLoop."""
import json
import os.path as osp
import sys

import torch
from mmengine.config import Config

from cissreg.engine.hooks import IncrementalHook
from cissreg.registry import RUNNERS
from cissreg.testing.plugins_doc import code_blocks, load_plugin_config


def test_documented_growing_classifier_and_hook_train_three_tasks(tmp_path, monkeypatch):
    module, config = code_blocks('## 4. A new incremental method', '## 5.')
    hook_module, = code_blocks('## 5. A new incremental hook')
    cfg = load_plugin_config(tmp_path, monkeypatch, 'growing_linear', module, config,
                             extra_modules={'task_summary_hook': hook_module})
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
    # the metric grouped by the split the loop handed it (stated once, in task_split)
    assert set(results['CILMetric']['grouped']['2']) >= {'0-3', '4-6', '7-9'}
    # the documented hook: real event signatures, LOW priority, one summary per task
    hook = next(h for h in runner.hooks if type(h).__name__ == 'TaskSummaryHook')
    assert isinstance(hook, IncrementalHook) and hook.priority == 'LOW'
    names = [type(h).__name__ for h in runner.hooks]
    assert names.index('TaskSummaryHook') > names.index('ParamSchedulerHook')  # NORMAL first
    for task, seen in enumerate((4, 7, 10)):
        with open(osp.join(cfg.work_dir, f'task_{task}_summary.json')) as f:
            assert json.load(f) == dict(task=task, seen_classes=seen,
                                        stages=[dict(stage=1, epochs=2)])
    # the task checkpoint of a grown model resumes (begin_task runs before the load)
    resumed = Config.fromfile(str(tmp_path / 'my_configs' / 'cfg.py'))
    resumed.merge_from_dict(dict(work_dir=cfg.work_dir, resume=True,
                                 load_from=osp.join(cfg.work_dir, 'task_1.pth'),
                                 default_hooks=dict(checkpoint=dict(interval=100))))
    runner = RUNNERS.build(resumed)
    runner.train()
    assert torch.equal(runner.model.fc.weight, model.fc.weight)
    for name in [m for m in sys.modules if m == 'my_pkg' or m.startswith('my_pkg.')]:
        sys.modules.pop(name)  # ours must not shadow the next test's my_pkg
