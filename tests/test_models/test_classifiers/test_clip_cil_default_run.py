"""End-to-end behaviour of the CLIP CIL default, shortened: a tiny CLIP pretrained briefly by
``tools/pretrain_tiny_clip.py`` (caption-level pairs, 300 steps), then the default config with
half its training images and fewer head epochs, once with and once without Gaussian replay
(module-scoped, shared by the tests)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader

from cissreg.registry import RUNNERS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CONFIG = osp.join(ROOT, 'configs', 'clip_cil',
                  'clip_cil_tiny-pretrained-caption-2k_b14-inc2_shapes-240img.py')
PRETRAIN = ['--positives', 'caption', '--steps', '300', '--pool', '3000']
SHORT = {'train_cfg.stages.head.max_epochs': 2,  # the prompts' epochs of the default
         'train_dataloader.dataset.num_train': 120}


def _run(work_dir: str, clip_dir: str, **options) -> dict:
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = work_dir
    cfg.merge_from_dict(dict(SHORT, **{'model.clip.pretrained': clip_dir}, **options))
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1000,
                                        save_last=False)
    cfg.log_level = 'WARNING'
    runner = RUNNERS.build(cfg)
    model = runner.train()
    with open(osp.join(work_dir, cfg.train_cfg.results_file)) as f:
        record = json.load(f)['CILMetric']
    model.eval()
    preds, clip_preds, labels = [], [], []
    with torch.no_grad():  # the test split, all classes seen after the last task
        for batch in DataLoader(runner.test_dataloader.dataset, batch_size=256,
                                collate_fn=pseudo_collate):
            data = model.data_preprocessor(batch, False)
            preds.append(model(**data, mode='tensor').argmax(1))
            feats = model.extract_feat(data['inputs'])
            clip_preds.append(model.clip_logits(feats, model.text_features()).argmax(1))
            labels.append(data['labels'])
    return dict(record=record, pred=torch.cat(preds), clip_pred=torch.cat(clip_preds),
                labels=torch.cat(labels), task_sizes=list(model.task_sizes))


@pytest.fixture(scope='module')
def default_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp('clip_cil_default')
    clip_dir = str(root / 'tiny_clip')
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'pretrain_tiny_clip.py'), '--out',
                    clip_dir] + PRETRAIN, check=True, cwd=ROOT, env=env,
                   stdout=subprocess.DEVNULL)
    return dict(method=_run(str(root / 'method'), clip_dir),
                no_replay=_run(str(root / 'no_replay'), clip_dir,
                               **{'default_hooks.replay.samples_per_old_class': 0}))


@pytest.mark.usefixtures('cissreg_scope')
def test_replay_keeps_old_tasks(default_runs):
    """Old tasks' accuracy after the last task: clearly higher with replay than without."""
    old = {name: sum(run['record']['acc_matrix'][-1][:-1]) / (len(run['task_sizes']) - 1)
           for name, run in default_runs.items()}
    assert old['method'] > old['no_replay'] + 10, old


@pytest.mark.usefixtures('cissreg_scope')
def test_every_task_is_predicted(default_runs):
    """After the last task, test images are predicted into every task and every task keeps
    some accuracy; and the heads move no image into another task than the prompted CLIP
    logits pick (task 0, without a head, loses none of its images to the task with one, as
    under the reference recipe's additive fusion)."""
    run = default_runs['method']
    sizes = torch.tensor(run['task_sizes'])
    starts = sizes.cumsum(0) - sizes

    def task_of(pred):
        return torch.bucketize(pred, starts, right=True) - 1

    counts = torch.bincount(task_of(run['pred']), minlength=len(sizes))
    assert bool((counts > 0).all()), counts.tolist()
    assert min(run['record']['acc_matrix'][-1]) > 0, run['record']['acc_matrix'][-1]
    moved = task_of(run['pred']) != task_of(run['clip_pred'])
    assert int(moved.sum()) == 0, (int(moved.sum()), counts.tolist())
