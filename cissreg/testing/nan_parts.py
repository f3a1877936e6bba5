"""A FiniteLossModel toy whose loss diverges after epoch 1 or has one NaN sample (imported by
configs in tests).

``ToyRegressionNet`` fits a linear map with a squared error; the config's learning-rate
schedule multiplies lr by 1e5 after the first epoch, so the weights grow geometrically and the
loss overflows to inf a few iterations into epoch 2. ``ToyFileDataset`` gives every sample an
``img_path`` so a non-finite loss can name the batch's files.
"""
import torch
from mmengine.structures import BaseDataElement
from torch import nn
from torch.utils.data import Dataset

from cissreg.models.base_model import FiniteLossModel
from cissreg.registry import DATASETS, MODELS


@MODELS.register_module()
class ToyRegressionNet(FiniteLossModel):
    """Linear [B, 4] -> [B, 1] with a mean squared error."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fc = nn.Linear(4, 1)

    def forward(self, inputs, data_samples, mode: str = 'tensor'):
        pred = self.fc(torch.stack(inputs))[:, 0]
        if mode == 'loss':
            target = torch.stack([s.target for s in data_samples])
            loss = (pred - target).pow(2).mean()
            if any(s.get('nan_grad', False) for s in data_samples):
                # sqrt at 0: the value is 0, the gradient 0 * inf = NaN
                loss = loss + torch.sqrt(self.fc.weight.sum() * 0)
            return dict(loss_mse=loss)
        return pred


@DATASETS.register_module()
class ToyFileDataset(Dataset):
    """``size`` fixed samples named ``toy/<index>.png``; ``nan_index``'s target is NaN;
    ``nan_grad_index``'s loss is finite and its gradient NaN."""

    def __init__(self, size: int = 16, nan_index: int = -1, nan_grad_index: int = -1) -> None:
        self.nan_grad_index = nan_grad_index
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(size, 4, generator=g) * 3
        self.y = torch.randn(size, generator=g)
        if nan_index >= 0:
            self.y[nan_index] = float('nan')
        self.metainfo = {}

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: int) -> dict:
        sample = BaseDataElement(metainfo=dict(img_path=f'toy/{idx}.png'))
        sample.target = self.y[idx]
        sample.nan_grad = idx == self.nan_grad_index
        return dict(inputs=self.x[idx], data_samples=sample)


CONFIG = '''
_base_ = ['{repo}/configs/_base_/default_runtime.py']
custom_imports = dict(imports=['cissreg.testing.nan_parts'], allow_failed_imports=False)
model = dict(type='ToyRegressionNet')
train_dataloader = dict(
    dataset=dict(type='ToyFileDataset'), batch_size=2, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True))
train_cfg = dict(by_epoch=True, max_epochs=6)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=1e-3))
param_scheduler = [dict(type='MultiStepLR', milestones=[1], gamma=1e5, by_epoch=True)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
'''

# One sample with a NaN target, a steady lr, ``skip_nonfinite=True``: one skipped step per epoch.
SKIP_CONFIG = CONFIG.replace(
    "model = dict(type='ToyRegressionNet')",
    "model = dict(type='ToyRegressionNet', skip_nonfinite=True)").replace(
    "dataset=dict(type='ToyFileDataset')", "dataset=dict(type='ToyFileDataset', nan_index=5)"
).replace("max_epochs=6", "max_epochs=2").replace(
    "param_scheduler = [dict(type='MultiStepLR', milestones=[1], gamma=1e5, by_epoch=True)]",
    "param_scheduler = []")

# One sample whose loss is finite and whose gradient is NaN, skipped: one skip per epoch.
GRAD_SKIP_CONFIG = SKIP_CONFIG.replace("nan_index=5", "nan_grad_index=5") + (
    "custom_hooks = [dict(type='EMAHook')]\n")
