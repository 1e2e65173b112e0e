"""theanine.frontend: the Keras-like layer.

``from theanine.frontend import layers, models, optimizers, losses, metrics, callbacks, datasets``
gives Keras' vocabulary: ``models.Sequential``/``models.Model``, layers,
``compile``/``fit``/``evaluate``/``predict``, callbacks, ``model.save`` and
``models.load_model``.  Modules are imported on use, so importing
``theanine`` stays cheap.
"""
