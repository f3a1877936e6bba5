# OpenAI CLIP ViT-B/16 through transformers. `pretrained` is a local Hugging Face folder
# (e.g. a copy of openai/clip-vit-base-patch16) or OpenAI's ViT-B-16.pt; `bpe_path` the
# matching vocab (the folder's merges.txt or bpe_simple_vocab_16e6.txt.gz). Nothing is
# downloaded: put the files there first (docs/en/methods/clip_cil.md).
clip_weights = 'data/clip/clip-vit-base-patch16'
clip_bpe = 'data/clip/clip-vit-base-patch16/merges.txt'

model = dict(
    type='CLIPPromptClassifier',
    clip=dict(pretrained=clip_weights),
    tokenizer=dict(type='CLIPTokenizer', bpe_path=clip_bpe),
    prompt_learner=dict(type='PromptLearner', n_ctx=4, ctx_init=None,
                        update_old_text_prompts=False),
    replay_sampler=dict(type='GaussianFeatureSampler', shrinkage=0.0, ridge=1e-4,
                        stats_dtype='float16'),  # packed Cholesky factors: 26 MB / 100 classes
    raw_text_template='a photo of a {}.',
    text_hinge_loss=dict(type='HingeLoss', hard_pair_threshold=0.8, top_hard_pairs=10,
                         samples_per_pair=8, margin=0.1, loss_weight=1.0,
                         detach_old_text=True),
    second_stage_fusion_weight=0.3,
    fusion='within_task',  # CLIP picks the task, CLIP + 0.3 x head the class inside it
    use_image_adapter=False,  # RAPF-style linear adapter on image features (stage 1)
    data_preprocessor=dict(type='CLIPDataPreprocessor'))
