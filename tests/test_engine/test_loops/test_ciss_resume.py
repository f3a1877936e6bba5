"""CISS through the real runner: resuming in the middle of step 1 ends bit-identical to the
uninterrupted run (main weights and optimizer, gradient learner and its Adam, memory)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from cissreg.registry import RUNNERS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def tiny_cfg(tmp_path, work_dir, resume_from=None):
    cfg = Config.fromfile(osp.join(REPO, 'configs/ciss/dkd_r18_shapes_4-1_grad.py'))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.update(data_root=str(tmp_path / 'shapes'), num_train=24, num_val=4,
                                img_size=32)
        cfg[key].update(batch_size=4, num_workers=0)
    cfg.train_dataloader.dataset.pipeline[1].size = 32
    cfg.model.decode_head.channels = 8
    cfg.train_cfg.update(num_tasks=2)
    cfg.train_cfg.task_split.cache_dir = str(tmp_path / 'splits')
    cfg.train_cfg.stages.step.update(max_epochs=2, init_max_epochs=1)
    cfg.default_hooks.checkpoint.update(max_keep_ckpts=10)
    cfg.default_hooks.grad_learner.update(samples=32)
    cfg.default_hooks.memory = dict(type='ExemplarMemoryHook', mem_size=3, batch_size=4)
    cfg.work_dir = str(work_dir)
    if resume_from:
        cfg.resume, cfg.load_from = True, str(resume_from)
    return cfg


def final_state(runner):
    hook = [h for h in runner.hooks if type(h).__name__ == 'GradLearnerHook'][0]
    memory = [h for h in runner.hooks if type(h).__name__ == 'ExemplarMemoryHook'][0]
    return dict(model=runner.model.state_dict(),
                optim=runner.optim_wrapper.optimizer.state_dict(),
                learner=hook.state_dict(), memory=dict(memory.memory),
                old=runner.model.old_model.state_dict())


def assert_same(a, b, path=''):
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            assert_same(a[k], b[k], f'{path}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f'{path}[{i}]')
    elif torch.is_tensor(a):
        assert torch.equal(a, b), path
    else:
        assert a == b, path


@pytest.mark.filterwarnings('ignore')
def test_resume_mid_step_is_bit_identical(tmp_path):
    init_default_scope('cissreg')
    work = tmp_path / 'work'
    runner = RUNNERS.build(tiny_cfg(tmp_path, work))
    runner.train()
    full = final_state(runner)
    hook = [h for h in runner.hooks if type(h).__name__ == 'GradLearnerHook'][0]
    assert hook.steps > 0 and hook.learner.num_classes == 5
    assert full['memory'] and len(full['memory'][1]) <= 3

    # epoch_2.pth: after the first of step 1's two epochs
    resumed = RUNNERS.build(tiny_cfg(tmp_path, work, resume_from=work / 'epoch_2.pth'))
    resumed.train()
    assert_same(full, final_state(resumed))
