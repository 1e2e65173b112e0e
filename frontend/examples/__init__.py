"""Runnable examples of the frontend: ``python -m theanine.frontend.examples.<name>``.

- ``gan``: a generative adversarial network trained by a custom loop
  (``th.grad`` / ``th.function`` with updates) instead of ``fit``.
- ``digits_cnn``: the convolutional digits model that ``python -m theanine``
  trains (a module of parts: the model and its shifted-image batches).
"""
