"""OpenAI-layout CLIP -> transformers: same image and text features as open_clip."""
import importlib.util
from pathlib import Path

import pytest
import torch

from cissreg.models.clip import CLIPTokenizer, build_clip_model, encode_image, encode_text_ids
from cissreg.testing.reference import require

open_clip_model = require('open_clip.model')
open_clip_tokenizer = require('open_clip.tokenizer')

ROOT = Path(__file__).resolve().parents[3]
spec = importlib.util.spec_from_file_location(
    'openai_clip2hf', ROOT / 'tools' / 'model_converters' / 'openai_clip2hf.py')
openai_clip2hf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(openai_clip2hf)


@pytest.fixture(scope='module')
def reference():
    """A random open_clip CLIP of the OpenAI architecture (QuickGELU, 2 heads of 64)."""
    torch.manual_seed(0)
    model = open_clip_model.CLIP(
        32,
        vision_cfg=open_clip_model.CLIPVisionCfg(layers=2, width=128, patch_size=8,
                                                 image_size=32),
        text_cfg=open_clip_model.CLIPTextCfg(context_length=77, vocab_size=49408, width=128,
                                             heads=2, layers=2),
        quick_gelu=True).eval()
    with torch.no_grad():  # non-trivial LayerNorm / bias values so every tensor is checked
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
        model.logit_scale.fill_(3.1)
    return model


def _check_same_features(reference, hf_model):
    tokenizer = CLIPTokenizer(open_clip_tokenizer.default_bpe())
    ids = tokenizer(['a photo of a dog.', 'a diagram', 'Ünïcödé text ' * 30])
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (reference.encode_text(ids) - encode_text_ids(hf_model, ids)).abs().max() <= 1e-4
        assert (reference.encode_image(images) -
                encode_image(hf_model, images)).abs().max() <= 1e-4
        # transformers' own text path (pooling at eos_token_id) agrees too
        hf_text = hf_model.get_text_features(input_ids=ids)
        hf_text = getattr(hf_text, 'pooler_output', hf_text)
        assert (reference.encode_text(ids) - hf_text).abs().max() <= 1e-4
    assert hf_model.logit_scale.item() == pytest.approx(3.1)


def test_converted_state_dict_matches_open_clip(reference, tmp_path):
    path = tmp_path / 'clip_openai_layout.pt'
    torch.save(reference.state_dict(), path)
    _check_same_features(reference, build_clip_model(pretrained=str(path)).eval())


def test_cli_writes_hf_folder(reference, tmp_path):
    path = tmp_path / 'clip.pt'
    torch.save(reference.state_dict(), path)
    out = openai_clip2hf.convert(str(path), str(tmp_path / 'hf'),
                                 bpe=open_clip_tokenizer.default_bpe())
    assert (Path(out) / 'config.json').is_file()
    assert (Path(out) / 'bpe_simple_vocab_16e6.txt.gz').is_file()
    _check_same_features(reference, build_clip_model(pretrained=out).eval())


def test_torchscript_archive(reference, tmp_path):
    """OpenAI ships TorchScript archives; they are read with torch.jit.load."""
    path = tmp_path / 'scripted.pt'
    example = (torch.zeros(1, 3, 32, 32), torch.zeros(1, 77, dtype=torch.long))
    traced = torch.jit.trace_module(reference, {'forward': example}, check_trace=False)
    torch.jit.save(traced, str(path))
    _check_same_features(reference, build_clip_model(pretrained=str(path)).eval())


def test_missing_weights_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='never downloaded'):
        build_clip_model(pretrained=str(tmp_path / 'ViT-B-16.pt'))
