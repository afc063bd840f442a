"""scratchcnn.data"""
