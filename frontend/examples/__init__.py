"""Runnable examples of the frontend: ``python -m theanine.frontend.examples.<name>``.

- ``gan``: a generative adversarial network trained by a custom loop
  (``th.grad`` / ``th.function`` with updates) instead of ``fit``.
"""
