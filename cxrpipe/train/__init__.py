"""The downstream trainer: the only part of cxrpipe that imports TensorFlow.

It reads a shard dataset through its manifest (never a listing) and trains one convolutional
autoencoder per class, then the classifier (a backbone's pooled features together with the
autoencoders' reconstruction errors, into a sigmoid head), and evaluates it per class.

Modules: ``sources`` (what to read, from the manifest; no TensorFlow), ``data`` (tf.data),
``models``, ``losses``, ``loop`` (the training stages), ``evaluate``, ``metrics`` (pure numpy),
``ensemble`` and ``voting`` (ensembles; voting is pure numpy) and ``settings`` (what each stage takes; no TensorFlow, so `cxrpipe.cli.train` reads its
defaults for ``--help``). Importing this package imports nothing heavy.
"""
