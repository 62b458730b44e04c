"""What a forecaster's outputs mean: a point (``mse``), a Gaussian, or a set of quantiles.

``model.loss`` picks one. Each turns the head's raw numbers into distribution parameters,
scores them against the targets, and answers the questions every report asks: the point
forecast, the central interval, CRPS and the negative log-likelihood::

    mse        params [B, N]       the point forecast; loss: mean squared error
    gaussian   params [B, N, 2]    mean and standard deviation; loss: Gaussian NLL
    quantile   params [B, N, Q]    the quantiles at ``levels``; loss: pinball (quantile) loss

(``N = H·T``: steps × targets.) Quantiles never cross: the lowest is free and every next
one adds a softplus increment. The CRPS of a Gaussian is its closed form
(Gneiting & Raftery 2007); from quantiles it is twice the mean pinball loss over the
levels, the usual discrete approximation of ``2 ∫ pinball_τ dτ``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["LIKELIHOODS", "Gaussian", "Likelihood", "PointMSE", "Quantiles", "make_likelihood"]

CENTRAL = 0.8  # the central interval every probabilistic run reports (10 % .. 90 %)
CENTRAL_LEVELS = (0.1, 0.9)  # the quantile levels at its ends


def _affine(values: Tensor, shift: Tensor | float | None, scale: Tensor | float | None) -> Tensor:
    if scale is not None:
        values = values * scale
    return values if shift is None else values + shift


def _expand(value: Tensor | float | None, params: Tensor) -> Tensor | float | None:
    """A shift or scale per element (``[B, N]`` or ``[N]``) -> broadcastable over the
    parameters ``[B, N, P]`` of each element."""
    return value[..., None] if isinstance(value, Tensor) and value.ndim >= 1 else value


class Likelihood:
    """The meaning of a forecaster's outputs (see the module docstring)."""

    name = "base"
    n_params = 1  # numbers per target and step
    probabilistic = False

    def params(self, raw: Tensor) -> Tensor:
        """Raw head outputs ``[B, N·P]`` -> parameters."""
        raise NotImplementedError

    def loss(self, params: Tensor, target: Tensor) -> Tensor:
        """The training objective, a mean over all elements."""
        raise NotImplementedError

    def point(self, params: Tensor) -> Tensor:
        """The point forecast ``[B, N]``."""
        raise NotImplementedError

    def affine(
        self, params: Tensor, shift: Tensor | float | None, scale: Tensor | float | None
    ) -> Tensor:
        """The parameters of ``y · scale + shift`` (``scale > 0``)."""
        raise NotImplementedError

    def interval(self, params: Tensor, coverage: float = CENTRAL) -> tuple[Tensor, Tensor]:
        """Lower and upper ends of the central ``coverage`` interval, ``[B, N]`` each."""
        raise NotImplementedError

    def crps(self, params: Tensor, target: Tensor) -> Tensor:
        """Continuous ranked probability score of every element, ``[B, N]``."""
        raise NotImplementedError

    def nll(self, params: Tensor, target: Tensor) -> Tensor | None:
        """Negative log-likelihood of every element, or None where it is not defined."""
        return None


class PointMSE(Likelihood):
    """One number per target and step, trained with the mean squared error."""

    name = "mse"

    def params(self, raw: Tensor) -> Tensor:
        return raw

    def loss(self, params: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(params, target)

    def point(self, params: Tensor) -> Tensor:
        return params

    def affine(self, params, shift, scale) -> Tensor:
        return _affine(params, shift, scale)


def normal_cdf(z: Tensor) -> Tensor:
    return 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))


def normal_pdf(z: Tensor) -> Tensor:
    return torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


class Gaussian(Likelihood):
    """A normal distribution per target and step: mean and standard deviation
    (``softplus`` of the raw number, plus ``min_std`` so the likelihood stays finite)."""

    name = "gaussian"
    n_params = 2
    probabilistic = True

    def __init__(self, min_std: float = 1e-3) -> None:
        self.min_std = min_std

    def params(self, raw: Tensor) -> Tensor:
        raw = raw.unflatten(-1, (-1, 2))  # [B, N·2] -> [B, N, 2]
        std = F.softplus(raw[..., 1]) + self.min_std
        return torch.stack((raw[..., 0], std), dim=-1)

    def loss(self, params: Tensor, target: Tensor) -> Tensor:
        return self.nll(params, target).mean()

    def point(self, params: Tensor) -> Tensor:
        return params[..., 0]

    def affine(self, params, shift, scale) -> Tensor:
        mean = _affine(params[..., 0], shift, scale)
        std = params[..., 1] if scale is None else params[..., 1] * scale
        return torch.stack((mean, std), dim=-1)

    def interval(self, params, coverage=CENTRAL) -> tuple[Tensor, Tensor]:
        z = math.sqrt(2.0) * torch.erfinv(torch.tensor(coverage)).item()  # Φ⁻¹((1 + c) / 2)
        mean, std = params[..., 0], params[..., 1]
        return mean - z * std, mean + z * std

    def crps(self, params, target) -> Tensor:
        mean, std = params[..., 0], params[..., 1]
        z = (target - mean) / std
        inner = z * (2.0 * normal_cdf(z) - 1.0) + 2.0 * normal_pdf(z) - 1.0 / math.sqrt(math.pi)
        return std * inner

    def nll(self, params, target) -> Tensor:
        mean, std = params[..., 0], params[..., 1]
        z = (target - mean) / std
        return 0.5 * math.log(2.0 * math.pi) + torch.log(std) + 0.5 * z * z


class Quantiles(Likelihood):
    """The quantiles at ``levels`` (sorted, in (0, 1)) per target and step, trained with the
    pinball loss; the point forecast is the median, read between levels when 0.5 is not one."""

    name = "quantile"
    probabilistic = True

    def __init__(self, levels: Sequence[float] = (0.1, 0.5, 0.9)) -> None:
        levels = list(levels)
        ok = all(isinstance(q, (int, float)) and not isinstance(q, bool) and 0 < q < 1
                 for q in levels)  # fmt: skip
        if not ok or not levels or sorted(set(levels)) != levels:
            raise ValueError(
                f"model.quantiles={levels} is invalid: it must be increasing levels in (0, 1), "
                "e.g. [0.1,0.5,0.9]"
            )
        if levels[0] > CENTRAL_LEVELS[0] or levels[-1] < CENTRAL_LEVELS[1]:
            raise ValueError(
                f"model.quantiles={levels} is invalid: the levels must reach 0.1 and 0.9 or "
                "beyond (every probabilistic run reports the central 80 % interval)"
            )
        self.levels = tuple(float(q) for q in levels)
        self.n_params = len(self.levels)

    def params(self, raw: Tensor) -> Tensor:
        raw = raw.unflatten(-1, (-1, self.n_params))  # [B, N·Q] -> [B, N, Q]
        # The lowest quantile is free; each next one is the previous plus a positive step.
        steps = torch.cat((raw[..., :1], F.softplus(raw[..., 1:])), dim=-1)
        return steps.cumsum(dim=-1)

    def pinball(self, params: Tensor, target: Tensor) -> Tensor:
        """Pinball loss of every element and level, ``[B, N, Q]``."""
        tau = params.new_tensor(self.levels)
        diff = target[..., None] - params
        return torch.maximum(tau * diff, (tau - 1.0) * diff)

    def loss(self, params, target) -> Tensor:
        return self.pinball(params, target).mean()

    def at(self, params: Tensor, level: float) -> Tensor:
        """The quantile at ``level``, linear between the two levels around it."""
        levels = self.levels
        if level <= levels[0]:
            return params[..., 0]
        if level >= levels[-1]:
            return params[..., -1]
        k = max(i for i, q in enumerate(levels) if q <= level)
        if levels[k] == level:
            return params[..., k]
        w = (level - levels[k]) / (levels[k + 1] - levels[k])
        return params[..., k] + w * (params[..., k + 1] - params[..., k])

    def point(self, params) -> Tensor:
        return self.at(params, 0.5)

    def affine(self, params, shift, scale) -> Tensor:
        return _affine(params, _expand(shift, params), _expand(scale, params))

    def interval(self, params, coverage=CENTRAL) -> tuple[Tensor, Tensor]:
        return self.at(params, (1.0 - coverage) / 2.0), self.at(params, (1.0 + coverage) / 2.0)

    def crps(self, params, target) -> Tensor:
        return 2.0 * self.pinball(params, target).mean(dim=-1)


LIKELIHOODS = {"mse": PointMSE, "gaussian": Gaussian, "quantile": Quantiles}


def make_likelihood(loss: str, quantiles: Sequence[float] = (0.1, 0.5, 0.9)) -> Likelihood:
    """The likelihood ``model.loss`` names."""
    if loss == "quantile":
        return Quantiles(quantiles)
    return LIKELIHOODS[loss]()
