"""A tiny PseudoGumbelSegmentor and a batch for the tests (random init, CPU, no download)."""
import copy

import torch
from mmengine.config import Config

from cissreg.registry import MODELS

TINY_WORDS = ('the red green blue circle square triangle describe this region please '
              'segment it is').split()


def tiny_model_cfg(tmp_path, mllm_overrides=None, **overrides) -> dict:
    cfg = Config.fromfile('configs/_base_/models/pseudo_gumbel_tiny.py').model.to_dict()
    mllm = cfg['mllm']
    mllm['tokenizer'] = dict(path=str(tmp_path / 'tokenizer'), words=list(TINY_WORDS))
    mllm['vision_encoder']['config'].update(hidden_size=32, intermediate_size=64,
                                            num_hidden_layers=1, image_size=32)
    mllm['language_model']['config'].update(hidden_size=32, intermediate_size=64,
                                            num_attention_heads=2, num_key_value_heads=2)
    mllm['lora'] = dict(r=4, lora_alpha=8, target_modules=['q_proj', 'v_proj'])
    mllm.update(mllm_overrides or {})
    cfg.update(max_caption_len=6, prompt_dim=16,
               grounding_encoder=dict(type='ConvGroundingEncoder', channels=8, num_downs=1),
               mask_decoder=dict(type='PromptMaskDecoder', in_channels=8, channels=8,
                                 upsample=2))
    cfg.update(overrides)
    return cfg


def build_tiny(tmp_path, mllm_overrides=None, **overrides):
    torch.manual_seed(0)
    return MODELS.build(copy.deepcopy(tiny_model_cfg(tmp_path, mllm_overrides, **overrides)))


def tiny_batch(model, b=3, size=32):
    g = torch.Generator().manual_seed(0)
    img = torch.randint(0, 256, (b, 3, size, size), generator=g).float()
    masks = torch.zeros(b, size, size)
    for i in range(b):
        masks[i, 4 * i:4 * i + 12, 6:20] = 1
    tok = model.mllm.tokenizer
    caps = [tok.encode(c, add_special_tokens=False) + [tok.eos_token_id]
            for c in ('the red circle', 'blue square', 'the green triangle')[:b]]
    ids = torch.full((b, 6), tok.pad_token_id)
    for i, c in enumerate(caps):
        ids[i, :len(c)] = torch.tensor(c)
    return dict(img1=img, mask1=masks, img2=img.flip(-1), mask2=masks.flip(-1), caption_ids=ids)
