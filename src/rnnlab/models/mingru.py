"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?"): a GRU whose gates read the input only.

    z_t = σ(Linear_z(x_t)),  h̃_t = g(Linear_h(x_t)),  g(v) = v + 0.5 (v ≥ 0), σ(v) (v < 0)
    h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t

With no ``h_{t−1}`` in the gates, ``h_t = a_t h_{t−1} + b_t`` has coefficients known for every
step at once: a scan over time trains it (``rnnlab.models.scan``); ``g`` keeps ``h̃ > 0`` for
the log-space scan, in every mode. A lone cell is linear in its state and its gates read one
step, so by default each layer sits in the residual block of the paper's reference stack
(``block: residual``: RMSNorm, cell, MLP; ``rnnlab.models.blocks``); ``block: bare`` stacks
the cells alone. ``python train.py backbone=mingru [model.backbone.block=bare]``
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.models.blocks import MinimalBlock
from rnnlab.models.scan import ScanBackbone, scan_chunked, scan_log, scan_sequential

__all__ = ["MinGRU", "MinimalLayer", "g", "log_g", "softplus"]


def g(v: Tensor) -> Tensor:
    """``v + 0.5`` for ``v ≥ 0``, ``σ(v)`` below: positive, continuous, linear for large v.

    Written as ``σ(min(v, 0)) + relu(v)``, the same function with the same derivative, whose
    backward costs fewer passes over the tensor than ``torch.where``'s or ``maximum``'s.
    """
    return torch.sigmoid(v.clamp(max=0)) + F.relu(v)


def softplus(v: Tensor) -> Tensor:
    """``log(1 + e^v)``. torch's default returns ``v`` itself above 20, off by e^-20 ≈ 2e-9,
    which float64 comparisons see; above 40 the gap is below 1e-17 (and e^40 fits float32)."""
    return F.softplus(v, threshold=40.0)


def log_g(v: Tensor) -> Tensor:
    """``log g(v)``, computed without forming ``g`` where it is tiny."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -softplus(-v))


class MinimalLayer(nn.Module):
    """One layer of a minimal gated cell: ``h_t = a_t h_{t−1} + b_t`` with ``a, b`` from ``x_t``.

    A subclass gives the coefficients twice: ``coefficients`` as the paper writes them (the
    sequential and chunked forms use them) and ``log_coefficients`` computed stably in log
    space (the log-space scan). ``scan`` picks the parallel form: ``chunked`` or ``log``.
    """

    def __init__(self, scan: str = "chunked", chunk: int | None = None) -> None:
        super().__init__()
        self.scan = scan
        self.chunk = chunk

    def coefficients(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """``(a, b)``, each ``[B, L, H]``."""
        raise NotImplementedError

    def log_coefficients(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """``(log a, log b)``, each ``[B, L, H]``."""
        raise NotImplementedError

    def forward(self, u: Tensor, h0: Tensor | None, mode: str) -> tuple[Tensor, Tensor]:
        if mode == "parallel" and self.scan == "log":
            h = scan_log(*self.log_coefficients(u), h0)
        elif mode == "parallel":
            h = scan_chunked(*self.coefficients(u), h0, self.chunk)
        else:
            h = scan_sequential(*self.coefficients(u), h0)
        return h, h[:, -1]


class MinGRULayer(MinimalLayer):
    """One minGRU layer: ``Linear(input_size, 2·hidden_size)`` gives ``z`` and ``h̃``."""

    def __init__(self, input_size: int, hidden_size: int, **scan_args) -> None:
        super().__init__(**scan_args)
        self.linear = nn.Linear(input_size, 2 * hidden_size)

    def coefficients(self, u: Tensor) -> tuple[Tensor, Tensor]:
        k, v = self.linear(u).chunk(2, dim=-1)  # [B, L, F] -> 2 × [B, L, H]
        z = torch.sigmoid(k)
        return 1 - z, z * g(v)

    def log_coefficients(self, u: Tensor) -> tuple[Tensor, Tensor]:
        k, v = self.linear(u).chunk(2, dim=-1)
        # log(1 − σ(k)) = −softplus(k), log σ(k) = −softplus(−k): no 1 − z cancellation.
        return -softplus(k), -softplus(-k) + log_g(v)


class MinGRU(ScanBackbone):
    """Stacked minGRU layers, each in its residual block or bare; see the module docstring.

    Args:
        input_size, hidden_size, num_layers, dropout, bidirectional: as for ``nn.GRU``
            (``bidirectional`` runs a second stack backwards; see ``ScanBackbone``).
            ``dropout`` acts inside every block (``block: residual``: on each branch before
            its residual sum) or between layers (``block: bare``, with ``num_layers > 1``).
        mode: ``auto`` (the faster form for the device and length, ``scan.pick_mode``),
            ``parallel`` (a scan over time) or ``sequential`` (step by step).
        scan: the parallel form, ``chunked`` (linear space, two levels) or ``log``
            (Heinsen's log-space scan).
        chunk: chunk length of the chunked scan; ``null`` is about ``sqrt(L)``.
        block: ``residual`` (the config's default): a linear input projection to
            ``hidden_size``, then per layer ``u += cell(RMSNorm(u))``,
            ``u += MLP(RMSNorm(u))``, and an RMSNorm at the end of the stack
            (lucidrains/minGRU-pytorch's ``minLM``); ``bare``: the first cell reads
            ``input_size`` directly, the cells stacked with dropout between them (the
            class's default, so that a checkpoint written before blocks existed loads as it was).
        mlp_expansion: the block MLP's inner width over ``hidden_size`` (reference: 4).
    """

    def __init__(
        self,
        input_size: int = 1,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        mode: str = "auto",
        scan: str = "chunked",
        chunk: int | None = None,
        block: str = "bare",
        mlp_expansion: float = 4.0,
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, dropout, bidirectional, mode, block)
        self.scan_args = {"scan": scan, "chunk": chunk}
        self.mlp_expansion = mlp_expansion
        self.build_stacks()

    layer_class: type[MinimalLayer] = MinGRULayer  # MinLSTM swaps in its own layer

    def make_cell(self, index: int) -> nn.Module:
        width = self.input_size if index == 0 and self.encoders is None else self.hidden_size
        return self.layer_class(width, self.hidden_size, **self.scan_args)

    def make_block(self, cell: nn.Module) -> nn.Module:
        return MinimalBlock(cell, self.hidden_size, self.mlp_expansion, self.block_dropout)

    def make_final_norm(self) -> nn.Module:
        return nn.RMSNorm(self.hidden_size)  # the reference's norm before its output layer
