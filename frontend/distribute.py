"""Data-parallel training over MPI: ``strategy = distribute.MPIDataParallel()``.

Launch the same script on N processes (``mpirun -np N python train.py``);
build the model inside ``with strategy.scope():`` or pass
``model.fit(..., strategy=strategy)``.  Then, in every ``fit``:

- at the start, every rank's weights are described (name, shape, dtype)
  and compared with rank 0's: a rank whose model differs is refused, on
  every rank alike, with both descriptions; then rank 0's weights are
  broadcast, so every rank starts from the same point;
- every rank reads the same global batches (the shuffle seed is rank 0's)
  and keeps its shard: rank r of N takes the r-th of N near-equal slices;
- the compiled train step computes the local gradients, scales them by the
  local batch size and sums them over the ranks in buckets (the gradients
  of several weights concatenated into one ``th.distributed.allreduce``
  of at most ``bucket_bytes``), then divides by the global batch size:
  the gradient of the global batch's mean loss, exactly as one process
  with the whole batch computes it (up to float reassociation), however
  the shards split.  Every rank then applies the same update;
- losses and metric statistics are summed over the ranks inside the same
  compiled step, so the logs (and validation, and ``evaluate``) are the
  global ones on every rank; layer states (moving statistics) are averaged;
- the progress bar and the callbacks that write files (ModelCheckpoint,
  CSVLogger, TensorBoard) run on rank 0 only, as does ``model.save``;
  ``stop_training`` (EarlyStopping) is rank 0's decision, broadcast at the
  end of each epoch, so every rank stops after the same epoch.

Faults.  MPI itself ends a job whose process dies (``mpirun`` kills the
others); two more guards stop the cases it cannot see: a rank that raises
inside ``fit`` prints its error and calls ``MPI_Abort`` (mpirun then ends
every rank), and a watchdog thread on each rank aborts the job when the
rank makes no progress (no batch finished) for ``timeout`` seconds, e.g.
when a peer hangs or stopped calling the collectives; the native MPI calls
release the GIL, so the watchdog runs while its rank waits in one.  The
timer starts after the step functions are compiled.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import sys
import threading
import time
import traceback

import numpy as np

import theanine as th
from theanine.frontend import callbacks as callbacks_module
from theanine.frontend.step_functions import random_streams

__all__ = ["MPIDataParallel", "current_strategy", "WATCHDOG_EXIT_CODE"]

WATCHDOG_EXIT_CODE = 75
"""The MPI_Abort code of a watchdog timeout (an exception in a rank aborts with 1)."""

_CURRENT: contextvars.ContextVar[MPIDataParallel | None] = contextvars.ContextVar(
    "theanine_distribute_strategy", default=None
)


def current_strategy() -> MPIDataParallel | None:
    """The strategy of the innermost ``strategy.scope()``, or None."""
    return _CURRENT.get()


class MPIDataParallel:
    """Synchronous data parallelism over the ranks of ``MPI_COMM_WORLD`` (module docstring).

    ``bucket_bytes``: the most bytes of gradients one allreduce carries.
    ``timeout``: seconds without progress after which a rank aborts the job.
    """

    def __init__(self, bucket_bytes: int = 4 << 20, timeout: float = 120.0):
        if not isinstance(bucket_bytes, int) or bucket_bytes <= 0:
            raise ValueError(f"bucket_bytes must be a positive int. Received: {bucket_bytes!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds. Received: {timeout!r}")
        self.bucket_bytes, self.timeout = bucket_bytes, float(timeout)
        self.comm = th.distributed.world()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        from mpi4py import MPI

        self.local_size = self.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()

    def __repr__(self) -> str:
        return f"MPIDataParallel(rank={self.rank}, size={self.size}, bucket_bytes={self.bucket_bytes})"

    @property
    def threads_per_rank(self) -> int:
        """This machine's cores shared among its ranks (for ``th.config.num_threads``): ranks
        that each start a thread per core oversubscribe the machine, and MPI's busy-polling
        waits then compete with the compute."""
        return max((os.cpu_count() or 1) // self.local_size, 1)

    @property
    def is_chief(self) -> bool:
        """Whether this rank writes files and prints (rank 0)."""
        return self.rank == 0

    @contextlib.contextmanager
    def scope(self):
        """Models created (and compiled) inside train with this strategy."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    # -- the compiled step ------------------------------------------------------------------------

    def reduce_gradients(self, grads: list, n_local) -> list:
        """The gradients of the global batch's mean loss from each rank's local-mean gradients."""
        n = th.cast(n_local, "float64")
        scaled = [th.switch(n > 0, g * th.cast(n, g.dtype), th.zeros_like(g)) for g in grads]
        reduced, total = self.bucketed_sum(scaled, n)
        return [g / th.cast(total, g.dtype) for g in reduced]

    def bucketed_sum(self, tensors: list, count) -> tuple[list, object]:
        """``tensors`` and the scalar ``count`` summed over the ranks, as few tensors of one dtype
        per allreduce as ``bucket_bytes`` allows (the count rides in the first bucket)."""
        results: list = [None] * len(tensors)
        total = None
        for bucket in self.buckets(tensors):
            dtype = tensors[bucket[0]].dtype
            parts = [th.flatten(tensors[i]) for i in bucket]
            if total is None:
                parts.append(th.reshape(th.cast(count, dtype), (1,)))
            summed = th.distributed.allreduce(th.concatenate(parts), "sum")
            offset = 0
            for i in bucket:
                size = _static_size(tensors[i])
                results[i] = th.reshape(summed[offset : offset + size], th.shape(tensors[i]))
                offset += size
            if total is None:
                total = summed[offset]
        if total is None:
            total = th.distributed.allreduce(th.reshape(th.cast(count, "float64"), (1,)))[0]
        return results, total

    def buckets(self, tensors: list) -> list[list[int]]:
        """Indices of ``tensors`` grouped in order: one dtype per bucket, at most ``bucket_bytes``
        each (a tensor larger than that is a bucket of its own).  Sizes must be static."""
        groups: list[list[int]] = []
        open_groups: dict[str, tuple[list[int], int]] = {}
        for i, t in enumerate(tensors):
            size = _static_size(t)
            if size is None:
                raise ValueError(
                    f"MPIDataParallel: gradient {i} ({t.type}) has no static size; weights must "
                    "have static shapes to be bucketed"
                )
            nbytes = size * np.dtype(t.dtype).itemsize
            group, used = open_groups.get(t.dtype, (None, 0))
            if group is None or used + nbytes > self.bucket_bytes:
                group, used = [], 0
                groups.append(group)
            group.append(i)
            open_groups[t.dtype] = (group, used + nbytes)
        return groups

    def reduce_outputs(self, losses: list, stats: list, n_local) -> tuple[list, list, object]:
        """Local mean losses and additive metric statistics as global ones, in one allreduce
        (float64), plus the global sample count."""
        n = th.cast(n_local, "float64")
        flat = [th.flatten(th.cast(loss, "float64") * n) for loss in losses]
        flat += [th.flatten(th.cast(s, "float64")) for s in stats]
        flat.append(th.reshape(n, (1,)))
        summed = th.distributed.allreduce(th.concatenate(flat), "sum")
        total = summed[-1]
        global_losses = [
            th.cast(summed[i] / th.maximum(total, 1.0), loss.dtype) for i, loss in enumerate(losses)
        ]
        global_stats, offset = [], len(losses)
        for s in stats:
            size = th.prod(th.shape(s)) if _static_size(s) is None else _static_size(s)
            piece = summed[offset : offset + size]
            global_stats.append(th.cast(th.reshape(piece, th.shape(s)), s.dtype))
            offset = offset + size
        return global_losses, global_stats, total

    def average_states(self, updates: list) -> list:
        """Float layer-state updates (moving statistics) averaged over the ranks; others (integer
        random-stream counters, float16 states MPI has no type for) kept."""
        return [
            (shared, th.distributed.allreduce(new, "mean") if new.dtype in ("float32", "float64") else new)
            for shared, new in updates
        ]

    def sum_increments(self, updates: list) -> list:
        """Accumulator updates (``state <- state + increment``) with the increments summed over
        the ranks: Keras-style metric states (totals, counts) of the global batch."""
        return [
            (shared, shared + th.distributed.allreduce(th.cast(new - shared, shared.dtype), "sum"))
            if shared.dtype in th.distributed.MPI_DTYPES else (shared, new)
            for shared, new in updates
        ]

    # -- fit --------------------------------------------------------------------------------------

    def start(self, model) -> None:
        """Refuse a model that differs from rank 0's (on every rank), then broadcast rank 0's weights."""
        described = _describe(model)
        everyone = self.comm.allgather(described)
        for other, description in enumerate(everyone):
            if description != everyone[0]:
                raise ValueError(
                    f"MPIDataParallel: the model on rank {other} differs from the model on rank 0; "
                    f"every rank must build the same model.\n  rank 0: {_format(everyone[0])}\n  "
                    f"rank {other}: {_format(description)}"
                )
        if not model.built:
            raise ValueError(
                f"MPIDataParallel: {model.name} is not built yet, so rank 0's weights cannot be "
                "broadcast; give it an Input layer or call model.build(...) before fit"
            )
        for weight in model.weights:
            value = np.ascontiguousarray(weight.get_value())
            self.comm.Bcast(value, root=0)
            weight.set_value(value)
        self._decorrelate_random_streams(model)

    def _decorrelate_random_streams(self, model) -> None:
        """Give the random streams (Dropout) of ranks other than 0 seeds of their own, drawn from
        their current state and the rank: the shards then get independent masks, as the rows of
        one large batch do (rank 0 keeps its stream: its shard sees the single-process draws)."""
        if self.rank == 0:
            return
        for stream in random_streams(model):
            digest = hashlib.sha256(str(self.rank).encode())
            for state in stream.states:
                digest.update(np.ascontiguousarray(state.get_value()).tobytes())
            digest.update(str(stream.seed).encode())
            stream.reseed(int.from_bytes(digest.digest()[:8], "little"))

    def shared_seed(self, seed: int) -> int:
        """Rank 0's ``seed`` on every rank (the batch order every rank must share)."""
        return self.comm.bcast(int(seed), root=0)

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank."""
        return bool(self.comm.bcast(bool(flag), root=0))

    def shard(self, source):
        """The batch source whose batches are this rank's shards of ``source``'s."""
        return ShardedBatches(source, self.rank, self.size)

    def callbacks(self, callbacks: list | None) -> list:
        """The callbacks this rank runs: on ranks other than 0, none that writes files or prints."""
        callbacks = list(callbacks or [])
        if self.is_chief:
            return callbacks
        return [c for c in callbacks if not getattr(c, "chief_only", False)]

    def watchdog(self) -> Watchdog:
        """A watchdog for one loop (a callback; ``guarded`` starts it)."""
        return Watchdog(self.comm, self.timeout)

    @contextlib.contextmanager
    def guarded(self, dog: Watchdog):
        """Run a training loop under ``dog``; an exception aborts the other ranks."""
        try:
            with dog:
                yield dog
        except BaseException as error:
            if self.size > 1 and not isinstance(error, SystemExit):
                _abort(self.comm, f"rank {self.rank} raised {type(error).__name__}: {error}\n"
                       + "".join(traceback.format_exception(error)), 1)
            raise


class ShardedBatches:
    """A batch source yielding rank ``rank``'s slice of each batch of ``source`` (the r-th of
    ``size`` near-equal contiguous slices; the first ranks take one more sample when it does not
    divide)."""

    def __init__(self, source, rank: int, size: int):
        self.source, self.rank, self.size = source, rank, size
        self.num_batches = source.num_batches

    def epoch(self):
        for batch in self.source.epoch():
            base, extra = divmod(batch.n, self.size)
            start = self.rank * base + min(self.rank, extra)
            yield batch.take(slice(start, start + base + (self.rank < extra)))

    def on_epoch_end(self) -> None:
        self.source.on_epoch_end()


class Watchdog(callbacks_module.Callback):
    """Aborts the MPI job when no batch ends for ``timeout`` seconds (a callback: each batch
    and epoch end is a heartbeat)."""

    def __init__(self, comm, timeout: float):
        super().__init__()
        self.comm, self.timeout = comm, timeout
        self._last = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="theanine-mpi-watchdog", daemon=True)

    def __enter__(self):
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def beat(self) -> None:
        self._last = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self.beat()

    def on_test_batch_end(self, batch, logs=None):
        self.beat()

    def on_epoch_end(self, epoch, logs=None):
        self.beat()

    def _watch(self) -> None:
        while not self._done.wait(min(1.0, self.timeout / 4)):
            idle = time.monotonic() - self._last
            if idle > self.timeout:
                rank = self.comm.Get_rank()
                _abort(self.comm, (
                    f"rank {rank} made no progress for {idle:.0f} s (timeout {self.timeout:g} s): "
                    "another rank died, hangs or left the collectives; aborting the job"
                ), WATCHDOG_EXIT_CODE)


def _abort(comm, message: str, code: int) -> None:
    sys.stderr.write(f"theanine.distribute: {message}\n")
    sys.stderr.flush()
    comm.Abort(code)


def _describe(model) -> list[tuple[str, tuple, str]]:
    return [(w.name, tuple(np.shape(w.get_value())), str(w.dtype)) for w in model.weights]


def _format(description: list) -> str:
    return f"{len(description)} weights " + ", ".join(
        f"{name} {shape} {dtype}" for name, shape, dtype in description
    )


def _static_size(tensor) -> int | None:
    shape = tensor.type.shape
    return None if None in shape else int(np.prod(shape, dtype=np.int64))
