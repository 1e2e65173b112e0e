"""The program ``test_distributed.py`` runs under ``mpirun -np 2``: one scenario per launch.

``python mpi_worker.py SCENARIO OUT_DIR``.  Each rank writes what it saw
to ``OUT_DIR/rank<r>.json`` (the "checks" scenario) or a message file, so
the test process asserts on values; the fault scenarios end the job.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

import theanine as th
from theanine.frontend import callbacks, distribute, layers, metrics, models, optimizers
from theanine.graph.ops.distributed import Allreduce
from theanine.graph.rewriting.inplace import execution_order

OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(0.1),
    "sgd_nesterov": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: optimizers.Adam(1e-2),
    "adamw": lambda: optimizers.AdamW(1e-2),
    "rmsprop": lambda: optimizers.RMSprop(1e-2),
    "adagrad": lambda: optimizers.Adagrad(0.1),
    "adadelta": lambda: optimizers.Adadelta(1.0),
    "nadam": lambda: optimizers.Nadam(1e-2),
}


class SampleCount(metrics.Metric):
    """A Keras-style metric (state in a variable): the samples seen, weighted."""

    def __init__(self, name="samples", **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.count.assign_add(th.cast(th.shape(y_pred)[0], self.dtype))

    def result(self):
        return self.count + 0.0


def build(optimizer, units: int = 16, dropout: bool = False):
    """The same small MLP on every rank (seeded), compiled with ``optimizer``; with ``dropout``,
    a BatchNormalization and a Dropout after the hidden layer."""
    th.set_seed(7)
    hidden = [layers.Dense(units, activation="tanh")]
    hidden += [layers.BatchNormalization(), layers.Dropout(0.5)] if dropout else []
    model = models.Sequential([layers.Input(shape=(6,)), *hidden, layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", SampleCount()])
    return model


def data(n: int):
    rng = np.random.default_rng(3)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 3, n)


def relative_error(model, reference) -> float:
    """The largest ``|a - b| / max |b|`` over the weights (the float32 reassociation bar)."""
    return max(
        float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))
        for a, b in zip(model.get_weights(), reference.get_weights(), strict=True)
    )


def allreduce_count(function) -> int:
    nodes = execution_order(function.optimized_outputs, function.fgraph_inputs)
    return sum(isinstance(node.op, Allreduce) for node in nodes)


def equality(strategy) -> dict:
    """20 steps of global batch 16 per optimizer (each rank 8), against one process with batch 16;
    then 20 steps of an odd global batch (15: shards of 8 and 7)."""
    x, y = data(320)
    errors = {}
    for name, make in OPTIMIZERS.items():
        model = build(make())
        model.fit(x, y, batch_size=16, epochs=1, steps_per_epoch=20, shuffle=False, verbose=0,
                  strategy=strategy)
        reference = build(make())
        reference.fit(x, y, batch_size=16, epochs=1, steps_per_epoch=20, shuffle=False, verbose=0)
        errors[name] = relative_error(model, reference)
    model = build(optimizers.SGD(0.1))
    model.fit(x[:300], y[:300], batch_size=15, epochs=1, shuffle=False, verbose=0, strategy=strategy)
    reference = build(optimizers.SGD(0.1))
    reference.fit(x[:300], y[:300], batch_size=15, epochs=1, shuffle=False, verbose=0)
    errors["sgd_uneven_shards"] = relative_error(model, reference)
    return errors


def fit_with_callbacks(out: str, rank: int) -> dict:
    """Bucketing, reduced logs, validation, rank-0 files and EarlyStopping, built in a scope."""
    strategy = distribute.MPIDataParallel(bucket_bytes=500)
    x, y = data(256)
    with strategy.scope():
        model = build(optimizers.Adam(1e-2))
    if rank == 1:  # rank 0's weights must win
        model.set_weights([w + 1.0 for w in model.get_weights()])
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0)
    files = [
        callbacks.CSVLogger(os.path.join(out, f"log{rank}.csv")),
        callbacks.ModelCheckpoint(os.path.join(out, f"ckpt{rank}.theanine")),
    ]
    history = model.fit(x[:192], y[:192], batch_size=32, epochs=5, shuffle=True, verbose=1,
                        validation_data=(x[192:], y[192:]), callbacks=[stopper, *files])
    evaluated = model.evaluate(x[192:], y[192:], batch_size=20, verbose=0, return_dict=True)
    model.save(os.path.join(out, f"model{rank}.theanine"))
    train = model._steps._functions["train"]
    grads = [th.zeros_like(w) for w in model.trainable_weights]
    th.set_seed(7)
    reference = build(optimizers.Adam(1e-2))
    reference_history = reference.fit(x[:192], y[:192], batch_size=32, epochs=2, shuffle=True, verbose=0,
                                      validation_data=(x[192:], y[192:]))
    return {
        "history": history.history,
        "reference_history": reference_history.history,
        "evaluate": evaluated,
        "reference_evaluate": reference.evaluate(x[192:], y[192:], batch_size=20, verbose=0, return_dict=True),
        "buckets": strategy.buckets(grads),
        "allreduce_nodes": allreduce_count(train),
        "native_collectives": sum(
            type(step).__name__ == "CollectiveCall" for step in train._run.__self__.program.steps
        ),
        "weights_sum": float(sum(np.sum(w, dtype=np.float64) for w in model.get_weights())),
    }


def ops(rank: int) -> dict:
    """The graph ops on both backends: values and gradients."""
    x = th.tensor("x", "float64", (None, 3))
    outputs = [
        th.distributed.allreduce(x, "sum"), th.distributed.allreduce(x.T, "mean"),
        th.distributed.allreduce(x, "max"), th.distributed.broadcast(x * 2, root=1),
        th.grad((th.distributed.allreduce(x) ** 2).sum(), x),
        th.grad((th.distributed.broadcast(x, root=1) * 3).sum(), x),
    ]
    value = np.arange(6, dtype="float64").reshape(2, 3) + 10 * rank
    return {
        backend: [o.tolist() for o in th.function([x], outputs, backend=backend)(value)]
        for backend in ("numpy", "llvm")
    }


def dropout_masks(strategy) -> dict:
    """Dropout and BatchNormalization after a distributed fit: the same weights and moving
    statistics on both ranks (averaged), different dropout masks."""
    x, y = data(64)
    model = build(optimizers.SGD(0.1), dropout=True)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, strategy=strategy)
    probe = th.function([], model.layers[2].stream.uniform((8,)))
    moving = [w for w in model.weights if "moving" in w.name]
    return {"weights_sum": float(sum(np.sum(w, dtype=np.float64) for w in model.get_weights())),
            "moving": [w.get_value().tolist() for w in moving], "draw": probe().tolist()}


def checks(out: str) -> None:
    strategy = distribute.MPIDataParallel()
    rank = strategy.rank
    result = {"ops": ops(rank), "equality": equality(strategy), "callbacks": fit_with_callbacks(out, rank),
              "dropout": dropout_masks(strategy)}
    with open(os.path.join(out, f"rank{rank}.json"), "w") as file:
        json.dump(result, file)


def mismatch(out: str) -> None:
    """Rank 1 builds a wider model: both ranks must refuse to start."""
    strategy = distribute.MPIDataParallel()
    model = build(optimizers.SGD(0.1), units=16 if strategy.rank == 0 else 17)
    x, y = data(32)
    try:
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, strategy=strategy)
    except ValueError as error:
        with open(os.path.join(out, f"refused{strategy.rank}.txt"), "w") as file:
            file.write(str(error))


class Fault(callbacks.Callback):
    """On rank 1, at the third batch: hang, raise or die."""

    def __init__(self, kind: str, rank: int):
        super().__init__()
        self.kind, self.rank = kind, rank

    def on_train_batch_begin(self, batch, logs=None):
        if self.rank != 1 or batch != 3:
            return
        if self.kind == "hang":
            time.sleep(600)
        elif self.kind == "raise":
            raise RuntimeError("injected failure on rank 1")
        else:
            os._exit(3)


def fault(kind: str) -> None:
    strategy = distribute.MPIDataParallel(timeout=3.0)
    model = build(optimizers.SGD(0.1))
    x, y = data(640)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, strategy=strategy,
              callbacks=[Fault(kind, strategy.rank)])
    print(f"rank {strategy.rank} finished training", flush=True)


if __name__ == "__main__":
    scenario, directory = sys.argv[1], sys.argv[2]
    if scenario == "checks":
        checks(directory)
    elif scenario == "mismatch":
        mismatch(directory)
    else:
        fault(scenario)
