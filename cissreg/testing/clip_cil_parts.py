"""Tiny CLIP classifier / digits configs shared by the CLIP-CIL tests."""
import copy
import os.path as osp

from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DIGITS_CONFIG = osp.join(ROOT, 'configs', 'clip_cil', 'clip_cil_tiny_b2-inc2_digits.py')

TINY_CLIP = dict(
    text_config=dict(vocab_size=514, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                     num_attention_heads=2, max_position_embeddings=32),
    vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, image_size=32, patch_size=16),
    projection_dim=16, logit_scale_init_value=2.0)

NAMES = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine')


def tiny_model_cfg(**overrides) -> dict:
    """``CLIPPromptClassifier`` config: 10 classes in tasks of 4, 3, 3; byte-level vocab."""
    cfg = dict(
        type='CLIPPromptClassifier',
        clip=dict(config=copy.deepcopy(TINY_CLIP)),
        num_classes=10, init_class=4, increment=3,
        tokenizer=dict(type='CLIPTokenizer', bpe_path=None, context_length=32),
        prompt_learner=dict(type='PromptLearner', n_ctx=2),
        text_hinge_loss=dict(type='HingeLoss', hard_pair_threshold=-1.0, top_hard_pairs=3,
                             samples_per_pair=4))
    cfg.update(overrides)
    return cfg


def digits_run_cfg(work_dir: str, **options) -> Config:
    """The shipped digits config shrunk for a test run (3 tasks, 2 + 1 epochs)."""
    cfg = Config.fromfile(DIGITS_CONFIG)
    cfg.work_dir = work_dir
    cfg.merge_from_dict({
        'model.clip.config': copy.deepcopy(TINY_CLIP),
        'model.tokenizer.context_length': 32,
        'model.second_stage_start_task': 1,
        'train_dataloader.batch_size': 128,
        'train_cfg.stages.prompts': dict(max_epochs=2, init_max_epochs=2),
        'train_cfg.stages.head.max_epochs': 1,
        'train_cfg.num_tasks': 3,
        'default_hooks.replay.samples_per_old_class': 16,
        'default_hooks.logger.interval': 50,
        'default_hooks.checkpoint.max_keep_ckpts': 10,
    })
    cfg.merge_from_dict(options)
    return cfg
