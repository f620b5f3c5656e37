"""Pictures in numpy: MNIST-style preparation of photos, scans and drawings (all internal).

Pure numpy, no Daft and no torch: the Daft layer (:mod:`daft_mnist.preparation`) hands it
batches of decoded pictures.
"""
