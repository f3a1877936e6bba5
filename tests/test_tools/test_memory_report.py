"""memory_report: bytes from the built model and optimizer, the EMA copy, gradient flow."""
import importlib.util
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    'memory_report', REPO / 'tools' / 'analysis_tools' / 'memory_report.py')
memory_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(memory_report)


def _tiny_config(tmp_path, mode='pseudo_gumbel') -> str:
    cfg = tmp_path / 'tiny.py'
    cfg.write_text(f"""_base_ = '{REPO / 'configs' / 'pseudo_gumbel' / 'tiny_shapes.py'}'
data_root = '{tmp_path / 'pairs'}'
tokenizer = dict(path=data_root + '/tokenizer', words=['the', 'red', 'circle'])
model = dict(
    train_mode='{mode}', max_caption_len=4, prompt_dim=16,
    mllm=dict(tokenizer=tokenizer,
              vision_encoder=dict(config=dict(hidden_size=32, intermediate_size=64,
                                              num_hidden_layers=1, image_size=32)),
              language_model=dict(config=dict(hidden_size=32, intermediate_size=64,
                                              num_attention_heads=2, num_key_value_heads=2)),
              lora=dict(_delete_=True, r=2, lora_alpha=4, target_modules=['q_proj', 'v_proj'])),
    grounding_encoder=dict(channels=8, num_downs=1),
    mask_decoder=dict(in_channels=8, channels=8, upsample=2))
pipeline = [dict(type='LoadRegionPair'), dict(type='ResizeRegionPair', size=32),
            dict(type='TokenizeCaption', tokenizer=tokenizer, max_len=4),
            dict(type='PackRegionPair')]
train_dataloader = dict(batch_size=2, dataset=dict(data_root=data_root, num_pairs=2,
                                                   img_size=32, pipeline=pipeline))
""")
    return str(cfg)


def test_report_bytes_match_the_model_and_optimizer(tmp_path):
    report = memory_report.main([_tiny_config(tmp_path), '--check-grads',
                                 '--out', str(tmp_path / 'r.json')])
    from mmengine.config import Config
    model, wrapper = memory_report.build(Config.fromfile(_tiny_config(tmp_path)), False, False)
    rows = {r['component']: r for r in report['rows']}
    assert {'mllm.vision_encoder', 'mllm.lm', 'mllm.projector', 'grounding_encoder',
            'mask_decoder', 'text_hidden_fcs', 'teacher'} <= set(rows)
    trainable = sum(p.numel() * 4 for p in model.parameters() if p.requires_grad)
    assert sum(r['params_trainable'] for r in rows.values()) == trainable
    assert sum(r['grads'] for r in rows.values()) == trainable
    assert sum(r['optimizer_state'] for r in rows.values()) == 2 * trainable  # AdamW
    # the EMA copy is a full copy of the student (trainable + frozen), outside the optimizer
    student = sum(t.numel() * t.element_size() for t in
                  list(model.student.parameters()) + list(model.student.buffers()))
    assert rows['teacher']['params_frozen'] - 8 == student  # + the int64 num_updates buffer
    assert report['ema_copy_bytes'] == rows['teacher']['params_frozen']
    assert rows['teacher']['in_optimizer'] == 0 and rows['teacher']['ema_copy']
    assert rows['mllm.vision_encoder']['params_trainable'] == 0
    assert 0 < rows['mllm.lm']['params_trainable'] < rows['mllm.lm']['params_frozen']
    # gradients reach LoRA, the projector and the decoder; none reach the teacher
    grads = report['nonzero_grads']
    trainable = [n for n, p in model.mllm.lm.named_parameters() if p.requires_grad]
    lora_a = [n for n in trainable if 'lora_A' in n]
    assert lora_a and len(trainable) > len(lora_a)
    # LoRA B starts at zero, so at the first step A gets no gradient (B^T g = 0); LoRA B and
    # the trained LM head (modules_to_save) do
    assert grads['mllm.lm'] == f'{len(trainable) - len(lora_a)}/{len(trainable)}'
    assert grads['mllm.projector'] == '6/6' and grads['teacher'] == '0/0'
    assert (tmp_path / 'r.json').is_file()


def test_adam_state_counted_from_allocated_state():
    p = torch.nn.Parameter(torch.zeros(10))
    opt = torch.optim.AdamW([p], amsgrad=True)
    assert memory_report.optimizer_state_bytes(opt)[id(p)] == 3 * 40
    p.grad = torch.ones(10)
    opt.step()
    assert memory_report.optimizer_state_bytes(opt)[id(p)] == 3 * 40  # step is a scalar
    sgd = torch.optim.SGD([p], lr=0.1)
    assert memory_report.optimizer_state_bytes(sgd)[id(p)] == 0


@pytest.mark.parametrize('name,expected', [('mllm.lm.base_model.model.x.weight', 'mllm.lm'),
                                           ('teacher.module.mllm.lm.w', 'teacher'),
                                           ('mask_decoder.inp.weight', 'mask_decoder')])
def test_component_names(name, expected):
    assert memory_report.component_of(name) == expected
