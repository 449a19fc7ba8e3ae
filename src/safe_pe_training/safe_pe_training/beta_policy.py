"""CBF-Beta actor-critic policy for stable-baselines3 PPO.

The actor outputs Beta concentrations ``alpha = softplus(z_a) + 1`` and
``beta = softplus(z_b) + 1`` per action dimension (so both exceed 1 and every marginal is
unimodal). The policy's action is the Beta sample ``y`` in ``(0, 1)^2``; that ``y`` is what PPO
stores in its rollout buffer. The environment wrapper (:mod:`safe_pe_training.safe_vec_env`)
maps it to a physical command ``lo + (hi - lo) * y`` with the safe action box ``[lo, hi]`` of
the state in which ``y`` was sampled (OmniSafe's PPOBetaCBF scheme). Because the support of
the action is the fixed unit box, PPO's log-prob ratios never need the bounds again: the
first-epoch ratio is exactly the one of the stored sample.

``y`` is clipped to ``[eps, 1 - eps]`` before log-probs are taken (and the clipped value is
the stored action), which keeps log-probs finite. The deterministic action is the mode
``(alpha - 1) / (alpha + beta - 2)``.
"""

from __future__ import annotations

from functools import partial
from typing import Any, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import Distribution, sum_independent_dims
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn
from torch.distributions import Beta

SelfBetaDistribution = TypeVar("SelfBetaDistribution", bound="BetaDistribution")

DEFAULT_BETA_EPSILON = 1e-5
"""Default clip distance of ``y`` from 0 and 1 (float32 safe, keeps log-probs finite)."""


def _log_prob_parts(conc: th.Tensor, y: th.Tensor
                    ) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
    """Summed Beta log density of ``(batch, d)`` samples ``y`` under concentrations ``conc =
    (alpha | beta)`` ``(batch, 2d)``, in few tensor ops (each costs microseconds at rollout
    sizes): ``sum_i (a_i - 1) log y_i + (b_i - 1) log(1 - y_i) + lgamma(a_i + b_i) - lgamma(a_i)
    - lgamma(b_i)``.

    :return: ``(log_prob (batch,), log normaliser (batch, d), (log y | log(1 - y)) (batch, 2d),
        a + b (batch, d))``
    """
    log_norm, total = _log_normaliser(conc)
    logs = th.log(th.cat([y, 1.0 - y], dim=-1))
    out = ((conc - 1.0) * logs).sum(dim=-1) + log_norm.sum(dim=-1)
    return out, log_norm, logs, total


def _log_normaliser(conc: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """``(lgamma(a + b) - lgamma(a) - lgamma(b), a + b)`` per dimension of ``conc = (a | b)``
    (one ``lgamma`` call for both halves)."""
    a, b = th.chunk(conc, 2, dim=-1)
    total = a + b
    lg_a, lg_b = th.chunk(th.lgamma(conc), 2, dim=-1)
    return th.lgamma(total) - lg_a - lg_b, total


class _BetaLogProb(th.autograd.Function):
    """:func:`_log_prob_parts` as one autograd node with its closed-form gradient.

    ``d/da = log y + psi(a + b) - psi(a)``, ``d/db = log(1 - y) + psi(a + b) - psi(b)``.
    Autograd through the dozen elementwise ops did the same with a node per op and recomputed
    the digammas in the backward pass; here they are computed once, in the forward pass, and
    handed back (non-differentiable) so that the entropy of the same minibatch reuses them.
    Values and gradients agree with ``torch.distributions.Beta`` to rounding; the values equal
    the no-gradient path (rollouts) bitwise, so PPO's first-epoch ratio is exactly 1.
    """

    @staticmethod
    def forward(ctx: Any, conc: th.Tensor, y: th.Tensor
                ) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
        out, log_norm, logs, total = _log_prob_parts(conc, y)
        psi = th.digamma(conc)
        psi_total = th.digamma(total)
        ctx.save_for_backward(logs, psi, psi_total)
        ctx.mark_non_differentiable(log_norm, psi, psi_total)
        return out, log_norm, psi, psi_total

    @staticmethod
    def backward(ctx: Any, grad_out: th.Tensor, *_unused: Any
                 ) -> tuple[th.Tensor | None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None
        logs, psi, psi_total = ctx.saved_tensors
        grad = logs + th.cat([psi_total, psi_total], dim=-1) - psi
        return grad_out.unsqueeze(-1) * grad, None


class BetaDistribution(Distribution):
    """Independent Beta distributions on ``(0, 1)`` per action dimension.

    :param action_dim: number of action dimensions
    :param epsilon: samples and modes are clipped to ``[epsilon, 1 - epsilon]``
    :param entropy_gradient: differentiate :meth:`entropy`; False when the loss weighs the
        entropy by 0 (PPO ``ent_coef = 0``): the update is the same, without the digamma /
        trigamma backward pass (a third of the Beta head's training cost)
    """

    def __init__(self, action_dim: int, epsilon: float = DEFAULT_BETA_EPSILON,
                 entropy_gradient: bool = True) -> None:
        super().__init__()
        if action_dim < 1:
            raise ValueError(f"BetaDistribution needs action_dim >= 1, got {action_dim}")
        if not 0.0 < epsilon < 0.5:
            raise ValueError(f"BetaDistribution epsilon must be in (0, 0.5), got {epsilon}")
        self.action_dim = action_dim
        self.epsilon = float(epsilon)
        self.entropy_gradient = bool(entropy_gradient)
        self.alpha: th.Tensor | None = None
        self.beta: th.Tensor | None = None
        self._concentrations: th.Tensor | None = None  # (alpha | beta), as from the net
        # (log normaliser, digamma(alpha | beta), digamma(alpha + beta)) of the current
        # parameters, kept from a differentiable log_prob() for entropy(): PPO asks for both
        # every minibatch, and the digammas are the ones log_prob's gradient needs anyway
        self._special: tuple[th.Tensor, th.Tensor, th.Tensor] | None = None

    def proba_distribution_net(self, latent_dim: int) -> nn.Module:
        """Linear layer from the actor latent to ``2 * action_dim`` raw concentrations.

        :param latent_dim: size of the actor's last latent layer
        """
        return nn.Linear(latent_dim, 2 * self.action_dim)

    def proba_distribution(
        self: SelfBetaDistribution, concentration_logits: th.Tensor
    ) -> SelfBetaDistribution:
        """Set the distribution from the raw network output.

        :param concentration_logits: ``(batch, 2 * action_dim)``; first half -> alpha,
            second half -> beta, each through ``softplus(.) + 1``
        """
        conc = nn.functional.softplus(concentration_logits) + 1.0  # both halves at once
        self._set(conc)
        return self

    def _set(self, conc: th.Tensor) -> None:
        self._concentrations = conc
        self.alpha, self.beta = th.chunk(conc, 2, dim=-1)  # views of the two halves, one call
        self._special = None

    def from_concentrations(
        self: SelfBetaDistribution, alpha: th.Tensor, beta: th.Tensor
    ) -> SelfBetaDistribution:
        """Set the distribution from concentrations directly (analysis, tests).

        :param alpha: ``(batch, action_dim)`` first concentrations, > 0
        :param beta: ``(batch, action_dim)`` second concentrations, > 0
        """
        self._set(th.cat([alpha, beta], dim=-1))
        return self

    @property
    def torch_distribution(self) -> Beta:
        """The same law as a ``torch.distributions.Beta`` (for analysis; the methods here use
        closed forms, which avoid its per-call construction cost)."""
        assert self.alpha is not None and self.beta is not None
        return Beta(self.alpha, self.beta, validate_args=False)

    def _clip(self, y: th.Tensor) -> th.Tensor:
        return th.clamp(y, self.epsilon, 1.0 - self.epsilon)

    def log_prob(self, actions: th.Tensor) -> th.Tensor:
        """Summed log density of (clipped) unit-interval actions.

        :param actions: ``(batch, action_dim)`` values in ``[0, 1]``
        """
        conc = self._concentrations
        assert conc is not None, "call proba_distribution() first"
        y = self._clip(actions)
        if not (conc.requires_grad and th.is_grad_enabled()) or y.shape != self.alpha.shape:
            # rollouts: no autograd node at all; broadcast shapes: autograd through the ops
            return _log_prob_parts(conc, y)[0]
        out, log_norm, psi, psi_total = _BetaLogProb.apply(conc, y.detach())
        self._special = (log_norm, psi, psi_total)
        return out

    def entropy(self) -> th.Tensor:
        """Summed differential entropy, ``(batch,)`` (no gradient unless
        ``entropy_gradient``)."""
        a, b = self.alpha, self.beta
        assert a is not None and b is not None
        with th.set_grad_enabled(self.entropy_gradient and th.is_grad_enabled()):
            d = self.action_dim
            if self._special is not None and not th.is_grad_enabled():
                log_norm, psi, psi_total = self._special  # from log_prob, same parameters
                total = a + b
            else:
                log_norm, total = _log_normaliser(self._concentrations)
                psi = th.digamma(self._concentrations)  # one call for both halves
                psi_total = th.digamma(total)
            ent = (-log_norm - (2.0 - total) * psi_total
                   - (a - 1.0) * psi[..., :d] - (b - 1.0) * psi[..., d:])
            return sum_independent_dims(ent)

    def sample(self) -> th.Tensor:
        """A clipped sample in ``[epsilon, 1 - epsilon]``.

        Drawn as ``X / (X + Y)`` with ``X ~ Gamma(alpha)``, ``Y ~ Gamma(beta)`` (the Beta
        distribution exactly; what ``torch.distributions.Beta`` does through a Dirichlet, minus
        its per-call bookkeeping, which costs 4x the draw at rollout batch sizes).
        """
        assert self._concentrations is not None, "call proba_distribution() first"
        with th.no_grad():
            draws = th._standard_gamma(self._concentrations)  # one call for both halves
            x, y = th.chunk(draws, 2, dim=-1)
            # x + y == 0 needs both Gamma(>= 1) draws to underflow; then 0 (clipped to eps)
            sample = x / (x + y).clamp_min(1e-300)
        return self._clip(sample)

    def mode(self) -> th.Tensor:
        """The mode ``(alpha - 1) / (alpha + beta - 2)`` (well defined since alpha, beta > 1)."""
        assert self.alpha is not None and self.beta is not None
        return self._clip((self.alpha - 1.0) / (self.alpha + self.beta - 2.0))

    def mean(self) -> th.Tensor:
        """The mean ``alpha / (alpha + beta)``."""
        assert self.alpha is not None and self.beta is not None
        return self._clip(self.alpha / (self.alpha + self.beta))

    def actions_from_params(
        self, concentration_logits: th.Tensor, deterministic: bool = False
    ) -> th.Tensor:
        """Sample (or take the mode) directly from raw network output.

        :param concentration_logits: raw output of :meth:`proba_distribution_net`
        :param deterministic: mode instead of a sample
        """
        self.proba_distribution(concentration_logits)
        return self.get_actions(deterministic=deterministic)

    def log_prob_from_params(
        self, concentration_logits: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor]:
        """Sample and return ``(actions, log_prob)``.

        :param concentration_logits: raw output of :meth:`proba_distribution_net`
        """
        actions = self.actions_from_params(concentration_logits)
        return actions, self.log_prob(actions)


class CBFBetaPolicy(ActorCriticPolicy):
    """Actor-critic policy whose actor is a :class:`BetaDistribution` on the unit box.

    The action space must be ``Box(0, 1, (d,))``; the environment maps actions into the state's
    safe box. All other arguments are those of SB3's ``ActorCriticPolicy`` (``use_sde`` and
    ``squash_output`` are not supported).

    :param observation_space: observation space (its last 4 entries carry the safe box)
    :param action_space: ``Box(0, 1, (d,))``
    :param lr_schedule: learning-rate schedule
    :param beta_epsilon: clip distance of actions from 0 and 1
    :param entropy_gradient: see :class:`BetaDistribution` (False only with ``ent_coef = 0``)
    :param kwargs: forwarded to ``ActorCriticPolicy``
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        beta_epsilon: float = DEFAULT_BETA_EPSILON,
        entropy_gradient: bool = True,
        **kwargs: Any,
    ) -> None:
        if not isinstance(action_space, spaces.Box) or len(action_space.shape) != 1:
            raise ValueError(f"CBFBetaPolicy needs a 1-D Box action space, got {action_space}")
        if not (np.all(action_space.low == 0.0) and np.all(action_space.high == 1.0)):
            raise ValueError(
                "CBFBetaPolicy needs the unit action space Box(0, 1); the environment maps "
                f"actions into the safe box. Got low={action_space.low}, "
                f"high={action_space.high}"
            )
        if kwargs.get("use_sde", False) or kwargs.get("squash_output", False):
            raise ValueError("CBFBetaPolicy does not support use_sde or squash_output")
        self.beta_epsilon = float(beta_epsilon)
        self.entropy_gradient = bool(entropy_gradient)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["beta_epsilon"] = self.beta_epsilon
        data["entropy_gradient"] = self.entropy_gradient
        return data

    def _build(self, lr_schedule: Schedule) -> None:
        """Build networks and optimizer with a Beta head instead of SB3's distributions."""
        self.action_dist = BetaDistribution(
            int(self.action_space.shape[0]), epsilon=self.beta_epsilon,
            entropy_gradient=self.entropy_gradient,
        )
        self._build_mlp_extractor()
        self.action_net = self.action_dist.proba_distribution_net(
            latent_dim=self.mlp_extractor.latent_dim_pi
        )
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)
        if self.ortho_init:
            module_gains = {
                self.features_extractor: np.sqrt(2),
                self.mlp_extractor: np.sqrt(2),
                self.action_net: 0.01,
                self.value_net: 1,
            }
            if not self.share_features_extractor:
                del module_gains[self.features_extractor]
                module_gains[self.pi_features_extractor] = np.sqrt(2)
                module_gains[self.vf_features_extractor] = np.sqrt(2)
            for module, gain in module_gains.items():
                module.apply(partial(self.init_weights, gain=gain))
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_action_dist_from_latent(self, latent_pi: th.Tensor) -> Distribution:
        return self.action_dist.proba_distribution(self.action_net(latent_pi))
