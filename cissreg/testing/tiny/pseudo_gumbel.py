"""Tiny Pseudo-Gumbel runs: the tiny region MLLM, 32-px images, 2 pairs, one warm-up epoch
and one epoch of the config's second stage (whatever its sizes: the 4B-sized config is
rebuilt with the same component types at tiny sizes)."""
import json

import cv2
import numpy as np
from mmengine.config import Config

from cissreg.datasets.region_pair_dataset import region_pair_vocabulary
from cissreg.testing.sam2_parts import tiny_sam2_config
from cissreg.utils.word_tokenizer import build_word_tokenizer

from . import _shared

SIZE = 32
CAPTION_LEN = 4
TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                   num_attention_heads=2, image_size=SIZE, patch_size=8)
TINY_LM = dict(model_type='llama', hidden_size=32, intermediate_size=64, num_hidden_layers=1,
               num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256)


def _write_refcoco(root) -> None:
    (root / 'images').mkdir()
    images, anns, refs = [], [], []
    for i in range(2):
        cv2.imwrite(str(root / 'images' / f'{i}.jpg'), np.full((40, 48, 3), 60 * i, np.uint8))
        images.append(dict(id=i + 1, file_name=f'{i}.jpg', height=40, width=48))
        anns.append(dict(id=i + 1, image_id=i + 1, category_id=1, iscrowd=0, area=300,
                         bbox=[5, 5, 20, 15], segmentation=[[5, 5, 25, 5, 25, 20, 5, 20]]))
        for split in ('train', 'val', 'testA', 'testB', 'test'):
            refs.append(dict(ref_id=len(refs) + 1, ann_id=i + 1, image_id=i + 1, split=split,
                             sentences=[dict(sent='the red square')]))
    (root / 'instances.json').write_text(json.dumps(dict(
        images=images, annotations=anns, categories=[dict(id=1, name='thing')])))
    (root / 'refs.json').write_text(json.dumps(refs))


def make_tiny(cfg: Config, tmp_path) -> Config:
    """Tiny sizes, 2 samples, 2 epochs (switch after the first), work_dir under tmp_path."""
    tok_dir = _shared.shared_data(
        'pseudo_gumbel_tokenizer', lambda d: build_word_tokenizer(region_pair_vocabulary(), d))
    tokenizer = dict(path=str(tok_dir), words=None)
    mllm = cfg.model.mllm
    mllm.tokenizer = tokenizer
    mllm.vision_encoder = dict(type=mllm.vision_encoder.type, config=dict(TINY_VISION))
    mllm.language_model = dict(config=dict(TINY_LM))
    if mllm.get('lora'):
        mllm.lora = dict(r=2, lora_alpha=4, target_modules=['q_proj', 'v_proj'])
    mllm.pop('projector_hidden', None)
    if cfg.model.grounding_encoder.type == 'Sam2GroundingEncoder':
        sam2 = tiny_sam2_config()
        cfg.model.update(
            prompt_dim=sam2['mask_decoder_config']['hidden_size'],
            grounding_encoder=dict(type='Sam2GroundingEncoder', config=sam2),
            mask_decoder=dict(type='Sam2PromptMaskDecoder', config=sam2))
    else:
        cfg.model.update(
            prompt_dim=16,
            grounding_encoder=dict(type='ConvGroundingEncoder', channels=8, num_downs=1),
            mask_decoder=dict(type='PromptMaskDecoder', in_channels=8, channels=8, upsample=2))
    cfg.model.max_caption_len = CAPTION_LEN
    for ds in _shared.datasets(cfg):
        if ds['type'] == 'RegionPairDataset':
            ds.update(data_root=str(tmp_path / 'pairs'), num_pairs=2, img_size=SIZE)
        elif ds['type'] == 'RefCocoRegionDataset':
            root = _shared.shared_data('pseudo_gumbel_refcoco', _write_refcoco)
            ds.update(data_root=str(root), refs_file='refs.json', instances_file='instances.json',
                      img_dir='images', max_samples=2)
        for t in ds.get('pipeline', []):
            if t['type'] == 'ResizeRegionPair':
                t['size'] = SIZE
            elif t['type'] == 'TokenizeCaption':
                t.update(tokenizer=tokenizer, max_len=CAPTION_LEN)
    _shared.shrink_loaders(cfg, batch_size=2)
    cfg.train_cfg.update(max_epochs=2, val_interval=1)
    hooks = cfg.default_hooks
    hooks.train_mode.switch_epoch = 1
    hooks.ema_teacher.update(begin_epoch=1, warmup_iters=0)
    hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.param_scheduler = []
    cfg.work_dir = str(tmp_path / 'work_dir')
    return cfg


def check(runner, cfg) -> None:
    """Stage 2 ran (its mode is set, the teacher was updated) and RIS metrics (with the
    text-sensitivity ones where the config has the hook) were logged."""
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    assert model.train_mode == cfg.default_hooks.train_mode.after
    assert int(model.teacher.num_updates) == 1
    scalars = runner.message_hub.log_scalars
    assert 'val/ris/mIoU' in scalars and 'val/ris/oIoU' in scalars
    if any(h['type'] == 'TextSensitivityHook' for h in cfg.get('custom_hooks', [])):
        assert 'val/ris/mIoU_shuffled' in scalars and 'val/ris/text_gap' in scalars
