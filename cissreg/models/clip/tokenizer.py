"""CLIP's byte-level BPE tokenizer (OpenAI ``simple_tokenizer``), reading a local vocab file.

Token ids equal OpenAI CLIP's and ``open_clip``'s on the same vocab file: text is cleaned with
ftfy + a double HTML unescape, whitespace is collapsed, it is lower-cased, split with CLIP's
regular expression (``regex`` package, Unicode classes), mapped byte-wise to unicode and merged
by BPE rank. ``bpe_path`` may be OpenAI's ``bpe_simple_vocab_16e6.txt.gz``, the same merges as
plain text (a Hugging Face CLIP folder's ``merges.txt``), or ``None`` for the byte-level
vocabulary without merges (514 ids), enough for a small model trained from scratch.
"""
import gzip
import html
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from cissreg.registry import TASK_UTILS
from cissreg.utils.optional_import import import_optional

# OpenAI keeps the first 49152 - 256 - 2 merges after the version header.
_MAX_MERGES = 49152 - 256 - 2
_SOT = '<|startoftext|>'
_EOT = '<|endoftext|>'


@lru_cache()
def bytes_to_unicode() -> Dict[int, str]:
    """Reversible map of the 256 byte values to printable unicode characters."""
    bs = (list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) +
          list(range(ord('®'), ord('ÿ') + 1)))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def _pairs(word: Tuple[str, ...]) -> set:
    return {(a, b) for a, b in zip(word[:-1], word[1:])}


def clean_text(text: str) -> str:
    """ftfy fix, double HTML unescape, whitespace collapse and lower case (OpenAI's cleaning)."""
    text = import_optional('ftfy', 'clip', 'the CLIP tokenizer').fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return ' '.join(text.split()).strip().lower()


def read_bpe_merges(bpe_path: Optional[str]) -> List[Tuple[str, str]]:
    """Read BPE merges from a ``.txt.gz`` / ``.txt`` vocab file (first line is a header).

    Args:
        bpe_path (str, optional): Vocab file; ``None`` gives no merges.

    Returns:
        list[tuple[str, str]]: Merges in rank order (at most 48894, as OpenAI uses).
    """
    if bpe_path is None:
        return []
    try:
        if str(bpe_path).endswith('.gz'):
            with gzip.open(bpe_path, 'rt', encoding='utf-8') as f:
                content = f.read()
        else:
            with open(bpe_path, encoding='utf-8') as f:
                content = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"CLIPTokenizer: BPE vocab file '{bpe_path}' not found (tokenizer.bpe_path in the "
            'config). Use bpe_simple_vocab_16e6.txt.gz from OpenAI CLIP / open_clip or the '
            "merges.txt of a Hugging Face CLIP folder.") from None
    lines = content.split('\n')[1:_MAX_MERGES + 1]
    merges = [tuple(line.split()) for line in lines if line.strip()]
    bad = [m for m in merges if len(m) != 2]
    if bad:
        raise ValueError(f"CLIPTokenizer: '{bpe_path}' is not a BPE merges file (line "
                         f'{" ".join(bad[0])!r} is not a pair)')
    return merges  # type: ignore[return-value]


@TASK_UTILS.register_module()
class CLIPTokenizer:
    """CLIP byte-level BPE tokenizer.

    Args:
        bpe_path (str, optional): BPE merges file (``bpe_simple_vocab_16e6.txt.gz`` or a
            ``merges.txt``); ``None`` uses the byte-level vocabulary only. Defaults to None.
        context_length (int): Length of the id rows returned by ``__call__``. Defaults to 77.

    Attributes:
        vocab_size (int): 49408 with the full OpenAI file, ``514 + len(merges)`` in general.
        sot_token_id (int): ``<|startoftext|>`` id (``vocab_size - 2``).
        eot_token_id (int): ``<|endoftext|>`` id (``vocab_size - 1``, the largest id).
    """

    def __init__(self, bpe_path: Optional[str] = None, context_length: int = 77) -> None:
        self.bpe_path = bpe_path
        self.context_length = context_length
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        merges = read_bpe_merges(bpe_path)
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + '</w>' for v in vocab]
        vocab.extend(''.join(m) for m in merges)
        vocab.extend([_SOT, _EOT])
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self.decoder = {i: token for token, i in self.encoder.items()}
        self.bpe_ranks = {m: i for i, m in enumerate(merges)}
        self.cache = {_SOT: _SOT, _EOT: _EOT}
        regex = import_optional('regex', 'clip', 'the CLIP tokenizer')
        self.pattern = regex.compile(
            r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|"""
            r"""[^\s\p{L}\p{N}]+""", regex.IGNORECASE)
        self.vocab_size = len(vocab)
        self.sot_token_id = self.encoder[_SOT]
        self.eot_token_id = self.encoder[_EOT]

    def bpe(self, token: str) -> str:
        """Merge one pre-token (already byte-mapped) into space-separated BPE units."""
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + '</w>', )
        pairs = _pairs(word)
        if not pairs:
            return token + '</w>'
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float('inf')))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word: List[str] = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = _pairs(word)
        result = ' '.join(word)
        self.cache[token] = result
        return result

    def encode(self, text: str) -> List[int]:
        """Token ids of ``text`` without start / end tokens."""
        ids: List[int] = []
        for token in self.pattern.findall(clean_text(text)):
            token = ''.join(self.byte_encoder[b] for b in token.encode('utf-8'))
            ids.extend(self.encoder[unit] for unit in self.bpe(token).split(' '))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` (end-of-word markers become spaces)."""
        text = ''.join(self.decoder[int(i)] for i in ids)
        data = bytearray(self.byte_decoder[c] for c in text if c in self.byte_decoder)
        return data.decode('utf-8', errors='replace').replace('</w>', ' ')

    def __call__(self,
                 texts: Union[str, Sequence[str]],
                 context_length: Optional[int] = None) -> torch.Tensor:
        """Tokenize ``texts`` into ``[N, context_length]`` int64 ids, zero padded.

        Each row is ``[sot, ids..., eot, 0, ...]``; a text too long is truncated to
        ``context_length`` tokens with the last one replaced by ``eot`` (as open_clip does).
        """
        if isinstance(texts, str):
            texts = [texts]
        context_length = context_length or self.context_length
        result = torch.zeros(len(texts), context_length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.sot_token_id] + self.encode(text) + [self.eot_token_id]
            if len(ids) > context_length:
                ids = ids[:context_length]
                ids[-1] = self.eot_token_id
            result[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        return result
