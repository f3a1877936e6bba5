"""``PipelineSwitchHook`` (close-mosaic) through a real Runner: worker processes, persistent
workers, and a resumed run that starts inside the switched epochs."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

import cissreg.engine  # noqa: F401

EPOCHS, SIZE, BATCH = 4, 8, 4


class _Tag:
    """Pipeline step writing ``tag`` (which pipeline produced the sample)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __call__(self, results: dict) -> dict:
        results['tag'] = self.value
        return results


class _Data(torch.utils.data.Dataset):

    def __init__(self) -> None:
        self.pipeline = _Tag(0)

    def __len__(self) -> int:
        return SIZE

    def __getitem__(self, i):
        return self.pipeline(dict(inputs=torch.full((2, ), float(i)), targets=torch.tensor(1.)))


class _Net(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 1)
        self.tags = []

    def forward(self, inputs, targets, tag, mode='tensor'):
        self.tags.append(sorted(set(tag.tolist())))
        return dict(loss=F.mse_loss(self.fc(inputs).squeeze(1), targets))


def _runner(tmp_path, num_workers, persistent, close_epochs=2, resume_from=None):
    return Runner(
        model=_Net(), work_dir=str(tmp_path), default_scope='cissreg',
        train_dataloader=dict(dataset=_Data(), batch_size=BATCH, num_workers=num_workers,
                              persistent_workers=persistent,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=EPOCHS),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1000),
                           pipeline_switch=dict(type='PipelineSwitchHook',
                                                close_epochs=close_epochs,
                                                switch_pipeline=[_Tag(1)])),
        load_from=resume_from, resume=resume_from is not None, log_level='WARNING')


def _per_epoch(tags):
    nb = SIZE // BATCH
    return [sorted({t for batch in tags[e * nb:(e + 1) * nb] for t in batch})
            for e in range(len(tags) // nb)]


@pytest.mark.parametrize('num_workers,persistent', [(0, False), (2, False), (2, True)])
def test_last_close_epochs_use_the_switched_pipeline(tmp_path, num_workers, persistent):
    runner = _runner(tmp_path, num_workers, persistent)
    runner.train()
    assert _per_epoch(runner.model.tags) == [[0], [0], [1], [1]]


def test_resume_inside_the_closed_epochs_switches_at_once(tmp_path):
    _runner(tmp_path / 'a', 0, False).train()
    resumed = _runner(tmp_path / 'b', 2, True, resume_from=str(tmp_path / 'a' / 'epoch_3.pth'))
    resumed.train()
    assert _per_epoch(resumed.model.tags) == [[1]]


def test_short_run_never_switches_like_ultralytics(tmp_path):
    runner = _runner(tmp_path, 0, False, close_epochs=EPOCHS + 1)
    runner.train()
    assert _per_epoch(runner.model.tags) == [[0]] * EPOCHS
