"""scratchcnn.models"""
