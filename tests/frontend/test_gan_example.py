"""The GAN example: a custom training loop without fit (th.grad / th.function with updates)."""

import numpy as np

import theanine as th
from theanine.frontend.examples import gan


def test_gan_example_runs_and_both_losses_change(capsys):
    history = gan.main(steps=6, batch_size=16, log_every=3)
    assert len(history["d_loss"]) == len(history["g_loss"]) == 6
    for losses in (history["d_loss"], history["g_loss"]):
        assert all(np.isfinite(losses)) and len(set(losses)) > 1
    printed = capsys.readouterr().out
    assert "step    3/6" in printed and "step    6/6" in printed and "generated mean" in printed


def _changed(model, before) -> list[bool]:
    """For each weight of ``model``: whether it differs from its value in ``before``."""
    return [not np.array_equal(a, b) for a, b in zip(model.get_weights(), before, strict=True)]


def test_generator_step_updates_only_the_generator_and_discriminator_step_only_itself():
    th.set_seed(0)
    generator, discriminator = gan.build_generator(), gan.build_discriminator()
    d_step, g_step = gan.compile_steps(generator, discriminator)
    assert discriminator.trainable and discriminator.trainable_weights
    rng = np.random.default_rng(0)
    real = rng.normal(gan.TARGET_MEAN, gan.TARGET_STD, size=(8, 1)).astype("float32")
    noise = rng.normal(size=(8, gan.NOISE_DIM)).astype("float32")

    g_before, d_before = generator.get_weights(), discriminator.get_weights()
    g_step(noise)
    assert not any(_changed(discriminator, d_before)) and all(_changed(generator, g_before))

    g_before, d_before = generator.get_weights(), discriminator.get_weights()
    d_step(real, noise)
    assert not any(_changed(generator, g_before)) and all(_changed(discriminator, d_before))


def test_gan_training_is_reproducible_with_a_seed():
    first = gan.main(steps=3, batch_size=8, seed=5, verbose=False)
    second = gan.main(steps=3, batch_size=8, seed=5, verbose=False)
    assert first == second
