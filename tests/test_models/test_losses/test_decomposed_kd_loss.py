"""decomposed_kd loss (DKD) against a float64 reference."""
import torch

from cissreg.registry import MODELS
from cissreg.testing.ciss_loss_reference import bce, log_sigmoid, per_class_pixel_mean_sum


def test_decomposed_kd_sign_split_against_reference():
    gen = torch.Generator().manual_seed(3)
    n, d, h, w, c = 2, 6, 3, 4, 3
    feat = torch.randn(n, d, h, w, generator=gen)
    old_feat = torch.randn(n, d, h, w, generator=gen)
    weight = torch.randn(c, d, 1, 1, generator=gen)
    old_weight = torch.randn(c, d, 1, 1, generator=gen)
    loss = MODELS.build(dict(type='DecomposedKDLoss', pos_weight=5.0, neg_weight=2.0))
    fg = feat.clone().requires_grad_(True)
    wg = weight.clone().requires_grad_(True)
    value = loss(fg, old_feat, cls_weight=wg, old_cls_weight=old_weight)
    value.backward()

    fd = feat.double().requires_grad_(True)
    wd = weight.double().requires_grad_(True)
    # loops over classes / channels: pos = sum_k f_k * W_ck where W_ck > 0, neg where < 0
    pos = torch.zeros(n, c, h, w, dtype=torch.float64)
    neg = torch.zeros(n, c, h, w, dtype=torch.float64)
    old_pos = torch.zeros(n, c, h, w, dtype=torch.float64)
    old_neg = torch.zeros(n, c, h, w, dtype=torch.float64)
    for ci in range(c):
        for k in range(d):
            wv, ov = wd[ci, k, 0, 0], float(old_weight[ci, k, 0, 0])
            if float(wv) > 0:
                pos[:, ci] = pos[:, ci] + fd[:, k] * wv
            else:
                neg[:, ci] = neg[:, ci] + fd[:, k] * wv
            if ov > 0:
                old_pos[:, ci] += old_feat[:, k].double() * ov
            else:
                old_neg[:, ci] += old_feat[:, k].double() * ov
    sig = lambda t: torch.exp(log_sigmoid(t))  # noqa: E731
    ref = (5.0 * per_class_pixel_mean_sum(bce(pos, sig(old_pos)))
           + 2.0 * per_class_pixel_mean_sum(bce(neg, sig(old_neg))))
    ref.backward()
    torch.testing.assert_close(value.double(), ref, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(fg.grad.double(), fd.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(wg.grad.double(), wd.grad, rtol=1e-5, atol=1e-7)
    # a bias-free split: scaling features by 0 gives log(2) per part, whatever W is
    zero = loss(torch.zeros_like(feat), torch.zeros_like(feat), cls_weight=weight,
                old_cls_weight=old_weight)
    torch.testing.assert_close(zero, torch.tensor(7.0 * c * 0.6931471805599453))
