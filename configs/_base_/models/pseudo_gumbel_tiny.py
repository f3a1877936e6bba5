# A tiny, randomly initialised region MLLM for Pseudo-Gumbel (CPU, no download): a frozen
# 2-layer CLIP vision tower on 64 px images (8 px patches -> an 8 x 8 grid), a 2-layer Llama
# trained fully with its embedding table (no LoRA: a random LM has no pretrained weights for
# LoRA to preserve), a small conv grounding encoder (trained: unlike the reference's SAM2
# encoder it starts random, so freezing it would keep random features) and a prompt mask
# decoder with coordinate channels. The method config sets the tokenizer.
model = dict(
    type='PseudoGumbelSegmentor',
    mllm=dict(
        type='RegionMLLM',
        vision_encoder=dict(
            type='CLIPVisionModel',
            config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=2, image_size=64, patch_size=8)),
        language_model=dict(
            config=dict(model_type='llama', hidden_size=64, intermediate_size=128,
                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                        max_position_embeddings=512, tie_word_embeddings=False),
            attn_implementation='sdpa'),
        tokenizer=dict(path=None, words=None),
        lora=None),
    grounding_encoder=dict(type='ConvGroundingEncoder', channels=32, num_downs=2),
    mask_decoder=dict(type='PromptMaskDecoder', in_channels=32, channels=32, upsample=4,
                      with_coords=True),
    prompt_dim=64,
    token_masker=dict(type='RandomTokenMasker', mask_ratio=0.25),
    gumbel=dict(type='TopKGumbelSoftmax', tau=0.7, k=128, hard=True),
    loss_mask=dict(type='BCEWithLogitsLoss', loss_weight=2.0),
    loss_dice=dict(type='DiceLoss', loss_weight=0.5),
    max_caption_len=64)
