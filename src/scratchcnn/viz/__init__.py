"""scratchcnn.viz"""
