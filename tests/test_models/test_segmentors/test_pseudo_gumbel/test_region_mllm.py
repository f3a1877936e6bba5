"""RegionMLLM: the segmentation prompt template and trainable rows of added tokens."""
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from cissreg.models.segmentors.pseudo_gumbel.region_mllm import REFERENCE_SEGMENT_TEMPLATE
from cissreg.testing.pseudo_gumbel_tiny_parts import build_tiny, tiny_batch


def _seg_hidden_by_hand(mllm, images, words, template_ids, with_image=True):
    """Last-layer hidden state at the last token of [<s>, image block, template ids]."""
    n = mllm.grid * mllm.grid
    ids = [mllm.bos_id]
    if with_image:
        ids += [mllm.img_ids[0]] + [mllm.ctx_id] * n + [mllm.img_ids[1]]
    ids += template_ids
    emb = mllm.embed_ids(torch.tensor(ids)[None].expand(len(images), -1)).clone()
    if with_image:
        emb[:, 2:2 + n] = mllm.image_tokens(images)
    out = mllm.lm(inputs_embeds=emb, output_hidden_states=True)
    return out.hidden_states[-1]


@pytest.mark.parametrize('with_image', [True, False])
def test_reference_template_reads_the_hidden_state_at_the_last_seg(tmp_path, with_image):
    template = 'please segment {text} [SEG] it is [SEG]'
    model = build_tiny(tmp_path, mllm_overrides=dict(segment_template=template,
                                                     segment_image_tokens=with_image))
    mllm = model.mllm.eval()
    tok = mllm.tokenizer
    x = model.normalize(tiny_batch(model)['img1'])
    words = tok.encode('the red circle', add_special_tokens=False)
    text = mllm.embed_ids(torch.tensor(words)[None].expand(len(x), -1))
    with torch.no_grad():
        got = mllm.seg_hidden(x, text, torch.ones(len(x), len(words), dtype=torch.bool))
        seq = tok.encode('please segment the red circle [SEG] it is [SEG]',
                         add_special_tokens=False)
        assert seq.count(mllm.seg_id) == 2
        ref = _seg_hidden_by_hand(mllm, x, words, seq, with_image)
    torch.testing.assert_close(got, ref[:, -1])
    first_seg = ref.shape[1] - 4
    assert (got - ref[:, first_seg]).abs().max() > 1e-3  # not the first [SEG]


def test_template_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match='exactly once'):
        build_tiny(tmp_path, mllm_overrides=dict(segment_template='please segment [SEG]'))
    with pytest.raises(ValueError, match=r'\[SEG\] after \{text\}'):
        build_tiny(tmp_path, mllm_overrides=dict(segment_template='[SEG] {text}'))
    assert REFERENCE_SEGMENT_TEMPLATE.count('[SEG]') == 2


def _plain_tokenizer(path):
    """A word tokenizer folder without the MLLM tokens (as a real LM's tokenizer)."""
    vocab = {w: i for i, w in enumerate(
        '<pad> <s> </s> <unk> the red circle describe this region please segment'.split())}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token='<unk>'))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=core, pad_token='<pad>', bos_token='<s>',
                            eos_token='</s>', unk_token='<unk>').save_pretrained(str(path))


@pytest.mark.parametrize('train_added', [True, False])
def test_lora_trains_the_rows_of_added_tokens_only(tmp_path, train_added):
    _plain_tokenizer(tmp_path / 'plain')
    model = build_tiny(tmp_path, mllm_overrides=dict(
        tokenizer=dict(path=str(tmp_path / 'plain')), train_added_tokens=train_added))
    mllm = model.mllm
    added = mllm.added_token_ids
    assert mllm.seg_id in added and len(added) == 6  # the six MLLM tokens were missing
    table = mllm.embedding_table().detach().clone()
    params = [p for p in mllm.lm.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1.0)
    model.train_mode = 'supervised'
    losses = model(**tiny_batch(model), mode='loss')
    sum(losses.values()).backward()
    opt.step()
    moved = (mllm.embedding_table().detach() - table).abs().sum(1) > 0
    old = torch.ones_like(moved)
    old[added] = False
    assert not moved[old].any()  # pretrained rows stay
    assert bool(moved[mllm.seg_id]) == train_added  # [SEG] is used by every prompt
