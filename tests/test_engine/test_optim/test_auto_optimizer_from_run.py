"""optimizer 'auto': the runner reads max_epochs, the image count and the class count from the
run, so one `--cfg-options train_cfg.max_epochs=N` changes the choice."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from cissreg.engine.optim import fill_auto_cfg
from cissreg.registry import RUNNERS

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / 'configs' / 'yolov8' / 'yolov8_n_ultralytics-recipe_shapes.py'


def _optimizer(tmp_path: Path, max_epochs: int):
    cfg = Config.fromfile(str(CONFIG))
    small = dict(data_root=str(tmp_path / 'shapes'), img_size=64, num_train=8, num_val=2,
                 object_size=(12, 40), num_objects=(1, 2))
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.update(small)
    cfg.merge_from_dict({'train_cfg.max_epochs': max_epochs})  # as --cfg-options does
    name = f'auto{max_epochs}'
    cfg.update(work_dir=str(tmp_path / name), experiment_name=name)
    cfg.visualizer.name = name
    runner = RUNNERS.build(cfg)
    runner.train_loop  # built before the optimizer, as in runner.train()
    return runner.build_optim_wrapper(runner.optim_wrapper).optimizer


def test_max_epochs_override_changes_the_auto_choice(tmp_path):
    # 8 images, 1 nominal-batch iteration per epoch: SGD above 10000 iterations
    short = _optimizer(tmp_path, 8)
    assert type(short) is torch.optim.AdamW
    assert short.param_groups[0]['lr'] == pytest.approx(round(0.002 * 5 / (4 + 6), 6))
    long = _optimizer(tmp_path, 10001)
    assert type(long) is torch.optim.SGD
    assert long.param_groups[0]['momentum'] == 0.937 and long.param_groups[0]['nesterov']


def test_fill_auto_cfg_keeps_given_values_and_names_missing_ones():
    cfg = dict(optimizer=dict(type='auto'), auto_cfg=dict(max_epochs=3))
    filled = fill_auto_cfg(cfg, num_classes=6, num_images=100, max_epochs=50)
    assert filled['auto_cfg'] == dict(num_classes=6, num_images=100, max_epochs=3)
    assert cfg['auto_cfg'] == dict(max_epochs=3)  # the config is not modified
    sgd = dict(optimizer=dict(type='SGD'))
    assert fill_auto_cfg(sgd) is sgd
    with pytest.raises(ValueError, match=r'auto_cfg\.num_images'):
        fill_auto_cfg(cfg, num_classes=6)
    with pytest.raises(ValueError, match=r"unknown keys \['epochs'\]"):
        fill_auto_cfg(dict(optimizer=dict(type='auto'), auto_cfg=dict(epochs=3)))
