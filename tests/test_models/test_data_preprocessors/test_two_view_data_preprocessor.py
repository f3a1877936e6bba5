"""TwoViewDataPreprocessor: two seeded views in training, plain normalisation in eval."""
import torch

from cissreg.models.data_preprocessors import TwoViewDataPreprocessor


def _batch():
    g = torch.Generator().manual_seed(0)
    return dict(inputs=[torch.randint(0, 256, (3, 8, 8), generator=g, dtype=torch.uint8)
                        for _ in range(4)], data_samples=[None] * 4)


def test_eval_normalises_and_training_makes_two_views():
    pre = TwoViewDataPreprocessor(mean=[10, 20, 30], std=[2, 4, 8])
    raw = torch.stack(_batch()['inputs']).float().flip(1)  # BGR -> RGB
    expected = (raw - torch.tensor([10., 20, 30]).view(1, 3, 1, 1)) / torch.tensor(
        [2., 4, 8]).view(1, 3, 1, 1)
    torch.testing.assert_close(pre(_batch(), False)['inputs'], expected)
    torch.manual_seed(1)
    views = pre(_batch(), True)['inputs']
    assert views.shape == (8, 3, 8, 8)
    assert not torch.allclose(views[:4], views[4:])
    torch.manual_seed(1)
    torch.testing.assert_close(pre(_batch(), True)['inputs'], views)  # same seed, same views


def test_identity_augmentation_keeps_the_image():
    pre = TwoViewDataPreprocessor(mean=[0] * 3, std=[1] * 3, bgr_to_rgb=False,
                                  crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_prob=0.0,
                                  jitter=0.0)
    views = pre(_batch(), True)['inputs']
    raw = torch.stack(_batch()['inputs']).float()
    torch.testing.assert_close(views, torch.cat([raw, raw]), atol=1e-3, rtol=0)
    flip = TwoViewDataPreprocessor(mean=[0] * 3, std=[1] * 3, bgr_to_rgb=False,
                                   crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_prob=1.0,
                                   jitter=0.0)
    torch.testing.assert_close(flip(_batch(), True)['inputs'][:4], raw.flip(3), atol=1e-3,
                               rtol=0)


def test_digit_augmentations_zero_padding_and_bad_mode():
    import pytest
    pre = TwoViewDataPreprocessor(mean=[0] * 3, std=[1] * 3, bgr_to_rgb=False,
                                  crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_prob=0.0,
                                  jitter=0.0, rotation=45.0, shear=0.2, elastic=0.1,
                                  padding_mode='zeros')
    ones = dict(inputs=[torch.full((3, 16, 16), 200, dtype=torch.uint8)] * 4,
                data_samples=[None] * 4)
    torch.manual_seed(0)
    views = pre(ones, True)['inputs']
    assert views.shape == (8, 3, 16, 16)
    # rotated / sheared views leave the image: black corners, unchanged centre
    assert (views[:, :, 0, 0] < 200).any()
    torch.testing.assert_close(views[:, :, 7:9, 7:9], torch.full((8, 3, 2, 2), 200.0))
    with pytest.raises(ValueError, match="padding_mode must be .* got 'wrap'"):
        TwoViewDataPreprocessor(padding_mode='wrap')


def test_small_convnet_shapes():
    from cissreg.models.backbones import SmallConvNet
    x = torch.randn(2, 3, 28, 28)
    assert SmallConvNet(channels=(8, 16, 32))(x).shape == (2, 32, 7, 7)
    assert SmallConvNet(channels=(8, 16, 32), blocks_per_stage=1, out_features=12)(x).shape == (
        2, 12)
