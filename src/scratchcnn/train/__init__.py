"""scratchcnn.train"""
