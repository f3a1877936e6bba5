"""YOLODetDataPreprocessor: BGR -> RGB, [0, 1] scaling, padding to a stride multiple."""
import pytest
import torch

from cissreg.registry import MODELS
from cissreg.structures.det_data_sample import DetDataSample


def test_same_size_batch_is_rgb_in_unit_range():
    prep = MODELS.build(dict(type='YOLODetDataPreprocessor'))
    gen = torch.Generator().manual_seed(0)
    imgs = [torch.randint(0, 256, (3, 64, 96), generator=gen, dtype=torch.uint8)
            for _ in range(2)]
    samples = [DetDataSample(), DetDataSample()]
    out = prep(dict(inputs=imgs, data_samples=samples), training=True)
    batch = out['inputs']
    assert batch.shape == (2, 3, 64, 96) and batch.dtype == torch.float32
    for i, img in enumerate(imgs):
        torch.testing.assert_close(batch[i], img.flip(0).float() / 255)
    assert len(out['data_samples']) == 2
    assert all(s.batch_input_shape == (64, 96) and s.pad_shape == (64, 96)
               for s in out['data_samples'])


def test_mixed_sizes_pad_to_divisor_with_pad_value_and_normalise():
    prep = MODELS.build(dict(type='YOLODetDataPreprocessor', mean=[10., 20., 30.],
                             std=[2., 4., 5.], pad_size_divisor=32, pad_value=-1.0))
    a = torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8)
    b = torch.randint(0, 256, (3, 33, 40), dtype=torch.uint8)
    out = prep(dict(inputs=[a, b]))
    batch = out['inputs']
    assert batch.shape == (2, 3, 64, 96) and out['data_samples'] is None
    mean = torch.tensor([10., 20., 30.]).view(3, 1, 1)
    std = torch.tensor([2., 4., 5.]).view(3, 1, 1)
    for i, img in enumerate((a, b)):
        h, w = img.shape[1:]
        torch.testing.assert_close(batch[i, :, :h, :w], (img.flip(0).float() - mean) / std)
        assert (batch[i, :, h:, :] == -1).all() and (batch[i, :, :, w:] == -1).all()
    # a stacked (default_collate) batch is accepted too
    stacked = prep(dict(inputs=torch.stack([a, a])))['inputs']
    torch.testing.assert_close(stacked[1], batch[0])


def test_bad_input_is_reported():
    prep = MODELS.build(dict(type='YOLODetDataPreprocessor'))
    with pytest.raises(ValueError, match=r'image 1 has shape \(1, 8, 8\)'):
        prep(dict(inputs=[torch.zeros(3, 8, 8, dtype=torch.uint8),
                          torch.zeros(1, 8, 8, dtype=torch.uint8)]))
