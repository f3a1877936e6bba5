"""Word-level tokenizers built with the ``tokenizers`` library, saved as transformers folders."""
import os
import os.path as osp
from typing import TYPE_CHECKING, Iterable, List, Optional

from .optional_import import import_optional

if TYPE_CHECKING:  # transformers is imported when a tokenizer is built
    from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

__all__ = ['MLLM_SPECIAL_TOKENS', 'build_word_tokenizer', 'load_or_build_word_tokenizer']

PAD, BOS, EOS, UNK = '<pad>', '<s>', '</s>', '<unk>'
# tokens a region MLLM needs besides the text: image / region delimiters, the placeholder a
# visual feature replaces, and the segmentation token
MLLM_SPECIAL_TOKENS = ('<img>', '</img>', '<IMG_CONTEXT>', '<vp>', '</vp>', '[SEG]')


def build_word_tokenizer(words: Iterable[str],
                         save_dir: Optional[str] = None) -> 'PreTrainedTokenizerFast':
    """A whitespace/punctuation word-level tokenizer over ``words`` plus special tokens.

    Ids: ``<pad>`` 0, ``<s>`` 1, ``</s>`` 2, ``<unk>`` 3, the MLLM tokens, then the sorted
    lower-cased words. Text is lower-cased, split on whitespace and punctuation; unknown
    words map to ``<unk>``.

    Args:
        words (Iterable[str]): Vocabulary (duplicates ignored).
        save_dir (str, optional): Where to save it with ``save_pretrained`` (a folder
            ``AutoTokenizer.from_pretrained`` reads).

    Returns:
        PreTrainedTokenizerFast: ``encode('red circle')`` gives the word ids (no BOS / EOS).
    """
    tokenizers = import_optional('tokenizers', 'mllm', 'word-level tokenizers')
    Tokenizer, models = tokenizers.Tokenizer, tokenizers.models
    normalizers, pre_tokenizers = tokenizers.normalizers, tokenizers.pre_tokenizers
    transformers = import_optional('transformers', 'mllm', 'word-level tokenizers')
    specials: List[str] = [PAD, BOS, EOS, UNK, *MLLM_SPECIAL_TOKENS]
    vocab = {tok: i for i, tok in enumerate(specials)}
    for word in sorted({w.lower() for w in words} - set(specials)):
        vocab[word] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, bos_token=BOS, eos_token=EOS, unk_token=UNK,
        additional_special_tokens=list(MLLM_SPECIAL_TOKENS))
    if save_dir is not None:
        os.makedirs(save_dir, exist_ok=True)
        tokenizer.save_pretrained(save_dir)
    return tokenizer


def load_or_build_word_tokenizer(
        path: str, words: Optional[Iterable[str]] = None) -> 'PreTrainedTokenizerBase':
    """Load a transformers tokenizer folder, building it from ``words`` first if absent.

    Args:
        path (str): Tokenizer folder (local files only).
        words (Iterable[str], optional): Vocabulary used when ``path`` holds no tokenizer.

    Returns:
        PreTrainedTokenizerBase: The loaded tokenizer.

    Raises:
        FileNotFoundError: ``path`` holds no tokenizer and no ``words`` were given.
    """
    if not osp.isfile(osp.join(path, 'tokenizer_config.json')):
        if words is None:
            raise FileNotFoundError(
                f'no tokenizer in {path!r} (tokenizer_config.json missing) and no vocabulary '
                'to build one from: set tokenizer.path to a transformers tokenizer folder')
        build_word_tokenizer(words, save_dir=path)
    transformers = import_optional('transformers', 'mllm', 'word-level tokenizers')
    return transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
