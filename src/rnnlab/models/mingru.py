"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?"): a GRU whose gates read the input only.

    z_t = σ(Linear_z(x_t))                 update gate, from x_t alone
    h̃_t = g(Linear_h(x_t))                 candidate, g(v) = v + 0.5 (v ≥ 0), σ(v) (v < 0)
    h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t

With no ``h_{t−1}`` inside the gates, ``h_t = a_t h_{t−1} + b_t`` is a linear recurrence
whose coefficients are known for every step at once, so it can be trained by a scan over
time (``rnnlab.models.scan``). ``g`` keeps ``h̃`` positive, which the log-space scan needs;
every mode applies it, so all modes compute the same function. Two linear maps per layer
(``2·(F·H + H)`` parameters) against the GRU's three input and three recurrent ones.

    python train.py backbone=mingru
    python train.py backbone=mingru model.backbone.mode=sequential
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
    """Stacked minGRU layers (dropout between them); see the module docstring.

    Args:
        input_size, hidden_size, num_layers, dropout, bidirectional: as for ``nn.GRU``
            (``bidirectional`` runs a second stack backwards; see ``ScanBackbone``).
        mode: ``auto`` (the faster form for the device and length, ``scan.pick_mode``),
            ``parallel`` (a scan over time) or ``sequential`` (step by step).
        scan: the parallel form, ``chunked`` (linear space, two levels) or ``log``
            (Heinsen's log-space scan).
        chunk: chunk length of the chunked scan; ``null`` is about ``sqrt(L)``.
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
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, dropout, bidirectional, mode)
        self.scan_args = {"scan": scan, "chunk": chunk}
        self.build_stacks()

    layer_class: type[MinimalLayer] = MinGRULayer  # MinLSTM swaps in its own layer

    def make_layer(self, index: int) -> nn.Module:
        width = self.input_size if index == 0 else self.hidden_size
        return self.layer_class(width, self.hidden_size, **self.scan_args)
