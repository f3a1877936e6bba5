"""random_mask_tokens: pads never change, ~mask_ratio of the rest is replaced, seeded."""
import math

import pytest
import torch

from cissreg.models.segmentors.pseudo_gumbel import RandomTokenMasker, random_mask_tokens

PAD = 0


def _tokens(b=64, t=64, vocab=1000, seed=0):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, vocab, (b, t), generator=g)
    lengths = torch.randint(1, t + 1, (b, ), generator=g)
    tokens[torch.arange(t)[None] >= lengths[:, None]] = PAD
    return tokens


def test_pads_never_change_and_input_untouched():
    tokens = _tokens()
    before = tokens.clone()
    for seed in range(20):
        out = random_mask_tokens(tokens, 0.9, 1000, PAD, torch.Generator().manual_seed(seed))
        assert torch.equal(out[tokens == PAD], tokens[tokens == PAD])
    assert torch.equal(tokens, before)


def test_replaced_fraction_within_three_sigma():
    # vocab 2**20: a replacement equal to the original (undetectable) has probability 1e-6.
    vocab, ratio = 2**20, 0.25
    tokens = _tokens(vocab=vocab)
    g = torch.Generator().manual_seed(1)
    changed = 0
    total = 0
    for _ in range(50):
        out = random_mask_tokens(tokens, ratio, vocab, PAD, g)
        non_pad = tokens != PAD
        changed += int((out != tokens)[non_pad].sum())
        total += int(non_pad.sum())
    sigma = math.sqrt(ratio * (1 - ratio) / total)
    assert abs(changed / total - ratio) < 3 * sigma
    assert 0 < sigma < 0.01


def test_replacements_are_uniform_ids_in_range():
    tokens = torch.full((200, 100), 7)
    out = random_mask_tokens(tokens, 1.0, 10, PAD, torch.Generator().manual_seed(0))
    counts = torch.bincount(out.flatten(), minlength=10).double()
    assert out.min() >= 0 and out.max() < 10
    # chi-square with 9 dof: 99.9 % quantile is 27.9
    expected = out.numel() / 10
    assert ((counts - expected)**2 / expected).sum() < 27.9


def test_seeded_runs_reproducible_and_ratio_zero_is_identity():
    tokens = _tokens()
    a = random_mask_tokens(tokens, 0.25, 1000, PAD, torch.Generator().manual_seed(3))
    b = RandomTokenMasker(0.25)(tokens, 1000, PAD, torch.Generator().manual_seed(3))
    c = random_mask_tokens(tokens, 0.25, 1000, PAD, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(random_mask_tokens(tokens, 0.0, 1000, PAD), tokens)
    with pytest.raises(ValueError, match='mask_ratio'):
        random_mask_tokens(tokens, 1.5, 1000, PAD)
