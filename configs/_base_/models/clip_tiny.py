# A tiny, randomly initialised CLIP (ViT, 32 px, width 64, 2 layers) with the byte-level
# tokenizer (514 ids): trains on a CPU in minutes, downloads nothing. Task sizes
# (num_classes / init_class / increment) are filled in by the method config.
# One 32 px patch per image: at random initialisation a ViT's class token sees little more
# than the mean patch, while a single patch is a random projection of the whole image, which
# keeps the frozen features informative (linear probe ~90 % on digits vs ~35 % with 8 px
# patches). logit_scale starts at CLIP's trained value (100).
model = dict(
    type='CLIPPromptClassifier',
    clip=dict(
        config=dict(
            text_config=dict(vocab_size=514, hidden_size=64, intermediate_size=256,
                             num_hidden_layers=2, num_attention_heads=2,
                             max_position_embeddings=77),
            vision_config=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                               num_attention_heads=2, image_size=32, patch_size=32),
            projection_dim=64, logit_scale_init_value=4.6052),
        pretrained=None),
    tokenizer=dict(type='CLIPTokenizer', bpe_path=None),
    prompt_learner=dict(type='PromptLearner', n_ctx=4, update_old_text_prompts=False),
    replay_sampler=dict(type='GaussianFeatureSampler', shrinkage=0.0, ridge=1e-4),
    text_hinge_loss=dict(type='HingeLoss', hard_pair_threshold=0.0, top_hard_pairs=4,
                         samples_per_pair=8, margin=0.1, loss_weight=1.0),
    second_stage_fusion_weight=0.3,
    fusion='within_task',  # CLIP picks the task, CLIP + 0.3 x head the class inside it
    use_image_adapter=False,  # RAPF-style linear adapter on image features (stage 1)
    data_preprocessor=dict(type='CLIPDataPreprocessor'))
