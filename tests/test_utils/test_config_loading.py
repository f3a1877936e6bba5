"""load_config: a top-level variable set by --cfg-options reaches every entry that reads it."""
import pickle
from pathlib import Path

import numpy as np
import pytest

from cissreg.utils.config_loading import load_config

REPO = Path(__file__).resolve().parents[2]
SUPERCLASS_CFG = str(REPO / 'configs/gcd/gcd_vit-b16-dino_cifar100-superclass.py')


def _write_cifar100(root: Path) -> None:
    """cifar-100-python pickles, 2 images per fine class, fine class c in superclass c % 20."""
    cifar = root / 'cifar-100-python'
    cifar.mkdir()
    fine = np.arange(100)
    with open(cifar / 'meta', 'wb') as f:
        pickle.dump({b'fine_label_names': [f'f{i}'.encode() for i in fine],
                     b'coarse_label_names': [f'c{i}'.encode() for i in range(20)]}, f)
    labels = np.repeat(fine, 2)
    for split in ('train', 'test'):
        with open(cifar / split, 'wb') as f:
            pickle.dump({b'fine_labels': labels.tolist(),
                         b'coarse_labels': (labels % 20).tolist(),
                         b'data': np.zeros((200, 3072), np.uint8)}, f)


def test_superclass_option_changes_the_class_list_of_every_loader(tmp_path, cissreg_scope):
    from cissreg.registry import DATASETS
    _write_cifar100(tmp_path)
    classes = {}
    for superclass in (0, 3):
        cfg = load_config(SUPERCLASS_CFG, {'superclass': superclass,
                                           'data_root': str(tmp_path)})
        assert cfg.superclass == superclass
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            inner = cfg[loader].dataset.dataset
            assert inner.superclass == superclass and inner.data_root == str(tmp_path)
            inner.pipeline = []
            classes[superclass, loader] = DATASETS.build(cfg[loader].dataset).metainfo['classes']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert classes[0, loader] == ('f0', 'f20', 'f40', 'f60', 'f80')
        assert classes[3, loader] == ('f3', 'f23', 'f43', 'f63', 'f83')


def test_variables_of_base_files_and_dotted_options(tmp_path):
    (tmp_path / 'base.py').write_text('width = 4\nsizes = [1, 2]\n'
                                      'model = dict(width=width, sizes=sizes, depth=2)\n')
    (tmp_path / 'child.py').write_text("_base_ = './base.py'\nsteps = 10\n"
                                       'schedule = dict(T_max=steps, end=steps)\n'
                                       'head = dict(width={{_base_.width}})\n')
    cfg = load_config(str(tmp_path / 'child.py'),
                      {'width': 8, 'sizes': [3, 4, 5], 'steps': 20, 'model.depth': 3})
    assert cfg.model.to_dict() == dict(width=8, sizes=[3, 4, 5], depth=3)
    assert cfg.schedule.to_dict() == dict(T_max=20, end=20)
    assert cfg.head.width == 8 and cfg.steps == 20
    plain = load_config(str(tmp_path / 'child.py'))
    assert plain.model.width == 4 and plain.schedule.T_max == 10 and plain.head.width == 4


def test_non_literal_top_level_value_is_refused(tmp_path):
    (tmp_path / 'cfg.py').write_text('width = 4\nmodel = dict(width=width)\n')
    with pytest.raises(ValueError, match='width=.*Python literal'):
        load_config(str(tmp_path / 'cfg.py'), {'width': object()})
