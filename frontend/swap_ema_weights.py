"""``SwapEMAWeights`` (``keras.callbacks.SwapEMAWeights``): evaluate with the optimizer's EMA weights.

An optimizer made with ``use_ema=True`` keeps an exponential moving average
of each trained weight.  This callback swaps those averages into the model
before evaluation (and prediction) and the trained weights back after, so
validation metrics are those of the averaged model while training goes on
from the raw weights.  With ``swap_on_epoch=True`` the averages are also in
the model between ``on_epoch_end`` and the next ``on_epoch_begin`` (for a
``ModelCheckpoint`` placed after it).  A ``LossScaleOptimizer``'s inner
optimizer is used.  One difference from Keras 3.15: there ``on_predict_end``
never swaps back (its test is inverted); here the trained weights return.
"""

from __future__ import annotations

from theanine.frontend.callbacks import Callback

__all__ = ["SwapEMAWeights"]


class SwapEMAWeights(Callback):
    """Swap the model's weights with the optimizer's moving averages around evaluation."""

    def __init__(self, swap_on_epoch: bool = False):
        super().__init__()
        self.swap_on_epoch = bool(swap_on_epoch)
        self._ema_weights_in_model = False

    def _pairs(self) -> list[tuple]:
        optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)
        if not getattr(optimizer, "use_ema", False):
            raise ValueError("SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
                             f"Received: use_ema={getattr(optimizer, 'use_ema', None)}")
        return optimizer.ema_pairs()

    def _swap(self) -> None:
        for weight, average in self._pairs():
            trained = weight.get_value()
            weight.set_value(average.get_value())
            average.set_value(trained)
        self._ema_weights_in_model = not self._ema_weights_in_model

    def _to_model(self) -> None:
        if not self._ema_weights_in_model:
            self._swap()

    def _from_model(self) -> None:
        if self._ema_weights_in_model:
            self._swap()

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._from_model()

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._to_model()
            if epoch == self.params.get("epochs", 0) - 1:
                # fit's finalize_variable_values then writes the averages in: keep them the EMA weights
                for weight, average in self._pairs():
                    average.set_value(weight.get_value())

    def on_test_begin(self, logs=None):
        self._to_model()

    def on_test_end(self, logs=None):
        self._from_model()

    def on_predict_begin(self, logs=None):
        self._to_model()

    def on_predict_end(self, logs=None):
        self._from_model()
