"""An agent that learns CartPole-v1 by advantage actor-critic: ``python -m theanine.frontend.examples.cartpole``.

Needs Gymnasium (``pip install "theanine[examples]"``).  The pole is
balanced when the average return of 100 consecutive episodes reaches 475
(CartPole-v1's "solved" mark; an episode ends at 500 steps at most).

The agent is two frontend models, each with its own Adam optimizer: the
policy maps an observation to the logits of the two actions, the value
model maps it to the expected discounted return.  Training alternates

1. acting: a batch of episodes with the current policy; each step is one
   compiled call that returns the action probabilities of the observation,
   and the action is drawn from them in NumPy;
2. learning: one custom update built from ``th.grad`` and compiled by
   ``th.function(updates=...)``.  Advantages are generalized advantage
   estimates (GAE) of the value model, normalized over the batch; an
   episode cut at 500 steps is bootstrapped from the value of its last
   observation (it did not fail, so its last steps are not taught to look
   bad).  The policy's loss is ``-mean(log pi(a|s) * advantage)`` minus an
   entropy bonus, the value's the mean squared error to the GAE returns.

Why the act call takes the weights as arguments: a compiled function that
reads shared variables runs on the checked Python call path (locks, update
bookkeeping: tens of microseconds per call on the development VM), one
without them on the native fast path (one to a few microseconds).  So ``Actor``
binds the policy's weights to inputs with ``givens`` and passes their
current arrays, refreshed after each update.
"""

from __future__ import annotations

import argparse
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import lfilter

import theanine as th
from theanine.frontend import layers, models, optimizers

__all__ = [
    "ENV_ID",
    "SOLVED_RETURN",
    "WINDOW",
    "Hyperparameters",
    "Episode",
    "Actor",
    "ActorCritic",
    "build_policy",
    "build_value",
    "discounted_sum",
    "generalized_advantages",
    "run_episode",
    "main",
]

ENV_ID = "CartPole-v1"
SOLVED_RETURN = 475.0
"""CartPole-v1's reward threshold: the average return of ``WINDOW`` consecutive episodes to reach."""
WINDOW = 100
QUICK_EPISODES = 120
"""Episodes of ``--quick``: a few seconds, enough for the running average to leave a random policy's (~22)."""


@dataclass(frozen=True)
class Hyperparameters:
    """The settings of the learning rule (the defaults solve CartPole-v1 for seeds 0 to 4)."""

    hidden: int = 64
    gamma: float = 0.99
    gae_lambda: float = 0.99
    episodes_per_update: int = 2
    policy_learning_rate: float = 3e-3
    value_learning_rate: float = 1e-2
    entropy_coefficient: float = 0.01


@dataclass
class Episode:
    """What one episode produced: ``observations[t]`` is the state in which ``actions[t]`` was taken."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    final_observation: np.ndarray
    truncated: bool

    @property
    def total_reward(self) -> float:
        return float(self.rewards.sum())


def build_policy(observation_size: int, action_count: int, hidden: int = 64) -> models.Sequential:
    """Observation -> one logit per action."""
    return models.Sequential(
        [
            layers.Input(shape=(observation_size,)),
            layers.Dense(hidden, activation="tanh"),
            layers.Dense(hidden, activation="tanh"),
            layers.Dense(action_count),
        ],
        name="policy",
    )


def build_value(observation_size: int, hidden: int = 64) -> models.Sequential:
    """Observation -> the expected discounted return from it."""
    return models.Sequential(
        [
            layers.Input(shape=(observation_size,)),
            layers.Dense(hidden, activation="tanh"),
            layers.Dense(hidden, activation="tanh"),
            layers.Dense(1),
        ],
        name="value",
    )


class Actor:
    """The per-step act call: one compiled function of an observation (and the policy's weights).

    ``function(observation, *weights)`` returns the action probabilities;
    ``probabilities(observation)`` calls it with the weights read at the
    last ``refresh`` (call it after the policy's weights change), and
    ``sample`` draws an action from them with a NumPy generator.  ``calls``
    and ``seconds`` count the compiled calls and the time they took.
    """

    def __init__(self, policy: models.Model, observation_size: int):
        observation = th.tensor("observation", th.config.floatX, (observation_size,))
        bound = [th.tensor(f"{w.name}_value", w.dtype, w.type.shape) for w in policy.weights]
        probabilities = th.softmax(policy(observation[None, :])[0])
        self.function = th.function(
            [observation, *bound], probabilities, givens=list(zip(policy.weights, bound, strict=True)), name="act"
        )
        self._policy = policy
        self.calls, self.seconds = 0, 0.0
        self.refresh()

    def refresh(self) -> None:
        """Read the policy's current weights (after an update)."""
        self._weights = [w.get_value(borrow=True) for w in self._policy.weights]

    def probabilities(self, observation: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        probabilities = self.function(observation, *self._weights)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return probabilities

    def sample(self, observation: np.ndarray, rng: np.random.Generator) -> int:
        cumulative = self.probabilities(observation).cumsum()
        return min(int(np.searchsorted(cumulative, rng.random(), side="right")), len(cumulative) - 1)


def discounted_sum(values: np.ndarray, factor: float) -> np.ndarray:
    """``out[t] = sum_k factor**k * values[t + k]`` (a reversed first-order filter)."""
    return lfilter([1.0], [1.0, -factor], values[::-1])[::-1]


def generalized_advantages(
    rewards: np.ndarray, values: np.ndarray, final_value: float, gamma: float, gae_lambda: float
) -> np.ndarray:
    """GAE(gamma, lambda) of one episode: ``values[t]`` estimates the return from step t, and
    ``final_value`` the return after the last step (0 when the episode ended by failing)."""
    following = np.append(values[1:], final_value)
    deltas = rewards + gamma * following - values
    return discounted_sum(deltas, gamma * gae_lambda)


class ActorCritic:
    """The policy and value models, their optimizers, the act call and the compiled update."""

    def __init__(self, observation_size: int, action_count: int, hp: Hyperparameters):
        self.hp = hp
        self.policy = build_policy(observation_size, action_count, hp.hidden)
        self.value = build_value(observation_size, hp.hidden)
        self.policy_optimizer = optimizers.Adam(hp.policy_learning_rate)
        self.value_optimizer = optimizers.Adam(hp.value_learning_rate)
        self.actor = Actor(self.policy, observation_size)
        observations = th.tensor("observations", th.config.floatX, (None, observation_size))
        self._values = th.function([observations], self.value(observations)[:, 0], name="values")
        self._update = self._compile_update(observations, action_count)

    def _compile_update(self, observations, action_count: int) -> th.Function:
        """``update(observations, actions, advantages, returns) -> [policy_loss, value_loss, entropy]``."""
        floatx = th.config.floatX
        actions = th.tensor("actions", "int64", (None,))
        advantages = th.tensor("advantages", floatx, (None,))
        returns = th.tensor("returns", floatx, (None,))
        log_probabilities = th.log_softmax(self.policy(observations))
        taken = (log_probabilities * th.one_hot(actions, action_count)).sum(axis=1)
        entropy = -(th.exp(log_probabilities) * log_probabilities).sum(axis=1).mean()
        policy_loss = -(taken * advantages).mean() - self.hp.entropy_coefficient * entropy
        value_loss = ((self.value(observations)[:, 0] - returns) ** 2).mean()
        updates = self._updates(self.policy, self.policy_optimizer, policy_loss)
        updates += self._updates(self.value, self.value_optimizer, value_loss)
        inputs = [observations, actions, advantages, returns]
        return th.function(inputs, [policy_loss, value_loss, entropy], updates=updates, name="update")

    @staticmethod
    def _updates(model, optimizer, loss) -> list:
        params = model.trainable_weights
        return optimizer.get_updates(params, th.grad(loss, params))

    def _advantages(self, episodes: list[Episode]) -> tuple[np.ndarray, np.ndarray]:
        """GAE advantages and returns of every step, episodes concatenated."""
        last = np.stack([e.final_observation for e in episodes])
        values = self._values(np.concatenate([e.observations for e in episodes] + [last]))
        steps, finals = values[: -len(episodes)], values[-len(episodes) :]
        per_episode = np.split(steps, np.cumsum([len(e.actions) for e in episodes])[:-1])
        hp = self.hp
        advantages = np.concatenate(
            [
                generalized_advantages(
                    e.rewards, v, final if e.truncated else 0.0, hp.gamma, hp.gae_lambda
                )
                for e, v, final in zip(episodes, per_episode, finals, strict=True)
            ]
        )
        return advantages, advantages + steps

    def update(self, episodes: list[Episode]) -> list[float]:
        """One step of each optimizer on a batch of episodes; ``[policy_loss, value_loss, entropy]``."""
        floatx = th.config.floatX
        advantages, returns = self._advantages(episodes)
        normalized = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        results = self._update(
            np.concatenate([e.observations for e in episodes]),
            np.concatenate([e.actions for e in episodes]),
            normalized.astype(floatx),
            returns.astype(floatx),
        )
        self.actor.refresh()
        return [float(r) for r in results]


def run_episode(env, actor: Actor, rng: np.random.Generator) -> Episode:
    """Play one episode with actions sampled from the policy."""
    observation, _ = env.reset()
    observations, actions, rewards = [], [], []
    while True:
        action = actor.sample(observation, rng)
        observations.append(observation)
        actions.append(action)
        observation, reward, terminated, truncated, _ = env.step(action)
        rewards.append(reward)
        if terminated or truncated:
            break
    return Episode(
        np.asarray(observations, dtype=th.config.floatX),
        np.asarray(actions, dtype=np.int64),
        np.asarray(rewards, dtype=np.float64),
        np.asarray(observation, dtype=th.config.floatX),
        bool(truncated and not terminated),
    )


@dataclass
class History:
    """The returns per episode, their running average, and where the time went."""

    returns: list[float] = field(default_factory=list)
    averages: list[float] = field(default_factory=list)
    solved_at: int | None = None
    seconds: float = 0.0
    episode_seconds: float = 0.0
    update_seconds: float = 0.0
    act_calls: int = 0
    act_seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _make_env(seed: int):
    import gymnasium

    env = gymnasium.make(ENV_ID)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def _log_episode(history: History, episode: int, log_every: int) -> None:
    if episode % log_every == 0 or history.solved_at == episode:
        print(
            f"episode {episode:5d}  return {history.returns[-1]:5.0f}  "
            f"average({WINDOW}) {history.averages[-1]:6.1f}  {history.seconds:6.1f} s",
            flush=True,
        )


def _summary(history: History) -> str:
    per_call = history.act_seconds / max(history.act_calls, 1)
    share = history.act_seconds / max(history.episode_seconds, 1e-12)
    outcome = (
        f"solved at episode {history.solved_at}"
        if history.solved_at
        else f"not solved after {len(history.returns)} episodes"
    )
    return (
        f"{outcome} (average of the last {WINDOW}: {history.averages[-1]:.1f}) "
        f"in {history.seconds:.1f} s: {history.episode_seconds:.1f} s acting, "
        f"{history.update_seconds:.1f} s learning\n"
        f"act call: {per_call * 1e6:.2f} us per call, {history.act_calls} calls, "
        f"{share:.1%} of the time in episodes"
    )


def main(
    episodes: int = 2000,
    seed: int = 0,
    hp: Hyperparameters | None = None,
    log_every: int = 20,
    verbose: bool = True,
) -> dict:
    """Train until solved or for ``episodes`` episodes; return ``History.as_dict()``."""
    hp = hp or Hyperparameters()
    start = time.perf_counter()
    th.set_seed(seed)
    rng = np.random.default_rng(seed)
    env = _make_env(seed)
    agent = ActorCritic(env.observation_space.shape[0], int(env.action_space.n), hp)
    history, window, batch = History(), deque(maxlen=WINDOW), []
    for episode in range(1, episodes + 1):
        began = time.perf_counter()
        batch.append(run_episode(env, agent.actor, rng))
        history.episode_seconds += time.perf_counter() - began
        window.append(batch[-1].total_reward)
        history.returns.append(window[-1])
        history.averages.append(float(np.mean(window)))
        if len(window) == WINDOW and history.averages[-1] >= SOLVED_RETURN:
            history.solved_at = episode
        history.seconds = time.perf_counter() - start
        if verbose:
            _log_episode(history, episode, log_every)
        if history.solved_at:
            break
        if len(batch) == hp.episodes_per_update:
            began = time.perf_counter()
            agent.update(batch)
            history.update_seconds += time.perf_counter() - began
            batch = []
    env.close()
    history.act_calls, history.act_seconds = agent.actor.calls, agent.actor.seconds
    history.seconds = time.perf_counter() - start
    if verbose:
        print(_summary(history), flush=True)
    return history.as_dict()


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2000, help="most episodes (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, actions and environment")
    parser.add_argument("--log-every", type=int, default=20, help="print every N episodes")
    parser.add_argument(
        "--quick", action="store_true", help=f"a few seconds' run: {QUICK_EPISODES} episodes"
    )
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _parse_args()
    main(
        episodes=QUICK_EPISODES if arguments.quick else arguments.episodes,
        seed=arguments.seed,
        log_every=arguments.log_every,
    )
