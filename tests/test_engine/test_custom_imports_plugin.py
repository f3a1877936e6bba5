"""A user's plugin module outside the package, picked up through ``custom_imports``."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mmengine.config import Config

from cissreg.utils.safe_load import safe_torch_load

REPO = Path(__file__).resolve().parents[2]

PLUGIN = '''
"""A user's own loss and model, registered into cissreg's MODELS from outside the package."""
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

from cissreg.registry import DATASETS, MODELS


@MODELS.register_module()
class PluginHuberLoss(nn.Module):

    def __init__(self, delta=1.0, loss_weight=1.0, reduction='mean'):
        super().__init__()
        self.delta, self.loss_weight, self.reduction = delta, loss_weight, reduction

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        loss = F.huber_loss(pred, target, reduction='none', delta=self.delta)
        if weight is not None:
            loss = loss * weight
        reduction = reduction_override or self.reduction
        if avg_factor is not None and reduction == 'mean':
            return self.loss_weight * loss.sum() / avg_factor
        return self.loss_weight * (loss.mean() if reduction == 'mean' else loss.sum())


@MODELS.register_module()
class PluginRegressor(BaseModel):

    def __init__(self, loss=dict(type='PluginHuberLoss')):
        super().__init__()
        self.plugin_head = nn.Linear(3, 1)
        self.loss = MODELS.build(loss)

    def forward(self, inputs, targets, mode='tensor'):
        pred = self.plugin_head(torch.stack(inputs)).squeeze(1)
        if mode == 'loss':
            return dict(loss_plugin=self.loss(pred, torch.stack(targets)))
        return pred


@DATASETS.register_module()
class PluginLineDataset(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        x = torch.tensor([idx, idx / 2, 1.0])
        return dict(inputs=x, targets=x.sum())
'''

CONFIG = '''
custom_imports = dict(imports=['cissreg_demo_plugin'], allow_failed_imports=False)
default_scope = 'cissreg'
runner_type = 'CissRunner'
model = dict(type='PluginRegressor', loss=dict(type='PluginHuberLoss', delta=0.5))
train_dataloader = dict(dataset=dict(type='PluginLineDataset'), batch_size=4,
                        sampler=dict(type='DefaultSampler', shuffle=True))
train_cfg = dict(by_epoch=False, max_iters=1)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                     logger=dict(type='LoggerHook', interval=1))
log_processor = dict(by_epoch=False)
'''


def test_plugin_outside_package_trains_through_tools_train(tmp_path):
    plugin_dir = tmp_path / 'user_code'
    plugin_dir.mkdir()
    (plugin_dir / 'cissreg_demo_plugin.py').write_text(textwrap.dedent(PLUGIN))
    config = tmp_path / 'plugin_config.py'
    config.write_text(CONFIG)
    work_dir = tmp_path / 'work'
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join([str(plugin_dir), os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run(
        [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'loss_plugin:' in result.stdout + result.stderr  # the plugin's loss was logged

    checkpoint = safe_torch_load(str(work_dir / 'iter_1.pth'))
    assert set(checkpoint['state_dict']) == {'plugin_head.weight', 'plugin_head.bias'}
    assert checkpoint['meta']['iter'] == 1


def test_missing_plugin_module_is_reported(tmp_path):
    config = tmp_path / 'plugin_config.py'
    config.write_text(CONFIG.replace('cissreg_demo_plugin', 'cissreg_missing_plugin_xyz'))
    with pytest.raises(ImportError, match='cissreg_missing_plugin_xyz'):
        Config.fromfile(str(config))
