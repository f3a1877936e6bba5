# Pseudo-Gumbel at the reference recipe's scale: InternVL2.5-4B-sized parts (InternViT-300M-like
# vision tower at 448 px / 14 px patches, Qwen2.5-3B-like LM with LoRA r=128, 64 caption tokens)
# and SAM2 hiera-large grounding (frozen image encoder at 1024 px, trained mask decoder, the [SEG]
# embedding as a sparse prompt, as Sa2VA) on RefCOCO-style data (refs json + COCO instances)
# from a local folder. With local weights set the `pretrained` keys, `sam2_weights` and the
# tokenizer path (local files only, nothing downloads); without them the model still builds
# on the meta device for
#   python tools/analysis_tools/memory_report.py THIS_CONFIG --meta --word-tokenizer
_base_ = './tiny_shapes.py'

# ---- frequently changed ----
data_root = 'data/refcoco'
weights = 'checkpoints/InternVL2_5-4B'       # local folder of the LM / tokenizer (optional)
sam2_weights = None  # e.g. 'checkpoints/sam2.1-hiera-large' (a transformers Sam2Model folder)
img_size = 448
max_caption_len = 64
warmup_epochs = 1
pseudo_gumbel_epochs = 2
batch_size = 2
lr = 4e-5

tokenizer = dict(path=weights, words=None)
# the reference recipe's segmentation turn (two [SEG]; the mask prompt is the last one's
# hidden state), after the image block
segment_template = 'Please segment: {text} [SEG]<|end|> <|assistant|> It is [SEG].'
segment_image_tokens = True
# transformers Sam2Config of sam2.1_hiera_l (the rest is transformers' default); with
# `sam2_weights` set the folder's own config.json is used instead
sam2_hiera_large = None if sam2_weights else dict(vision_config=dict(
    backbone_config=dict(
        model_type='sam2_hiera_det_model', hidden_size=144, num_attention_heads=2,
        blocks_per_stage=[2, 6, 36, 4], embed_dim_per_stage=[144, 288, 576, 1152],
        num_attention_heads_per_stage=[2, 4, 8, 16], window_size_per_stage=[8, 4, 16, 8],
        global_attention_blocks=[23, 33, 43],
        window_positional_embedding_background_size=[7, 7]),
    backbone_channel_list=[1152, 576, 288, 144]))
model = dict(
    mllm=dict(
        tokenizer=tokenizer,
        vision_encoder=dict(
            pretrained=None,
            config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                        num_attention_heads=16, image_size=img_size, patch_size=14)),
        language_model=dict(
            pretrained=None,
            config=dict(model_type='qwen2', vocab_size=151674, hidden_size=2048,
                        intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                        num_key_value_heads=2, max_position_embeddings=32768,
                        tie_word_embeddings=True)),
        # LoRA freezes the embedding table: the rows of the tokens added to the tokenizer
        # ([SEG], <vp> ...) train through peft's trainable_token_indices (train_added_tokens)
        lora=dict(_delete_=True, r=128, lora_alpha=256, lora_dropout=0.05, modules_to_save=None,
                  target_modules=['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj',
                                  'up_proj', 'down_proj']),
        train_added_tokens=True,
        segment_template=segment_template,
        segment_image_tokens=segment_image_tokens,
        projector_hidden=2048),
    grounding_encoder=dict(type='Sam2GroundingEncoder', pretrained=sam2_weights,
                           config=sam2_hiera_large, frozen=True, _delete_=True),
    mask_decoder=dict(type='Sam2PromptMaskDecoder', pretrained=sam2_weights,
                      config=sam2_hiera_large, _delete_=True),
    prompt_dim=256,
    max_caption_len=max_caption_len)

pipeline = [
    dict(type='LoadRegionPair'),
    dict(type='ResizeRegionPair', size=img_size),
    dict(type='TokenizeCaption', tokenizer=tokenizer, max_len=max_caption_len),
    dict(type='PackRegionPair')
]
refcoco = dict(type='RefCocoRegionDataset', data_root=data_root, refs_file='refs.json',
               instances_file='instances.json', img_dir='images', pipeline=pipeline,
               _delete_=True)
train_dataloader = dict(batch_size=batch_size, dataset=dict(refcoco, split='train'))
val_dataloader = dict(batch_size=batch_size, dataset=dict(refcoco, split='val'))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=warmup_epochs + pseudo_gumbel_epochs)
optim_wrapper = dict(optimizer=dict(lr=lr))
default_hooks = dict(
    train_mode=dict(switch_epoch=warmup_epochs),
    ema_teacher=dict(momentum=0.999, warmup_iters=100, begin_epoch=warmup_epochs))
# RefCOCO has no swapped captions: no text-sensitivity hook (shuffled captions can be checked
# with `caption_mode_miou` on a dataset that takes `caption_mode`)
custom_hooks = []
