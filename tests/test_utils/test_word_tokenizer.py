"""Word-level tokenizer: ids, round trip through a transformers folder, errors."""
import pytest

from cissreg.utils.word_tokenizer import (MLLM_SPECIAL_TOKENS, build_word_tokenizer,
                                          load_or_build_word_tokenizer)


def test_build_save_load_round_trip(tmp_path):
    tok = build_word_tokenizer(['Red', 'circle', 'red', 'the'], save_dir=str(tmp_path / 't'))
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert len(tok) == 4 + len(MLLM_SPECIAL_TOKENS) + 3
    ids = tok.encode('The RED circle, blue', add_special_tokens=False)
    assert tok.convert_ids_to_tokens(ids) == ['the', 'red', 'circle', '<unk>', '<unk>']
    assert tok.decode(ids[:3]) == 'the red circle'
    loaded = load_or_build_word_tokenizer(str(tmp_path / 't'))
    assert loaded.encode('the red circle', add_special_tokens=False) == ids[:3]
    assert loaded.convert_tokens_to_ids('[SEG]') == tok.convert_tokens_to_ids('[SEG]')


def test_missing_folder_without_words_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        load_or_build_word_tokenizer(str(tmp_path / 'nowhere'))
