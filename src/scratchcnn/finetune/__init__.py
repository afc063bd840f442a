"""scratchcnn.finetune"""
