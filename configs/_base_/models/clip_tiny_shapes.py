# The tiny CLIP pretrained by tools/pretrain_tiny_clip.py on procedural colour-shape captions
# (width 64, 2 + 2 layers, 32 px, 8 px patches; byte-level tokenizer, 32 tokens). Run
#   python tools/pretrain_tiny_clip.py          # ~5 min on a CPU, cached in data/
# once; configs load the folder and leave the frozen weights out of checkpoints.
model = dict(
    type='CLIPPromptClassifier',
    clip=dict(pretrained='data/tiny_clip_shapes'),
    tokenizer=dict(type='CLIPTokenizer', bpe_path=None, context_length=32),
    prompt_learner=dict(type='PromptLearner', n_ctx=4, update_old_text_prompts=False),
    replay_sampler=dict(type='GaussianFeatureSampler', shrinkage=0.0, ridge=1e-4),
    raw_text_template='{}.',  # the captions' bare form, "red star."
    # threshold 0.0: every (old, new) pair qualifies, the 4 most similar are used
    text_hinge_loss=dict(type='HingeLoss', hard_pair_threshold=0.0, top_hard_pairs=4,
                         samples_per_pair=16, margin=0.1, loss_weight=1.0,
                         detach_old_text=True),
    second_stage_fusion_weight=0.3,
    fusion='within_task',  # CLIP picks the task, CLIP + 0.3 x head the class inside it
    use_image_adapter=False,  # RAPF-style linear adapter on image features (stage 1)
    data_preprocessor=dict(type='CLIPDataPreprocessor'))
