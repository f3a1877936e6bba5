"""A NaN / inf loss stops training, wrapped in DDP and unwrapped."""
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.structures import BaseDataElement

from cissreg.models.base_model import FiniteLossModel

HERE = Path(__file__).parent
REPO = HERE.parents[1]


class _Toy(FiniteLossModel):
    """Two loss terms; ``loss_bad`` is ``bad_value`` (pass through ``img_paths`` batches too)."""

    def __init__(self, bad_value: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.w = torch.nn.Parameter(torch.ones(2))
        self.bad_value = bad_value

    def forward(self, inputs, data_samples=None, mode='loss', img_paths=None):
        good = (self.w * inputs.float().mean()).sum()
        return dict(loss_good=good, loss_bad=good * 0 + self.bad_value, acc=good * 0 + 0.5)


def _image_batch():
    samples = [BaseDataElement(metainfo=dict(img_path=f'img_{i}.jpg')) for i in range(2)]
    return dict(inputs=torch.ones(2, 3), data_samples=samples)


def _feature_batch():
    """A batch of cached features: no data samples, the files travel as ``img_paths``."""
    return dict(inputs=torch.ones(2, 3), img_paths=['cache/a.png', 'cache/b.png'])


@pytest.mark.parametrize('batch, files', [(_image_batch, ['img_0.jpg', 'img_1.jpg']),
                                          (_feature_batch, ['cache/a.png', 'cache/b.png'])])
def test_message_names_iteration_from_one_terms_and_files(batch, files):
    MessageHub.get_instance('nonfinite_test').update_info('iter', 4)  # 5th iteration, 0-based
    model = _Toy(float('nan'))
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.w.detach().clone()
    with pytest.raises(FloatingPointError) as info:
        model.train_step(batch(), optim)
    message = str(info.value)
    assert 'non-finite loss at iteration 5 ' in message
    assert 'loss_bad=nan' in message and 'loss_good' not in message
    assert f'batch files: {files}' in message
    assert torch.equal(model.w, before)


def test_parse_losses_is_the_guard_that_ddp_goes_through():
    """MMDistributedDataParallel.train_step calls module.parse_losses, not module.train_step."""
    model = _Toy(float('inf'))
    model(**_image_batch(), mode='loss')  # the forward pre-hook records the batch's files
    with pytest.raises(FloatingPointError, match=r"loss_bad=inf.*\['img_0.jpg', 'img_1.jpg'\]"):
        model.parse_losses(model(**_image_batch(), mode='loss'))
    loss, log_vars = _Toy(1.0).parse_losses(_Toy(1.0)(**_image_batch(), mode='loss'))
    assert float(loss) == pytest.approx(float(log_vars['loss_good'] + log_vars['loss_bad']))


def test_a_finite_rank_stops_too_when_another_rank_is_not_finite(monkeypatch):
    """Under DDP the flag is all-reduced: a rank whose own terms are finite stops as well
    (else it would enter the backward all-reduce alone and hang), naming the other rank."""
    import cissreg.models.base_model as base_model
    reduced = []

    def all_reduce(flag, op):  # what the other rank contributes: "not finite"
        reduced.append(op)
        flag.fill_(1.0)

    other = (1, {'loss_bad': float('nan')}, ['other_rank.jpg'])
    monkeypatch.setattr(base_model, 'is_distributed', lambda: True)
    monkeypatch.setattr(base_model.torch_dist, 'all_reduce', all_reduce)
    monkeypatch.setattr(base_model, 'all_gather_object', lambda mine: [mine, other])
    model = _Toy(1.0)  # finite on this rank
    with pytest.raises(FloatingPointError) as info:
        model.train_step(_image_batch(), OptimWrapper(torch.optim.SGD(model.parameters(), lr=1)))
    assert reduced == [torch.distributed.ReduceOp.MAX]
    message = str(info.value)
    assert "rank 0: all terms finite; batch files: ['img_0.jpg', 'img_1.jpg']" in message
    assert "rank 1: loss_bad=nan; batch files: ['other_rank.jpg']" in message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _dist_train(tmp_path, config_name: str):
    """``tools/dist_train.sh`` with 2 CPU processes on a ``nan_parts`` config: (rc, output,
    work_dir)."""
    config = tmp_path / f'{config_name.lower()}.py'
    config.write_text(_config_text(config_name))
    work_dir = tmp_path / 'work'
    env = dict(os.environ, PORT=str(_free_port()), PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir', str(work_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr, work_dir


def test_dist_train_sh_stops_on_diverging_lr_and_keeps_a_finite_checkpoint(tmp_path):
    returncode, output, work_dir = _dist_train(tmp_path, 'CONFIG')
    assert returncode != 0, output[-3000:]
    found = re.search(r'non-finite loss at iteration (\d+)', output)
    assert found, output[-3000:]
    assert int(found.group(1)) > 4  # 16 samples, batch 2, 2 ranks: epoch 1 is iterations 1-4
    assert re.search(r'loss_mse=(inf|nan).*batch files: \[.toy/\d+\.png', output)
    assert 'rank 0' in output and 'rank 1' in output

    pointer = Path((work_dir / 'last_checkpoint').read_text())
    checkpoint = torch.load(pointer, weights_only=True)
    assert checkpoint['meta']['epoch'] >= 1
    assert all(torch.isfinite(v).all() for v in checkpoint['state_dict'].values())


def test_dist_train_sh_skips_a_nonfinite_step_on_every_rank_and_finishes(tmp_path):
    """skip_nonfinite=True under DDP: the NaN sample's iteration is skipped on both ranks."""
    returncode, output, work_dir = _dist_train(tmp_path, 'SKIP_CONFIG')
    assert returncode == 0, output[-3000:]
    # one NaN sample, two epochs: one skip per epoch (rank 0 logs it). The rank whose terms
    # are finite skips too: it logs the skip, and a rank that stepped alone would hang in
    # DDP's gradient all-reduce instead of finishing.
    for count in (1, 2):
        assert len(re.findall(rf'step skipped \({count} skipped so far\)', output)) == 1, \
            output[-3000:]
    assert '(3 skipped so far)' not in output
    assert len(re.findall(r'rank \d: all terms finite', output)) == 2
    assert re.search(r'loss_mse=nan; batch files: \[[^]]*toy/5\.png', output)
    checkpoint = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    assert all(torch.isfinite(v).all() for v in checkpoint['state_dict'].values())


def _config_text(name: str) -> str:
    from cissreg.testing import nan_parts
    return getattr(nan_parts, name).format(repo=REPO)


def test_every_registered_trainable_model_has_the_guard():
    """Every registered model that mmengine's loop trains (a ``BaseModel``) checks its loss:
    a method whose model derives from plain ``BaseModel`` would train on NaN unnoticed (the
    CISS segmentor and the GCD model did, until 2026-11-30)."""
    from mmengine.model import BaseModel

    import cissreg.models  # noqa: F401  (registers every model)
    from cissreg.registry import MODELS
    models = {name: cls for name, cls in MODELS.module_dict.items()  # the package's, not
              if isinstance(cls, type) and issubclass(cls, BaseModel)  # tests' toy models
              and cls.__module__.startswith('cissreg.')
              and not cls.__module__.startswith('cissreg.testing.')}
    assert {'YOLODetector', 'IncrementalSegmentor', 'ContrastiveGCD'} <= set(models)
    unguarded = sorted(name for name, cls in models.items()
                       if not issubclass(cls, FiniteLossModel))
    assert unguarded == []
