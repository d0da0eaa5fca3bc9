"""Predicting on raw radiographs, without TensorFlow: finding the inputs, preprocessing them
exactly as `cxrpipe run` made the training JPEGs, and writing the predictions. The model
itself runs in ``cxrpipe.train.infer`` (the TensorFlow side)."""
