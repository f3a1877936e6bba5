# ADE20K (SceneParsing 150 classes, label 0 kept as background as in DKD).
_base_ = './ciss_segmentation.py'
data_root = 'data/ADEChallengeData2016'
task, setting = '100-50', 'overlap'
crop_size = _base_.train_pipeline[1].size  # 512, the training crop

train_dataloader = dict(
    batch_size=24, num_workers=4, persistent_workers=False,
    dataset=dict(type='ADE20KSegDataset', data_root=data_root, split='training'))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False,
    dataset=dict(type='ADE20KSegDataset', data_root=data_root, split='validation'))
test_dataloader = val_dataloader
