"""What CLIPPromptClassifier checkpoints hold: what changes, never the frozen CLIP."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from cissreg.models.clip import build_clip_model
from cissreg.registry import MODELS
from cissreg.testing.clip_cil_parts import ROOT, TINY_CLIP, tiny_model_cfg

VIT_B16 = dict(
    text_config=dict(vocab_size=49408, hidden_size=512, intermediate_size=2048,
                     num_hidden_layers=12, num_attention_heads=8, max_position_embeddings=77),
    vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                       num_attention_heads=12, image_size=224, patch_size=16),
    projection_dim=512)


pytestmark = pytest.mark.usefixtures('cissreg_scope')


@pytest.fixture
def pretrained(tmp_path):
    """A 'pretrained' tiny CLIP on disk (transformers layout, safetensors)."""
    from safetensors.torch import save_file
    torch.manual_seed(7)
    clip = build_clip_model(config=TINY_CLIP)
    path = str(tmp_path / 'tiny_clip.safetensors')
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, path)
    return path


def _model(path, **overrides):
    cfg = tiny_model_cfg(**overrides)
    cfg['clip'] = dict(config=TINY_CLIP, pretrained=path)
    return MODELS.build(cfg)


def test_pretrained_clip_is_left_out_and_rebuilt_on_load(pretrained):
    model = _model(pretrained, lora=dict(rank=2, alpha=4, layers=[1]))
    for task in (0, 1):
        model.begin_task(task, dict(class_names=[f'c{i}' for i in range(10)]))
    with torch.no_grad():
        model.prompt_learner.pool[1].ctx.normal_()
        next(p for p in model.lora_parameters).normal_()
    state = model.state_dict()
    assert not [k for k in state if k.startswith('clip.') and 'lora_' not in k]
    assert any('lora_' in k for k in state) and 'frozen_checksum' in state
    fresh = _model(pretrained, lora=dict(rank=2, alpha=4, layers=[1]))
    fresh.load_state_dict(state, strict=True)  # the frozen keys are not "missing"
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in state.items())
    assert torch.equal(fresh.clip.text_projection.weight, model.clip.text_projection.weight)


def test_a_checkpoint_refuses_other_frozen_weights(pretrained, tmp_path):
    from safetensors.torch import save_file
    state = _model(pretrained).state_dict()
    torch.manual_seed(8)
    other = str(tmp_path / 'other.safetensors')
    save_file({k: v.contiguous() for k, v in build_clip_model(config=TINY_CLIP)
               .state_dict().items()}, other)
    with pytest.raises(ValueError, match='other frozen clip weights'):
        _model(other).load_state_dict(state)


def test_random_init_clip_is_saved_whole():
    model = MODELS.build(tiny_model_cfg())
    assert 'clip.text_projection.weight' in model.state_dict()


def test_ten_task_vit_b16_run_writes_under_500_mb():
    """Checkpoint bytes of the shipped CIFAR-100 config, from tensor sizes on the meta
    device: 10 task checkpoints + the kept epoch checkpoint(s), each with the model state
    and SGD momentum for every trainable tensor (an upper bound)."""
    import open_clip
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'clip_cil',
                                   'clip_cil_vit-b16_b10-inc10_cifar100.py'))
    model_cfg = cfg.model.to_dict()
    model_cfg['clip'] = dict(config=VIT_B16, pretrained=None)
    model_cfg['save_frozen_clip'] = False  # as with the config's pretrained weights
    model_cfg['tokenizer']['bpe_path'] = osp.join(osp.dirname(open_clip.__file__),
                                                  'bpe_simple_vocab_16e6.txt.gz')
    with torch.device('meta'):
        model = MODELS.build(model_cfg)
    state = model.state_dict()
    state_bytes = sum(t.numel() * t.element_size() for t in state.values())
    momentum = sum(p.numel() * 4 for n, p in model.named_parameters() if not n.startswith('clip.'))
    per_checkpoint = state_bytes + momentum
    files = 10 + cfg.default_hooks.checkpoint.max_keep_ckpts
    total_mb = files * per_checkpoint / 2**20
    assert total_mb < 500, total_mb
    assert state['replay_sampler.chol_tril'].dtype == torch.float16
    clip_mb = sum(t.numel() * 4 for n, t in model.named_parameters() if n.startswith('clip.'))
    assert clip_mb / 2**20 > 500  # what each checkpoint would hold with the frozen CLIP
