"""theanine.frontend: the Keras-like layer (models, layers, optimizers, ...)."""
