"""caption_mode_miou / TextSensitivityHook: mIoU with true, shuffled and swapped captions."""
import json
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope

from cissreg.engine.hooks import TextSensitivityHook, caption_mode_miou


class _ReadsCaption(torch.nn.Module):
    """Predicts the ground truth when the caption is the pair's true one, else nothing."""

    def __init__(self, truth):
        super().__init__()
        self.truth = truth

    def val_step(self, batch):
        meta = batch['data_samples']
        out = []
        for i, gt in enumerate(batch['mask2']):
            right = meta['caption'][i] == self.truth.get(int(meta['sample_id'][i]))
            out.append(dict(pred_mask=gt.bool() & right, gt_mask=gt.bool()))
        return out


def _loader(root):
    return dict(batch_size=4, num_workers=0, collate_fn=dict(type='default_collate'),
                sampler=dict(type='DefaultSampler', shuffle=False),
                dataset=dict(type='RegionPairDataset', data_root=str(root), split='val',
                             num_pairs=8, img_size=32, pipeline=[
                                 dict(type='LoadRegionPair'),
                                 dict(type='TokenizeCaption', max_len=9,
                                      tokenizer=dict(path=str(root / 'tokenizer'))),
                                 dict(type='PackRegionPair')]))


def test_scores_follow_the_captions_the_model_reads(tmp_path):
    init_default_scope('cissreg')
    loader = _loader(tmp_path / 'pairs')
    caption_mode_miou(_ReadsCaption({}), loader, modes=('true',))  # writes the data
    pairs = json.loads((tmp_path / 'pairs' / 'val.json').read_text())['pairs']
    truth = {p['id']: p['caption'] for p in pairs}
    model = _ReadsCaption(truth)
    scores = caption_mode_miou(model, loader)
    assert scores['mIoU_true'] == 1.0 and scores['mIoU_swapped'] == 0.0
    # shuffled: IoU 1 only where another pair happens to have the same caption
    from cissreg.datasets.region_pair_dataset import derangement
    same = [pairs[j]['caption'] == pairs[i]['caption'] for i, j in enumerate(derangement(8))]
    assert scores['mIoU_shuffled'] == pytest.approx(sum(same) / 8)
    with pytest.raises(ValueError, match="caption modes must be in .*'reversed'"):
        caption_mode_miou(model, loader, modes=('reversed',))

    hub = MessageHub.get_instance('test_text_sensitivity_hook')
    runner = SimpleNamespace(model=model, message_hub=hub,
                             cfg=SimpleNamespace(val_dataloader=loader))
    metrics = {'ris/mIoU': 1.0}
    TextSensitivityHook().after_val_epoch(runner, metrics)
    assert metrics['ris/text_gap'] == pytest.approx(1.0 - scores['mIoU_shuffled'])
    assert metrics['ris/mIoU_swapped'] == 0.0
    assert hub.get_scalar('val/ris/text_gap').current() == metrics['ris/text_gap']
    with pytest.raises(ValueError, match="modes must be in"):
        TextSensitivityHook(modes=('true',))
