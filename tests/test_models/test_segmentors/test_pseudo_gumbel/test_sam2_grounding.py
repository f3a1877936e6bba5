"""The SAM2 grounding pair against transformers' own ``Sam2Model`` forward (Sa2VA wiring)."""
import pytest
import torch
from transformers import Sam2Config, Sam2Model

from cissreg.models.segmentors.pseudo_gumbel import Sam2GroundingEncoder, Sam2PromptMaskDecoder
from cissreg.testing.pseudo_gumbel_tiny_parts import build_tiny, tiny_batch
from cissreg.testing.sam2_parts import tiny_sam2_config

IDENTITY = dict(input_mean=(0.0, 0.0, 0.0), input_std=(1.0, 1.0, 1.0), mean=(0.0, 0.0, 0.0),
                std=(1.0, 1.0, 1.0))


@pytest.fixture(scope='module')
def sam2_folder(tmp_path_factory):
    """A random tiny Sam2Model written as a transformers folder (what a user downloads)."""
    torch.manual_seed(0)
    model = Sam2Model(Sam2Config(**tiny_sam2_config()))
    with torch.no_grad():  # make the zero-initialised no-memory embedding matter
        model.no_memory_embedding.normal_()
    folder = tmp_path_factory.mktemp('sam2')
    model.save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_seg_prompt_equals_sam2_forward_with_the_token_appended(sam2_folder, mode):
    """Our pair == Sam2Model.forward whose sparse prompts get the [SEG] token appended."""
    encoder = Sam2GroundingEncoder(pretrained=sam2_folder, **IDENTITY)
    decoder = Sam2PromptMaskDecoder(prompt_dim=32, pretrained=sam2_folder)
    reference = Sam2Model.from_pretrained(sam2_folder, local_files_only=True)
    for m in (encoder, decoder, reference):
        m.train(mode == 'train')
    g = torch.Generator().manual_seed(1)
    images, prompt = torch.randn(3, 3, 64, 64, generator=g), torch.randn(3, 32, generator=g)

    prompt_encoder = reference.prompt_encoder
    original = prompt_encoder.forward

    def with_seg_token(*args, **kwargs):  # Sa2VA: cat(sparse_embeddings, language_embd)
        sparse, dense = original(*args, **kwargs)
        return torch.cat([sparse, prompt[:, None, None]], dim=2), dense

    prompt_encoder.forward = with_seg_token
    with torch.no_grad():
        expected = reference(pixel_values=images, multimask_output=False).pred_masks[:, 0, 0]
        ours = decoder(encoder(images), prompt)
    assert ours.shape == (3, 16, 16)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # the prompt is used: another prompt, other masks
        assert not torch.allclose(decoder(encoder(images), prompt.flip(0)), ours)


def test_encoder_resizes_and_renormalises_to_sam2_input(sam2_folder):
    clip_mean, clip_std = (122.77, 116.75, 104.09), (68.50, 66.63, 70.32)
    encoder = Sam2GroundingEncoder(pretrained=sam2_folder, input_mean=clip_mean,
                                   input_std=clip_std).eval()
    plain = Sam2GroundingEncoder(pretrained=sam2_folder, **IDENTITY).eval()
    g = torch.Generator().manual_seed(2)
    raw = torch.rand(2, 3, 32, 32, generator=g) * 255
    mean, std = torch.tensor(clip_mean).view(1, 3, 1, 1), torch.tensor(clip_std).view(1, 3, 1, 1)
    inet_mean = torch.tensor((123.675, 116.28, 103.53)).view(1, 3, 1, 1)
    inet_std = torch.tensor((58.395, 57.12, 57.375)).view(1, 3, 1, 1)
    sam_input = torch.nn.functional.interpolate((raw - inet_mean) / inet_std, size=(64, 64),
                                                mode='bilinear', align_corners=False)
    with torch.no_grad():
        ours, expected = encoder((raw - mean) / std), plain(sam_input)
    assert [f.shape[-1] for f in ours] == [16, 8, 4]
    for a, b in zip(ours, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_frozen_encoder_trained_decoder_in_the_segmentor(tmp_path, sam2_folder):
    model = build_tiny(
        tmp_path, prompt_dim=32,
        grounding_encoder=dict(type='Sam2GroundingEncoder', pretrained=sam2_folder),
        mask_decoder=dict(type='Sam2PromptMaskDecoder', pretrained=sam2_folder))
    model.train_mode = 'pseudo_gumbel'
    losses = model(**tiny_batch(model), mode='loss')
    sum(losses.values()).backward()
    assert all(p.grad is None and not p.requires_grad
               for p in model.grounding_encoder.parameters())
    decoder_grads = [p.grad for p in model.mask_decoder.mask_decoder.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in decoder_grads)
    lora = [p.grad for n, p in model.mllm.named_parameters() if 'lora_' in n]
    assert lora and any(g is not None and g.abs().sum() > 0 for g in lora)
    assert all(not p.requires_grad for p in model.teacher.parameters())
    logits = model(**tiny_batch(model), mode='tensor')
    assert logits.shape == (3, 32, 32)


def test_clear_errors(tmp_path, sam2_folder):
    with pytest.raises(ValueError, match='prompt_dim=16 must equal the SAM2 hidden size 32'):
        Sam2PromptMaskDecoder(prompt_dim=16, pretrained=sam2_folder)
    with pytest.raises(FileNotFoundError, match='not a local folder'):
        Sam2GroundingEncoder(pretrained=str(tmp_path / 'missing'))
    with pytest.raises(ValueError, match='not both'):
        Sam2GroundingEncoder(config=tiny_sam2_config(), pretrained=sam2_folder)


def test_absent_object_masks_follow_the_object_score(sam2_folder):
    decoder = Sam2PromptMaskDecoder(prompt_dim=32, pretrained=sam2_folder,
                                    mask_absent_objects=True).eval()
    encoder = Sam2GroundingEncoder(pretrained=sam2_folder, **IDENTITY).eval()
    g = torch.Generator().manual_seed(3)
    images, prompt = torch.randn(8, 3, 64, 64, generator=g), torch.randn(8, 32, generator=g)
    scores = {}
    original = decoder.mask_decoder.forward

    def record(*args, **kwargs):
        out = original(*args, **kwargs)
        scores['obj'] = out[3].view(-1)
        return out

    decoder.mask_decoder.forward = record
    with torch.no_grad():
        masks = decoder(encoder(images), prompt)
    absent = scores['obj'] <= 0
    assert absent.any() and (~absent).any()
    assert (masks[absent] == -1024.0).all()
    assert (masks[~absent] != -1024.0).all()
