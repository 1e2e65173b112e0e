"""The reinforcement-learning example: an actor-critic agent for Gymnasium's CartPole-v1."""

import numpy as np
import pytest

pytest.importorskip("gymnasium", reason="the CartPole example needs the examples extra (gymnasium)")

from theanine.frontend.examples import cartpole  # noqa: E402

RANDOM_POLICY_RETURN = 22.0
"""The mean return of uniformly random actions on CartPole-v1 (about 22 steps)."""


def test_quick_run_learns_well_beyond_a_random_policy(capsys):
    history = cartpole.main(episodes=cartpole.QUICK_EPISODES, log_every=40)
    assert len(history["returns"]) == cartpole.QUICK_EPISODES and history["solved_at"] is None
    assert history["averages"][-1] > 4 * RANDOM_POLICY_RETURN, history["averages"][::20]
    assert history["act_calls"] == sum(history["returns"])  # one call per step (reward 1 a step)
    assert history["act_seconds"] < 0.5 * history["episode_seconds"]
    printed = capsys.readouterr().out
    assert "episode    40" in printed and "average(100)" in printed and "us per call" in printed


def test_runs_are_reproducible_with_a_seed():
    first = cartpole.main(episodes=6, seed=3, verbose=False)
    second = cartpole.main(episodes=6, seed=3, verbose=False)
    assert first["returns"] == second["returns"]


def test_act_call_has_no_shared_variables_and_follows_the_updated_policy():
    agent = cartpole.ActorCritic(4, 2, cartpole.Hyperparameters(policy_learning_rate=0.05))
    assert not agent.actor.function.shared  # so it runs on the native fast call path
    rng = np.random.default_rng(0)
    observations = rng.normal(size=(5, 4)).astype("float32")

    def agrees_with_policy() -> bool:
        logits = agent.policy.predict(observations, verbose=0)
        expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        actual = np.stack([agent.actor.probabilities(o) for o in observations])
        return np.allclose(actual, expected, rtol=1e-5, atol=1e-6)

    assert agrees_with_policy()
    before = agent.actor.probabilities(observations[0]).copy()
    episode = cartpole.Episode(observations, np.array([0, 1, 1, 0, 1]), np.ones(5), observations[0], False)
    agent.update([episode])
    assert not np.allclose(agent.actor.probabilities(observations[0]), before)
    assert agrees_with_policy()


def test_sample_draws_actions_in_proportion_to_the_probabilities():
    agent = cartpole.ActorCritic(4, 2, cartpole.Hyperparameters())
    observation = np.array([0.1, -0.2, 0.05, 0.3], dtype="float32")
    p = agent.actor.probabilities(observation)
    rng = np.random.default_rng(1)
    draws = np.array([agent.actor.sample(observation, rng) for _ in range(4000)])
    assert set(draws) <= {0, 1} and abs(draws.mean() - p[1]) < 0.03


def test_discounted_sum_matches_its_definition():
    values = np.array([1.0, 2.0, -1.0, 0.5])
    expected = [sum(0.9**k * values[t + k] for k in range(len(values) - t)) for t in range(len(values))]
    np.testing.assert_allclose(cartpole.discounted_sum(values, 0.9), expected)


@pytest.mark.parametrize("final_value", [0.0, 7.0])
def test_gae_with_lambda_one_is_the_discounted_return_minus_the_value(final_value):
    """An episode cut short (``final_value`` the bootstrap) and one that failed (0)."""
    rewards, values, gamma = np.ones(4), np.array([3.0, 2.5, 1.5, 0.5]), 0.9
    returns = cartpole.discounted_sum(rewards, gamma) + gamma ** np.arange(4, 0, -1) * final_value
    advantages = cartpole.generalized_advantages(rewards, values, final_value, gamma, 1.0)
    np.testing.assert_allclose(advantages, returns - values)
    one_step = cartpole.generalized_advantages(rewards, values, final_value, gamma, 0.0)
    np.testing.assert_allclose(one_step, rewards + gamma * np.append(values[1:], final_value) - values)
