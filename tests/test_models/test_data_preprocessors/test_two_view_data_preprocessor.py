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
