"""The loss plugin of docs/en/user_guides/plugins.md (§1-2) works as written."""
import os.path as osp
import re
import sys

import torch
from mmengine.config import Config

from cissreg.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _blocks():
    with open(osp.join(ROOT, 'docs', 'en', 'user_guides', 'plugins.md')) as f:
        text = f.read()
    section = text[text.index('## 1. The module'):text.index('## 3. Run it')]
    return re.findall(r'```python\n(.*?)```', section, re.S)


def test_documented_loss_is_a_short_weighted_loss_subclass_used_by_the_config(
        tmp_path, monkeypatch, cissreg_scope):
    module, config = _blocks()
    class_lines = module[module.index('@MODELS.register_module()'):].strip().splitlines()
    assert len(class_lines) <= 12  # the formula and its docstring, nothing else
    (tmp_path / 'my_pkg').mkdir()
    (tmp_path / 'my_pkg' / '__init__.py').write_text('')
    (tmp_path / 'my_pkg' / 'my_losses.py').write_text(module)
    (tmp_path / 'my_configs').mkdir()
    (tmp_path / 'my_configs' / 'cfg.py').write_text(
        config.replace('../configs/', osp.join(ROOT, 'configs') + '/'))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == 'my_pkg' or m.startswith('my_pkg.')]:
        sys.modules.pop(name)  # another doc test's my_pkg lives elsewhere
    cfg = Config.fromfile(str(tmp_path / 'my_configs' / 'cfg.py'))  # runs custom_imports

    head = MODELS.build(cfg.model.bbox_head)
    loss = head.loss_cls
    assert type(loss).__name__ == 'ScaledBCEWithLogitsLoss'
    loss.scale = 1.5
    torch.manual_seed(0)
    pred, target = torch.randn(6, 3), torch.rand(6, 3)
    weight = torch.rand(6, 1)
    p, t, w = pred.double(), target.double(), weight.double()
    elem = 1.5 * (torch.clamp(p, min=0) - p * t + torch.log1p(torch.exp(-p.abs())))
    expected = 0.5 * (elem * w).sum() / 4.0
    got = loss(pred, target, weight=weight, avg_factor=4.0)
    torch.testing.assert_close(got.double(), expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(loss(pred, target, reduction_override='none').double(),
                               0.5 * elem, rtol=1e-6, atol=1e-7)
    for name in [m for m in sys.modules if m == 'my_pkg' or m.startswith('my_pkg.')]:
        sys.modules.pop(name)  # ours must not shadow the next test's my_pkg
