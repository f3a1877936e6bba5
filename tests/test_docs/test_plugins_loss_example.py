"""The loss plugin of docs/en/user_guides/plugins.md (§1-2) works as written."""
import sys

import torch

from cissreg.registry import MODELS
from cissreg.testing.plugins_doc import code_blocks, load_plugin_config


def test_documented_loss_is_a_short_weighted_loss_subclass_used_by_the_config(
        tmp_path, monkeypatch, cissreg_scope):
    module, config = code_blocks('## 1. The module', '## 3. Run it')
    class_lines = module[module.index('@MODELS.register_module()'):].strip().splitlines()
    assert len(class_lines) <= 12  # the formula and its docstring, nothing else
    cfg = load_plugin_config(tmp_path, monkeypatch, 'my_losses', module, config)

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
