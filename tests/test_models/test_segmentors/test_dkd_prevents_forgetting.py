"""Behavioural test: the default config's DKD model keeps the old classes that fine-tuning
(the same model without its KD terms) forgets.

Smaller version of ``configs/ciss/dkd_r18_shapes_4-1.py``: the same model config (narrower
head) on 32 px images of coloured squares; step 0 learns classes 1 (red) and 2 (green), step
1 learns class 3 (blue) on images where red squares are labelled background (DKD's overlap
labels). Without KD the model learns "red -> background" and the old-class mIoU falls below
DKD's. Mutation check: with ``loss_kd=None, loss_dkd=None`` the assertion fails.
"""
import copy
import os.path as osp

import torch
from mmengine.config import Config

from cissreg.engine.optim import dkd_param_groups
from cissreg.evaluation.metrics import ciss_miou, confusion_matrix
from cissreg.models.segmentors.ciss import sigmoid_argmax_prediction
from cissreg.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
COLOURS = {1: (1.5, -1.0, -1.0), 2: (-1.0, 1.5, -1.0), 3: (-1.0, -1.0, 1.5)}


def squares(gen, n, classes, old_as_background=()):
    x = torch.randn(n, 3, 32, 32, generator=gen) * 0.3
    y = torch.zeros(n, 32, 32, dtype=torch.long)
    for i in range(n):
        for k, cls in enumerate(classes):
            top = int(torch.randint(0, 16, (1, ), generator=gen))
            left = 16 * k
            x[i, :, top:top + 16, left:left + 16] += torch.tensor(COLOURS[cls]).view(3, 1, 1)
            y[i, top:top + 16, left:left + 16] = 0 if cls in old_as_background else cls
    return x, y


def train(model, x, y, iters, lr):
    opt = torch.optim.SGD(dkd_param_groups(model, lr, 0.0), lr=lr, momentum=0.9)
    model.train()
    for i in range(iters):
        idx = torch.arange(8) + (8 * i) % len(x)
        loss = sum(model.loss(x[idx % len(x)], y[idx % len(x)]).values())
        opt.zero_grad()
        loss.backward()
        opt.step()


def old_miou(model, gen):
    x, y = squares(gen, 16, (1, 2))
    model.eval()
    with torch.no_grad():
        pred = sigmoid_argmax_prediction(model.seg_logits(x)[1])
    cm = confusion_matrix(y.numpy(), pred.numpy(), 4)
    return ciss_miou(cm, num_base=2, num_seen=3)['mIoU_old']


def test_kd_terms_keep_old_classes_that_finetuning_forgets():
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(REPO, 'configs/ciss/dkd_r18_shapes_4-1.py'))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.update(task_sizes=[2, 1])
    model_cfg.decode_head.update(channels=16)
    gen = torch.Generator().manual_seed(0)
    base = MODELS.build(model_cfg)
    x0, y0 = squares(gen, 32, (1, 2))
    train(base, x0, y0, iters=40, lr=0.005)
    before = old_miou(base, torch.Generator().manual_seed(1))
    assert before > 60  # step 0 learnt the old classes

    x1, y1 = squares(gen, 32, (1, 3), old_as_background=(1, ))
    results = {}
    for name, kd in (('dkd', True), ('finetune', False)):
        model = copy.deepcopy(base)
        if not kd:
            model.losses.pop('kd')
            model.losses.pop('dkd')
        model.begin_task(1)
        train(model, x1, y1, iters=30, lr=0.001)  # DKD's 1e-4 backbone / 1e-3 head scale
        results[name] = old_miou(model, torch.Generator().manual_seed(1))
    assert results['finetune'] < results['dkd'] - 10, (before, results)
