"""Per-task CLIP and head scores of a CLIP CIL run, and the accuracy of fusion rules on them.

Shared by ``clip_cil_fusion_selection.py`` and ``clip_cil_baselines.py``: a
:class:`ScoreRecorder` hook stores, after every task, the prompted CLIP logits and the heads'
logits of the evaluation images of the seen classes, so several fusion rules can be scored on
one trained run.
"""
from typing import Dict, List, Optional

import torch
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from torch.utils.data import DataLoader

from cissreg.evaluation.metrics.cil_metric import cil_summary


class ScoreRecorder(Hook):
    """After every task: CLIP logits [N, n_seen], head logits [N, n_seen] (0 for a task
    without a head) and labels [N] of the evaluation images of the seen classes."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.records: List[dict] = []

    @torch.no_grad()
    def after_train_task(self, runner, task_id: int) -> None:
        loop = runner.train_loop
        model = loop.model
        was_training = model.training
        model.eval()
        dataset = loop.task_split.eval_subset(runner.val_dataloader.dataset, task_id)
        clip, heads, labels = [], [], []
        for batch in DataLoader(dataset, batch_size=256, collate_fn=pseudo_collate):
            data = model.data_preprocessor(batch, False)
            feats = model.extract_feat(data['inputs'])
            clip.append(model.clip_logits(feats, model.text_features(task_id + 1)))
            heads.append(torch.cat([
                model.head_logits(feats, t) if bool(model.head_ready[t]) else
                feats.new_zeros(len(feats), model.task_sizes[t]) for t in range(task_id + 1)
            ], dim=1))
            labels.append(data['labels'])
        model.train(was_training)
        self.records.append(dict(clip=torch.cat(clip), heads=torch.cat(heads),
                                 labels=torch.cat(labels), starts=model.task_starts[:task_id + 1],
                                 sizes=model.task_sizes[:task_id + 1]))


def predict(rec: dict, rule: str, alpha: float, task0_head: bool = True) -> torch.Tensor:
    """Predicted labels [N] of one record under ``rule`` (``'additive'`` / ``'within_task'``,
    as ``CLIPPromptClassifier.fused_logits``); ``task0_head=False`` ignores task 0's head."""
    clip, heads = rec['clip'], rec['heads'].clone()
    if not task0_head:
        heads[:, :rec['sizes'][0]] = 0
    fused = clip + alpha * heads
    if rule == 'additive':
        return fused.argmax(1)
    out = []
    for start, size in zip(rec['starts'], rec['sizes']):
        f, c = fused[:, start:start + size], clip[:, start:start + size]
        out.append(f - f.max(1, keepdim=True).values + c.max(1, keepdim=True).values)
    return torch.cat(out, 1).argmax(1)


def evaluate(records: List[dict], rule: str, alpha: float,
             task0_head: Optional[bool] = True) -> Dict[str, float]:
    """Last / Avg / forgetting / accuracy matrix (CILMetric's definitions) of a rule, and the
    share (%) of images predicted into task 0 after the last task."""
    task_acc, all_acc = [], []
    for rec in records:
        pred = predict(rec, rule, alpha, bool(task0_head))
        y = rec['labels']
        correct = (pred == y).float()
        all_acc.append(float(correct.mean() * 100))
        task_acc.append([float(correct[(y >= s) & (y < s + n)].mean() * 100)
                         for s, n in zip(rec['starts'], rec['sizes'])])
    last = records[-1]
    pred = predict(last, rule, alpha, bool(task0_head))
    summary = cil_summary(task_acc, all_acc)
    return dict(Last=summary['Last'], Avg=summary['Avg'], forgetting=summary['forgetting'],
                acc_matrix=task_acc,
                task0_share=float((pred < last['sizes'][0]).float().mean() * 100))
