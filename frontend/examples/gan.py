"""A GAN trained by a custom loop, without ``fit``: ``python -m theanine.frontend.examples.gan``.

The generator turns Gaussian noise into 1-D samples; the discriminator
scores samples with a logit (real or generated).  Each network has its own
Adam optimizer and its own compiled step, built the way a Keras user writes
a custom loop on any backend:

1. the discriminator step: ``th.grad`` of its loss (real samples labelled
   1, generated ones 0) with respect to ``discriminator.trainable_weights``,
   compiled by ``th.function`` with the optimizer's updates;
2. the generator step: the discriminator is set ``trainable = False`` and
   stacked on the generator in a ``combined`` model, so
   ``combined.trainable_weights`` are the generator's alone; the generator
   learns to make the frozen discriminator answer "real".

The target is the normal distribution ``N(4, 1.25)``; the generated mean
and standard deviation are printed at the end next to the target's.
"""

from __future__ import annotations

import argparse

import numpy as np

import theanine as th
from theanine.frontend import layers, losses, models, optimizers

__all__ = [
    "TARGET_MEAN",
    "TARGET_STD",
    "NOISE_DIM",
    "build_generator",
    "build_discriminator",
    "compile_steps",
    "main",
]

TARGET_MEAN, TARGET_STD = 4.0, 1.25
NOISE_DIM = 4
QUICK_STEPS = 50


def build_generator(hidden: int = 16) -> models.Sequential:
    """Noise of ``NOISE_DIM`` values -> one sample."""
    return models.Sequential(
        [
            layers.Input(shape=(NOISE_DIM,)),
            layers.Dense(hidden, activation="relu"),
            layers.Dense(hidden, activation="relu"),
            layers.Dense(1),
        ],
        name="generator",
    )


def build_discriminator(hidden: int = 16) -> models.Sequential:
    """One sample -> the logit of "this sample is real"."""
    return models.Sequential(
        [
            layers.Input(shape=(1,)),
            layers.Dense(hidden, activation="relu"),
            layers.Dense(hidden, activation="relu"),
            layers.Dense(1),
        ],
        name="discriminator",
    )


def _training_step(inputs: list, loss, params: list, optimizer, name: str) -> th.Function:
    """A compiled function that returns ``loss`` and applies one optimizer step to ``params``."""
    grads = th.grad(loss, params)
    return th.function(inputs, loss, updates=optimizer.get_updates(params, grads), name=name)


def compile_steps(generator, discriminator, learning_rate: float = 2e-3):
    """``(discriminator_step(real, noise), generator_step(noise))``, each returning its loss."""
    floatx = th.config.floatX
    real = th.tensor("real", floatx, (None, 1))
    noise = th.tensor("noise", floatx, (None, NOISE_DIM))
    bce = losses.BinaryCrossentropy(from_logits=True)

    real_logits, fake_logits = discriminator(real), discriminator(generator(noise))
    d_loss = bce(th.ones_like(real_logits), real_logits) + bce(
        th.zeros_like(fake_logits), fake_logits
    )
    d_step = _training_step(
        [real, noise],
        d_loss,
        discriminator.trainable_weights,
        optimizers.Adam(learning_rate, beta_1=0.5),
        "discriminator_step",
    )

    discriminator.trainable = False
    noise_input = layers.Input(shape=(NOISE_DIM,), name="noise")
    combined = models.Model(noise_input, discriminator(generator(noise_input)), name="combined")
    judged = combined(noise)
    g_loss = bce(th.ones_like(judged), judged)
    g_step = _training_step(
        [noise],
        g_loss,
        combined.trainable_weights,
        optimizers.Adam(learning_rate, beta_1=0.5),
        "generator_step",
    )
    discriminator.trainable = True
    return d_step, g_step


def _noise(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.normal(size=(count, NOISE_DIM)).astype(th.config.floatX)


def _real_samples(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.normal(TARGET_MEAN, TARGET_STD, size=(count, 1)).astype(th.config.floatX)


def main(
    steps: int = 400,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    seed: int = 0,
    log_every: int = 50,
    verbose: bool = True,
) -> dict:
    """Train for ``steps`` steps; return the per-step losses and the generated statistics."""
    th.set_seed(seed)
    rng = np.random.default_rng(seed)
    generator, discriminator = build_generator(), build_discriminator()
    d_step, g_step = compile_steps(generator, discriminator, learning_rate)
    history: dict = {"d_loss": [], "g_loss": []}
    for step in range(1, steps + 1):
        history["d_loss"].append(
            float(d_step(_real_samples(rng, batch_size), _noise(rng, batch_size)))
        )
        history["g_loss"].append(float(g_step(_noise(rng, batch_size))))
        if verbose and (step % log_every == 0 or step == steps):
            print(
                f"step {step:4d}/{steps}  d_loss {history['d_loss'][-1]:.4f}  "
                f"g_loss {history['g_loss'][-1]:.4f}"
            )
    noise = th.tensor("noise", th.config.floatX, (None, NOISE_DIM))
    samples = th.function([noise], generator(noise))(_noise(rng, 2000))
    history["generated_mean"], history["generated_std"] = (
        float(samples.mean()),
        float(samples.std()),
    )
    if verbose:
        print(
            f"generated mean {history['generated_mean']:.3f} std {history['generated_std']:.3f}  "
            f"(target mean {TARGET_MEAN} std {TARGET_STD})"
        )
    return history


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="training steps (default 400)")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per step")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and data")
    parser.add_argument("--quick", action="store_true", help=f"a few seconds' run: {QUICK_STEPS} steps")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _parse_args()
    main(
        steps=QUICK_STEPS if arguments.quick else arguments.steps,
        batch_size=arguments.batch_size,
        seed=arguments.seed,
    )
