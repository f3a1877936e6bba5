"""A tiny transformers SAM2 config (SAM2 grounding tests and the config smoke test)."""


def tiny_sam2_config(image_size: int = 64) -> dict:
    """``Sam2Config`` keys of a ~0.35M-parameter SAM2 (feature maps 16, 8, 4 at 64 px)."""
    s = image_size // 4
    return dict(
        vision_config=dict(
            backbone_config=dict(
                model_type='sam2_hiera_det_model', hidden_size=16, num_attention_heads=1,
                image_size=[image_size, image_size], blocks_per_stage=[1, 1, 2, 1],
                embed_dim_per_stage=[16, 32, 64, 128], num_attention_heads_per_stage=[1] * 4,
                window_size_per_stage=[4, 4, 4, 2], global_attention_blocks=[3],
                window_positional_embedding_background_size=[2, 2]),
            backbone_channel_list=[128, 64, 32, 16],
            backbone_feature_sizes=[[s, s], [s // 2, s // 2], [s // 4, s // 4]],
            fpn_hidden_size=32),
        prompt_encoder_config=dict(hidden_size=32, image_size=image_size, patch_size=16),
        mask_decoder_config=dict(hidden_size=32, mlp_dim=64, num_attention_heads=2,
                                 iou_head_hidden_dim=32))
