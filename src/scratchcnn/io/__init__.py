"""scratchcnn.io"""
