"""CLIPTokenizer: ids identical to open_clip's tokenizer on the same vocab file."""
import gzip

import pytest
import torch

from cissreg.models.clip import CLIPTokenizer
from cissreg.testing.reference import require

open_clip_tokenizer = require('open_clip.tokenizer')

TEXTS = [
    'a photo of a cat.',
    'A PHOTO OF A DOG!!!',
    'Ünïcödé façade — naïve café, résumé',
    'mojibake: CafÃ© Ã©tÃ© â€œquotedâ€\x9d',
    '&amp;lt;b&amp;gt;bold&amp;lt;/b&amp;gt; &quot;html&quot;',
    '日本語のテキスト 한국어 текст',
    'emoji 🙂👍🏽 and symbols ©®™ ∑∫√',
    "don't you'll we've I'm it's they'd she's",
    'punctuation... ?!?! (brackets) [x] {y} <z> @#$%^&*',
    '  tabs\tand\nnew lines  and   spaces ',
    'numbers 1234567 3.14159 1e-5',
    'aquarium_fish maple_tree sweet_pepper',
    '',
    ' '.join(['longword'] * 120),
]


@pytest.fixture(scope='module')
def bpe_path():
    return open_clip_tokenizer.default_bpe()


def test_ids_equal_open_clip(bpe_path):
    ours = CLIPTokenizer(bpe_path)
    ref = open_clip_tokenizer.SimpleTokenizer(bpe_path)
    got, expected = ours(TEXTS), ref(TEXTS)
    assert got.shape == (len(TEXTS), 77) and got.dtype == torch.long
    assert torch.equal(got, expected)
    for text in TEXTS:
        assert ours.encode(text) == ref.encode(text)
    assert ours.vocab_size == 49408
    assert (ours.sot_token_id, ours.eot_token_id) == (49406, 49407)


def test_truncation_keeps_eot(bpe_path):
    ids = CLIPTokenizer(bpe_path)(' '.join(['longword'] * 120))[0]
    assert ids[0] == 49406 and ids[-1] == 49407 and (ids != 0).all()
    short = CLIPTokenizer(bpe_path)('a cat', context_length=10)[0]
    assert short.tolist()[:4] == [49406, *CLIPTokenizer(bpe_path).encode('a cat'), 49407]
    assert (short[4:] == 0).all()


def test_plain_merges_file_equals_gz(bpe_path, tmp_path):
    merges = tmp_path / 'merges.txt'
    with gzip.open(bpe_path, 'rt', encoding='utf-8') as f:
        merges.write_text(f.read(), encoding='utf-8')
    assert torch.equal(CLIPTokenizer(str(merges))(TEXTS), CLIPTokenizer(bpe_path)(TEXTS))


def test_byte_level_vocabulary_round_trip():
    tok = CLIPTokenizer(None)
    assert tok.vocab_size == 514 and tok.eot_token_id == 513
    text = 'zero one Ünïcödé 🙂'
    ids = tok.encode(text)
    assert max(ids) < 512
    assert tok.decode(ids).split() == text.lower().split()


def test_missing_vocab_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.txt.gz'):
        CLIPTokenizer(str(tmp_path / 'nope.txt.gz'))
