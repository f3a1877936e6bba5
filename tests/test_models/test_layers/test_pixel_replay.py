"""PixelReplay: a uniform sample per step, padding with the auxiliary logit, state."""
import torch

from cissreg.models.layers import PixelReplay


def test_keeps_last_epoch_sample_and_pads_new_classes_with_aux_logit():
    replay = PixelReplay(5, torch.Generator().manual_seed(0))
    replay.observe(torch.full((4, 3), 7.0), torch.zeros(4, dtype=torch.long))
    replay.start_epoch()  # the first epoch's pixels are forgotten
    z = torch.arange(24.).reshape(8, 3)
    y = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])
    replay.observe(z[:3], y[:3])
    replay.observe(z[3:], y[3:])
    replay.finish_step(0)
    assert len(replay) == 5
    kept_z, kept_y = replay.buffer[0]
    rows = {tuple(r.tolist()) for r in z}
    assert all(tuple(r.tolist()) in rows for r in kept_z)  # sampled pixels, unchanged
    assert torch.equal(kept_y, kept_z[:, 0].long() // 3 % 2)
    drawn_z, drawn_y = replay.draw(10, 4, torch.device('cpu'))
    assert drawn_z.shape == (5, 4) and drawn_y.shape == (5, )
    for row, label in zip(drawn_z, drawn_y):
        match = [i for i, r in enumerate(kept_z) if torch.equal(r[1:], row[:2])]
        assert len(match) == 1 and kept_y[match[0]] == label
        aux = kept_z[match[0], 0]
        assert torch.equal(row[2:], aux.repeat(2))  # classes 3, 4: the auxiliary logit


def test_uniform_without_replacement():
    counts = torch.zeros(20)
    for seed in range(300):
        replay = PixelReplay(4, torch.Generator().manual_seed(seed))
        z = torch.arange(20.).reshape(20, 1).repeat(1, 2)
        for part in range(4):
            replay.observe(z[part * 5:(part + 1) * 5], torch.zeros(5, dtype=torch.long))
        replay.finish_step(0)
        kept = replay.buffer[0][0][:, 0].long()
        assert kept.unique().numel() == 4
        counts[kept] += 1
    assert counts.min() > 30 and counts.max() < 90  # 60 expected per pixel


def test_state_round_trip():
    replay = PixelReplay(3, torch.Generator().manual_seed(1))
    replay.observe(torch.randn(6, 3), torch.randint(0, 2, (6, )))
    replay.finish_step(0)
    replay.observe(torch.randn(6, 4), torch.randint(0, 3, (6, )))
    other = PixelReplay(3, torch.Generator())
    other.load_state_dict(replay.state_dict())
    for k, (z, y) in replay.buffer.items():
        assert torch.equal(other.buffer[k][0], z) and torch.equal(other.buffer[k][1], y)
    assert all(torch.equal(a, b) for a, b in zip(replay._current, other._current))


def test_image_replay_keeps_whole_images_with_their_labels():
    from cissreg.models.layers.pixel_replay import ImageReplay
    replay = ImageReplay(3, torch.Generator().manual_seed(0))
    images = torch.arange(5.0).view(5, 1, 1, 1).expand(5, 3, 4, 4).clone()
    labels = torch.arange(5).view(5, 1, 1).expand(5, 4, 4).clone()
    replay.observe(images[:2], labels[:2])
    replay.observe(images[2:], labels[2:])
    replay.finish_step(0)
    assert len(replay) == 3
    x, y = replay.draw(10, torch.device('cpu'))
    assert x.shape == (3, 3, 4, 4) and y.shape == (3, 4, 4)
    ids = x[:, 0, 0, 0].long()
    assert len(set(ids.tolist())) == 3
    # every image comes back whole, with its own label map
    assert torch.equal(x, images[ids]) and torch.equal(y, labels[ids])
