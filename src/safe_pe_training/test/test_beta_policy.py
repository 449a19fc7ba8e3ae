"""CBF-Beta distribution and policy: support, log-probs, PPO ratio, SB3 integration."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

from safe_pe_training.action_mapping import (
    CommandLimits,
    beta_to_physical,
    denormalise_box,
    normalise_box,
)
from safe_pe_training.beta_policy import BetaDistribution, CBFBetaPolicy

th.set_num_threads(1)


class _BoxTargetEnv(gym.Env):
    """Tiny env: reward is high when the unit action is close to a target in the obs."""

    observation_space = spaces.Box(-1.0, 1.0, (6,), np.float32)
    action_space = spaces.Box(0.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.obs = self.observation_space.sample()
        return self.obs, {}

    def step(self, action):
        self.t += 1
        target = 0.5 + 0.4 * self.obs[:2]
        reward = -float(np.sum((np.asarray(action) - target) ** 2))
        self.obs = self.observation_space.sample()
        return self.obs, reward, False, self.t >= 32, {}


def test_beta_distribution_support_and_log_prob_matches_torch():
    th.manual_seed(0)
    dist = BetaDistribution(2, epsilon=1e-5)
    logits = th.randn(5000, 4) * 3.0
    dist.proba_distribution(logits)
    assert bool((dist.alpha > 1.0).all()) and bool((dist.beta > 1.0).all())
    y = dist.sample()
    assert y.shape == (5000, 2)
    # the clip bounds as float32 holds them (float32(1e-5) is a hair below 1e-5)
    low, high = th.tensor(1e-5), th.tensor(1.0 - 1e-5)
    assert bool((y >= low).all()) and bool((y <= high).all())
    reference = th.distributions.Beta(dist.alpha, dist.beta).log_prob(y).sum(dim=1)
    assert th.allclose(dist.log_prob(y), reference, atol=1e-5)
    assert th.isfinite(dist.log_prob(th.zeros(5000, 2))).all()
    assert th.isfinite(dist.log_prob(th.ones(5000, 2))).all()
    assert dist.entropy().shape == (5000,)
    torch_beta = th.distributions.Beta(dist.alpha, dist.beta)
    assert th.allclose(dist.entropy(), torch_beta.entropy().sum(dim=1), atol=1e-5)
    # gradients flow through the closed forms as through torch's Beta
    logits.requires_grad_(True)
    dist.proba_distribution(logits)
    (dist.log_prob(y).sum() + dist.entropy().sum()).backward()
    assert logits.grad is not None and th.isfinite(logits.grad).all()


@pytest.mark.parametrize("entropy_gradient", [True, False])
def test_fused_log_prob_gradient_and_reused_entropy_match_torch(entropy_gradient):
    """log_prob is one autograd node with a closed-form gradient; entropy() reuses its
    digammas when it needs no gradient. Values and gradients equal torch's Beta (float64)."""
    th.manual_seed(3)
    logits = (th.randn(3000, 4, dtype=th.float64) * 3.0).requires_grad_(True)
    y = th.rand(3000, 2, dtype=th.float64).clamp(1e-5, 1.0 - 1e-5)
    dist = BetaDistribution(2, entropy_gradient=entropy_gradient)
    dist.proba_distribution(logits)
    ref = th.distributions.Beta(dist.alpha, dist.beta)
    log_prob = dist.log_prob(y)
    entropy = dist.entropy()
    assert (dist._special is not None) is True  # kept from the differentiable log_prob
    assert th.allclose(log_prob, ref.log_prob(y).sum(dim=1), rtol=0, atol=1e-10)
    assert th.allclose(entropy, ref.entropy().sum(dim=1), rtol=0, atol=1e-10)
    assert entropy.requires_grad is entropy_gradient
    grad, = th.autograd.grad(log_prob.sum(), logits, retain_graph=True)
    grad_ref, = th.autograd.grad(ref.log_prob(y).sum(), logits, retain_graph=True)
    assert th.allclose(grad, grad_ref, rtol=1e-9, atol=1e-10)
    if entropy_gradient:
        grad_e, = th.autograd.grad(entropy.sum(), logits, retain_graph=True)
        grad_e_ref, = th.autograd.grad(ref.entropy().sum(), logits)
        assert th.allclose(grad_e, grad_e_ref, rtol=1e-9, atol=1e-10)
    # without gradients (rollouts) nothing is kept and the values are the same
    with th.no_grad():
        dist.proba_distribution(logits)
        assert th.allclose(dist.log_prob(y), log_prob, rtol=0, atol=0)
        assert dist._special is None
        assert th.allclose(dist.entropy(), entropy, rtol=0, atol=1e-12)
    # new parameters drop what was kept
    dist.proba_distribution(logits * 0.5)
    assert dist._special is None


@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (1.3, 7.0), (25.0, 2.0), (60.0, 55.0)])
def test_beta_samples_follow_the_beta_distribution(alpha, beta):
    """The gamma-ratio sampler draws from Beta(alpha, beta): mean, variance and the CDF
    (Kolmogorov-Smirnov distance against torch's reference sampler) agree."""
    th.manual_seed(0)
    n = 200_000
    dist = BetaDistribution(1, epsilon=1e-7)
    dist.from_concentrations(th.full((n, 1), alpha, dtype=th.float64),
                             th.full((n, 1), beta, dtype=th.float64))
    y = dist.sample()[:, 0].numpy()
    mean = alpha / (alpha + beta)
    var = alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1.0))
    assert abs(y.mean() - mean) < 5.0 * np.sqrt(var / n)
    assert abs(y.var() / var - 1.0) < 0.02
    ref = th.distributions.Beta(th.tensor(alpha, dtype=th.float64),
                                th.tensor(beta, dtype=th.float64)).sample((n,)).numpy()
    grid = np.quantile(ref, np.linspace(0.01, 0.99, 99))
    ks = np.max(np.abs(np.searchsorted(np.sort(y), grid) / n
                       - np.searchsorted(np.sort(ref), grid) / n))
    assert ks < 0.01  # two-sample KS at n = 2e5: 0.01 is far beyond the 1e-6 level


def test_beta_mode_is_argmax_of_density():
    dist = BetaDistribution(1)
    dist.proba_distribution(th.tensor([[0.3, 2.0], [1.5, -0.7]]))
    mode = dist.mode()
    grid = th.linspace(1e-4, 1 - 1e-4, 20001).unsqueeze(1)
    for row in range(2):
        d = th.distributions.Beta(dist.alpha[row], dist.beta[row])
        best = grid[d.log_prob(grid).argmax()]
        assert abs(float(best) - float(mode[row])) < 1e-3


def test_beta_distribution_rejects_bad_arguments():
    with pytest.raises(ValueError):
        BetaDistribution(0)
    with pytest.raises(ValueError):
        BetaDistribution(2, epsilon=0.6)


def test_sampled_actions_stay_in_random_boxes_1e5():
    """1e5+ samples, each mapped through its own random box, never leave the box."""
    rng = np.random.default_rng(0)
    limits = CommandLimits(v_min=0.0, v_max=1.0, omega_max=2.84)
    n = 120_000
    a = rng.uniform(limits.low, limits.high, size=(n, 2))
    b = rng.uniform(limits.low, limits.high, size=(n, 2))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    dist = BetaDistribution(2)
    dist.proba_distribution(th.as_tensor(rng.normal(0, 4, size=(n, 4)), dtype=th.float32))
    y = dist.sample().numpy()
    cmd = beta_to_physical(y, lo, hi)
    assert np.all(cmd >= lo) and np.all(cmd <= hi)
    # round trip of the encoded box through float32 observations stays within 1e-6
    lo2, hi2 = denormalise_box(normalise_box(lo, hi, limits), limits)
    assert np.max(np.abs(lo2 - lo)) < 1e-6 and np.max(np.abs(hi2 - hi)) < 1e-6


def test_policy_requires_unit_action_space():
    obs = spaces.Box(-1, 1, (6,), np.float32)
    with pytest.raises(ValueError, match="unit action space"):
        CBFBetaPolicy(obs, spaces.Box(-1, 1, (2,), np.float32), lambda _: 3e-4)
    with pytest.raises(ValueError, match="use_sde"):
        CBFBetaPolicy(obs, spaces.Box(0, 1, (2,), np.float32), lambda _: 3e-4, use_sde=True)


class _RatioProbe(BaseCallback):
    """At each rollout end (before the update) re-evaluate the stored unit actions."""

    def __init__(self) -> None:
        super().__init__()
        self.max_ratio_error: list[float] = []
        self.action_range: list[tuple[float, float]] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        actions = th.as_tensor(buffer.actions.reshape(-1, 2))
        obs = th.as_tensor(buffer.observations.reshape(-1, 6))
        with th.no_grad():
            _, log_prob, entropy = self.model.policy.evaluate_actions(obs, actions)
        stored = th.as_tensor(buffer.log_probs.reshape(-1))
        assert th.isfinite(entropy).all() and th.isfinite(log_prob).all()
        self.max_ratio_error.append(float((th.exp(log_prob - stored) - 1.0).abs().max()))
        self.action_range.append((float(actions.min()), float(actions.max())))


def test_ppo_first_epoch_ratio_is_one():
    """evaluate_actions on the stored unit actions reproduces the stored log-probs."""
    env = DummyVecEnv([_BoxTargetEnv for _ in range(4)])
    env.seed(3)
    model = PPO(CBFBetaPolicy, env, n_steps=64, batch_size=64, seed=3, device="cpu",
                learning_rate=3e-3)
    probe = _RatioProbe()
    model.learn(4 * 64 * 4, callback=probe)
    assert len(probe.max_ratio_error) == 4  # also after updates changed the weights
    assert max(probe.max_ratio_error) < 1e-5, probe.max_ratio_error
    for low, high in probe.action_range:
        assert 0.0 < low and high < 1.0


def test_ppo_with_beta_policy_learns_target():
    env = DummyVecEnv([_BoxTargetEnv for _ in range(4)])
    env.seed(1)
    model = PPO(CBFBetaPolicy, env, n_steps=128, batch_size=128, seed=1, device="cpu",
                learning_rate=3e-3)

    def mean_error() -> float:
        obs = np.random.default_rng(5).uniform(-1, 1, size=(256, 6)).astype(np.float32)
        act, _ = model.predict(obs, deterministic=True)
        return float(np.mean(np.abs(act - (0.5 + 0.4 * obs[:, :2]))))

    before = mean_error()
    model.learn(6000)
    after = mean_error()
    assert after < 0.6 * before, (before, after)


def test_entropy_without_gradient_gives_the_same_ppo_update_at_ent_coef_0():
    """entropy_gradient=False (used when ent_coef = 0) changes the cost, not the update: the
    entropy values agree and the gradients of an SB3-shaped loss are identical."""
    obs_space = spaces.Box(-1.0, 1.0, (8,), np.float32)
    act_space = spaces.Box(0.0, 1.0, (2,), np.float32)
    grads = []
    for flag in (True, False):
        th.manual_seed(3)
        policy = CBFBetaPolicy(obs_space, act_space, lambda _: 3e-4, entropy_gradient=flag)
        assert policy.action_dist.entropy_gradient is flag
        assert policy._get_constructor_parameters()["entropy_gradient"] is flag
        obs = th.rand(64, 8) * 2.0 - 1.0
        actions = th.rand(64, 2)
        values, log_prob, entropy = policy.evaluate_actions(obs, actions)
        assert entropy.requires_grad is flag
        loss = -log_prob.mean() + 0.0 * -entropy.mean() + 0.5 * values.pow(2).mean()
        policy.optimizer.zero_grad()
        loss.backward()
        grads.append([p.grad.clone() for p in policy.parameters()])
        if flag:
            ent_ref = entropy.detach()
        else:
            assert th.equal(entropy, ent_ref)
    for a, b in zip(*grads):
        assert th.equal(a, b)


def test_box_mappings_equal_the_plain_formulas():
    """The in-place encodings give exactly the values of the textbook expressions."""
    from safe_pe_training.action_mapping import (CommandLimits, beta_to_physical,
                                                 physical_to_unit, unit_to_physical)

    rng = np.random.default_rng(5)
    limits = CommandLimits(-0.2, 0.7, 2.5)
    lo = rng.uniform([-0.4, -3.0], [0.5, 2.0], size=(257, 2))
    hi = lo + rng.uniform(0.0, 0.6, size=(257, 2))
    encoded = normalise_box(lo, hi, limits)
    ulo, uhi = physical_to_unit(lo, limits), physical_to_unit(hi, limits)
    plain = np.clip(np.stack([ulo[:, 0], uhi[:, 0], ulo[:, 1], uhi[:, 1]], axis=1),
                    -1.0, 1.0).astype(np.float32)
    assert encoded.dtype == np.float32 and np.array_equal(encoded, plain)
    a = rng.uniform(-1.5, 1.5, size=(257, 2))
    a[0] = np.nan
    low, high = limits.low, limits.high
    expected = low + 0.5 * (np.clip(a, -1.0, 1.0) + 1.0) * (high - low)
    assert np.array_equal(unit_to_physical(a, limits), expected, equal_nan=True)
    y = rng.uniform(-0.2, 1.2, size=(257, 2))
    assert np.array_equal(beta_to_physical(y, lo, hi), lo + (hi - lo) * np.clip(y, 0.0, 1.0))
