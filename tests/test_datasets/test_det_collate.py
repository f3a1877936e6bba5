"""stack_det_collate: one stacked image tensor when sizes agree, the list otherwise."""
import torch
from mmengine.dataset import pseudo_collate

from cissreg.datasets import stack_det_collate
from cissreg.models.data_preprocessors import YOLODetDataPreprocessor
from cissreg.structures import DetDataSample


def _samples(shapes):
    gen = torch.Generator().manual_seed(0)
    return [dict(inputs=torch.randint(0, 256, s, dtype=torch.uint8, generator=gen),
                 data_samples=DetDataSample(metainfo=dict(img_shape=s[1:])))
            for s in shapes]


def test_same_size_images_are_stacked_and_preprocess_like_the_list():
    samples = _samples([(3, 32, 32)] * 3)
    stacked, listed = stack_det_collate(samples), pseudo_collate(samples)
    assert isinstance(stacked['inputs'], torch.Tensor)
    assert stacked['inputs'].shape == (3, 3, 32, 32)
    assert len(stacked['data_samples']) == 3
    pre = YOLODetDataPreprocessor(mean=[0, 0, 0], std=[255, 255, 255], bgr_to_rgb=True)
    a, b = pre(stacked, training=True)['inputs'], pre(listed, training=True)['inputs']
    assert torch.equal(a, b)


def test_mixed_sizes_keep_the_list():
    batch = stack_det_collate(_samples([(3, 32, 32), (3, 32, 40)]))
    assert isinstance(batch['inputs'], list) and len(batch['inputs']) == 2
