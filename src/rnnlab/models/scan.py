"""Diagonal linear recurrences ``h_t = a_t ⊙ h_{t-1} + b_t``, computed four ways, and the
backbone the scan-trained cells share (minGRU, minLSTM, LRU: bare or in their papers' blocks).

    h = scan_sequential(a, b, h0)          # step by step over b.unbind(1), hand-written backward
    h = scan_chunked(a, b, h0, chunk=32)   # two-level scan: chunks at once, then chunk ends
    h = scan_log(log_a, log_b, h0)         # Heinsen (2023): cumsum + logcumsumexp, b > 0
    h = scan_reference(a, b, h0)           # the textbook loop, autograd records every step

``a`` is ``[B, T, H]`` or broadcastable (``[1, 1, H]`` for the LRU's time-invariant λ), ``b``
``[B, T, H]``, ``h0`` ``[B, H]`` or None; each returns every state ``[B, T, H]``, real or
complex. All four agree (float64: near 1e-15, tests/test_cells.py); which is fastest depends
on the device, the length and the work per step (``pick_mode``; docs/cells.md has the timings).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from rnnlab.models.backbones import time_reverser
from rnnlab.models.blocks import BLOCKS

__all__ = [
    "BLOCKS",
    "MODES",
    "SCANS",
    "ScanBackbone",
    "default_chunk",
    "pick_mode",
    "scan_chunked",
    "scan_log",
    "scan_reference",
    "scan_sequential",
]

MODES = ("auto", "parallel", "sequential")
SCANS = ("chunked", "log")

# Where the parallel (chunked) form beats the step loop, measured on this project's CPU (torch
# 2.13, one thread, forward + backward of minGRU and LRU backbones; docs/cells.md, "auto").
# Both forms do O(B·T·H) work; the step loop does it in T small kernels, the chunked scan in
# about 2·sqrt(T) larger ones plus two more passes over [B, T, H]. So the scan wins when a step
# is little work (few batch × state numbers, where the per-kernel overhead dominates) and the
# sequence is long: 0.3× the step loop's time at batch 1, hidden 32, T = 1000; parity around
# batch × width 1,000–2,000; 1.03–1.1× at batch 64, hidden 128, at every T.
CPU_PARALLEL_MIN_LENGTH = 100
CPU_PARALLEL_MAX_WIDTH = 1024  # batch × real numbers of state per layer
# On a GPU a kernel launch (~10 µs) dwarfs the work of a step whatever the width, so the scan
# (O(sqrt T) launches) should win from short lengths on. No GPU was available to measure it:
# this threshold is an assumption, not a measurement.
GPU_PARALLEL_MIN_LENGTH = 16


def pick_mode(device: torch.device, length: int, width: int) -> str:
    """``"parallel"`` or ``"sequential"``: the faster form for ``length`` steps on ``device``
    when each step updates ``width`` real numbers (batch × state size, × 2 if complex).

    CPU: parallel from ``CPU_PARALLEL_MIN_LENGTH`` steps when ``width`` is at most
    ``CPU_PARALLEL_MAX_WIDTH`` (measured, see above); otherwise the step loop, which is
    also what training at batch 64 gets. Accelerators: parallel from
    ``GPU_PARALLEL_MIN_LENGTH`` steps (assumed: no GPU was available to measure).
    """
    if device.type == "cpu":
        fits = length >= CPU_PARALLEL_MIN_LENGTH and width <= CPU_PARALLEL_MAX_WIDTH
    else:
        fits = length >= GPU_PARALLEL_MIN_LENGTH
    return "parallel" if fits else "sequential"


def default_chunk(length: int) -> int:
    """Chunk length for ``scan_chunked``: about ``sqrt(length)``, which balances the steps
    inside a chunk against the steps across chunk ends."""
    return max(1, math.isqrt(max(length - 1, 0)) + 1)


def _zero_state(b: Tensor, h0: Tensor | None) -> Tensor:
    return b.new_zeros(b.shape[0], b.shape[2]) if h0 is None else h0.to(b.dtype)


def _steps(a: Tensor, length: int) -> Iterator[Tensor]:
    """The ``[B, H]`` slices of ``a`` over time; the same slice every step if ``a`` is
    time-invariant (``a.shape[1] == 1``)."""
    return itertools.repeat(a[:, 0], length) if a.shape[1] == 1 else iter(a.unbind(1))


def scan_reference(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """``h_t = a_t h_{t-1} + b_t`` one step at a time, autograd recording each step."""
    h = _zero_state(b, h0)
    states = []
    for a_t, b_t in zip(_steps(a, b.shape[1]), b.unbind(1), strict=True):
        h = a_t * h + b_t
        states.append(h)
    return torch.stack(states, dim=1)  # T × [B, H] -> [B, T, H]


def _flushing_subnormals() -> bool:
    """Whether this thread already flushes subnormal floats to zero (torch has no getter)."""
    return (torch.tensor([1e-39]) * 1.0).item() == 0.0


def _flush_subnormals(backward: Callable) -> Callable:
    """Run a CPU backward recursion with subnormal floats flushed to zero, then restore.

    When a loss reads only the last steps (as the heads do), ``δ_t = a δ_{t+1}`` decays
    geometrically into the subnormal range (below 1.2e-38 in float32), where the CPU computes
    each operation about a hundred times slower; with |a| near 1 (the LRU's ring reaches
    0.999) it stays there for thousands of steps (docs/cells.md: the LRU at T = 4000 went from
    20 s to 3.3 s). Values that small carry nothing a float32 gradient can use.
    """

    @functools.wraps(backward)
    def wrapped(ctx, grad_h: Tensor, *rest):
        if grad_h.device.type != "cpu" or _flushing_subnormals():
            return backward(ctx, grad_h, *rest)
        torch.set_flush_denormal(True)
        try:
            return backward(ctx, grad_h, *rest)
        finally:
            torch.set_flush_denormal(False)

    return wrapped


class _StepScan(torch.autograd.Function):
    """The step loop with its backward written out (see the module docstring)."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
        h = torch.empty_like(b)
        prev = h0
        for a_t, b_t, h_t in zip(_steps(a, b.shape[1]), b.unbind(1), h.unbind(1), strict=True):
            torch.addcmul(b_t, a_t, prev, out=h_t)
            prev = h_t
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    @_flush_subnormals
    def backward(ctx, grad_h: Tensor) -> tuple[Tensor | None, Tensor, Tensor | None]:
        a, h, h0 = ctx.saved_tensors
        # For complex numbers autograd's convention multiplies by conjugates: d(a h)/dh -> ā.
        a_conj = a.conj()
        delta = torch.empty_like(h)  # δ_t = dL/dh_t, all paths through later steps included
        length = h.shape[1]
        deltas = delta.unbind(1)
        grads = grad_h.unbind(1)
        # δ_t = g_t + a_{t+1} δ_{t+1}: the coefficient of step t+1 carries δ back to step t.
        coeffs = list(itertools.islice(_steps(a_conj, length), 1, None))
        deltas[-1].copy_(grads[-1])
        for t in range(length - 2, -1, -1):
            torch.addcmul(grads[t], coeffs[t], deltas[t + 1], out=deltas[t])
        grad_a = grad_h0 = None
        if ctx.needs_input_grad[0]:
            # ∂a_t = δ_t h̄_{t-1}, written in two slices rather than concatenating h0 and h.
            grad_a = torch.empty_like(delta)
            torch.mul(delta[:, 1:], h[:, :-1].conj(), out=grad_a[:, 1:])
            torch.mul(deltas[0], h0.conj(), out=grad_a[:, 0])
            grad_a = grad_a.sum_to_size(a.shape)
        if ctx.needs_input_grad[2]:
            first = a_conj[:, 0]
            grad_h0 = first * deltas[0]
        return grad_a, delta, grad_h0


def scan_sequential(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """The step loop, one kernel per step each way (hand-written backward)."""
    a = a.to(b.dtype)
    return _StepScan.apply(a, b, _zero_state(b, h0))


def _pad_time(x: Tensor, length: int, value: float) -> Tensor:
    extra = length - x.shape[1]
    if extra <= 0:
        return x
    fill = x.new_full((x.shape[0], extra, *x.shape[2:]), value)
    return torch.cat([x, fill], dim=1)


def _chunked_pass(a: Tensor, b: Tensor, h0: Tensor, reverse: bool = False) -> Tensor:
    """``h_i = a_i h_{i∓1} + b_i`` on ``b [B, n, C, H]`` (n chunks of C steps), as a new tensor.

    ``a`` is ``[B, n, C, H]`` or ``[B', 1, 1, H]`` (time-invariant); ``h0`` enters the first
    step (the last one when ``reverse``). Three stages, none recorded by autograd:
    every chunk from a zero state (C steps on ``[B, n, H]`` slices), the state entering each
    chunk (n steps on ``[B, H]``), then one pass adding it, times the running product of
    ``a``, to every step.
    """
    batch, n, c, size = b.shape
    invariant = a.shape[1] == 1 and a.shape[2] == 1
    order = list(range(c - 1, -1, -1) if reverse else range(c))
    loc = torch.empty_like(b)
    locs, bs = loc.unbind(2), b.unbind(2)
    if invariant:  # the running product after i steps is a power of a
        powers = torch.arange(1, c + 1, dtype=a.real.dtype, device=a.device).view(1, 1, c, 1)
        running = a.pow(powers.flip(2) if reverse else powers)  # [B', 1, C, H]
        a_steps = [a[:, :, 0]] * c
    else:
        running = torch.empty(b.shape, dtype=b.dtype, device=b.device)
        a_steps = list(a.unbind(2))
    runs = running.unbind(2)
    prev = None
    for i in order:
        if prev is None:
            locs[i].copy_(bs[i])
            if not invariant:
                runs[i].copy_(a_steps[i])
        else:
            torch.addcmul(bs[i], a_steps[i], locs[prev], out=locs[i])
            if not invariant:
                torch.mul(a_steps[i], runs[prev], out=runs[i])
        prev = i
    last = order[-1]
    totals = running[:, :, last].expand(batch, n, size).unbind(1)
    ends = loc[:, :, last].unbind(1)
    incoming = torch.empty(batch, n, size, dtype=b.dtype, device=b.device)
    state = h0
    for k in range(n - 1, -1, -1) if reverse else range(n):
        incoming[:, k] = state
        state = torch.addcmul(ends[k], totals[k], state)
    return loc.addcmul_(running, incoming.unsqueeze(2))  # [B, n, C, H]


class _ChunkScan(torch.autograd.Function):
    """The chunked scan, forward and backward (the adjoint recursion, also chunked)."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor, chunk: int) -> Tensor:
        batch, length, size = b.shape
        n = -(-length // chunk)
        invariant = a.shape[1] == 1
        # Padding with a = 1, b = 0 leaves the state unchanged over the extra steps.
        bb = _pad_time(b, n * chunk, 0.0).view(batch, n, chunk, size)  # [B, T', H] -> [B, n, C, H]
        if invariant:
            aa = a.view(a.shape[0], 1, 1, size)
        else:
            aa = _pad_time(a.expand(batch, length, size), n * chunk, 1.0)
            aa = aa.view(batch, n, chunk, size)
        h = _chunked_pass(aa, bb, h0).view(batch, n * chunk, size)[:, :length]
        ctx.save_for_backward(a, h, h0)
        ctx.chunk = chunk
        return h

    @staticmethod
    @_flush_subnormals
    def backward(ctx, grad_h: Tensor) -> tuple[Tensor | None, Tensor, Tensor | None, None]:
        a, h, h0 = ctx.saved_tensors
        batch, length, size = h.shape
        chunk = ctx.chunk
        n = -(-length // chunk)
        a_conj = a.conj()  # autograd's convention for complex numbers, as in _StepScan
        grads = _pad_time(grad_h, n * chunk, 0.0).reshape(batch, n, chunk, size)
        if a.shape[1] == 1:
            coeff = a_conj.view(a.shape[0], 1, 1, size)
        else:  # δ_t = g_t + a_{t+1} δ_{t+1}: step t reads the coefficient of step t+1
            shifted = torch.cat([a_conj.expand(batch, length, size)[:, 1:],
                                 a_conj.new_zeros(batch, 1, size)], dim=1)  # fmt: skip
            coeff = _pad_time(shifted, n * chunk, 0.0).view(batch, n, chunk, size)
        delta = _chunked_pass(coeff, grads, grads.new_zeros(batch, size), reverse=True)
        delta = delta.view(batch, n * chunk, size)[:, :length]
        grad_a = grad_h0 = None
        if ctx.needs_input_grad[0]:
            grad_a = torch.empty_like(delta)
            torch.mul(delta[:, 1:], h[:, :-1].conj(), out=grad_a[:, 1:])
            torch.mul(delta[:, 0], h0.conj(), out=grad_a[:, 0])
            grad_a = grad_a.sum_to_size(a.shape)
        if ctx.needs_input_grad[2]:
            grad_h0 = a_conj[:, 0] * delta[:, 0]
        return grad_a, delta, grad_h0, None


def scan_chunked(
    a: Tensor, b: Tensor, h0: Tensor | None = None, chunk: int | None = None
) -> Tensor:
    """Two-level scan in linear space: within every chunk at once, then across chunk ends.

    ``chunk`` defaults to about ``sqrt(T)``. Stable for ``|a| ≤ 1``: it multiplies
    coefficients together but never divides by them. The backward is the same scan run
    backwards in time over the gradients (hand-written, like ``scan_sequential``'s).
    """
    a = a.to(b.dtype)
    chunk = chunk or default_chunk(b.shape[1])
    return _ChunkScan.apply(a, b, _zero_state(b, h0), chunk)


def scan_log(log_a: Tensor, log_b: Tensor, h0: Tensor | None = None) -> Tensor:
    """Heinsen's log-space scan: ``h_t = exp(a*_t + logcumsumexp_{s≤t}(log b_s − a*_s))``.

    ``log_a``, ``log_b`` are the logarithms of the coefficients (``b > 0``). A given
    ``h0`` of any sign enters linearly, ``+ exp(a*_t) h0``, so it needs no logarithm.
    """
    length = log_b.shape[1]
    if log_a.shape[1] == 1:  # time-invariant: a*_t = t log a
        steps = torch.arange(1, length + 1, dtype=log_a.real.dtype, device=log_a.device)
        a_star = log_a * steps.view(1, length, 1)
    else:
        a_star = torch.cumsum(log_a.expand_as(log_b), dim=1)  # [B, T, H]
    h = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))
    if h0 is not None:
        h = h + torch.exp(a_star) * h0.to(h.dtype).unsqueeze(1)
    return h


class ScanBackbone(nn.Module):
    """Stacked layers of a scan-trained cell, in one or two directions.

    ``[B, L, input_size] -> [B, L, hidden_size × directions]``, like every backbone. A
    subclass builds the recurrence of one layer with ``make_cell(index)``, which maps
    ``(u, h0, mode)`` to ``(outputs [B, L, hidden_size], last state [B, state])``.
    ``block``: ``residual`` (default) wraps every cell in its paper's residual block
    (``make_block``, ``rnnlab.models.blocks``) after a linear input encoder to ``hidden_size``,
    which the residual sums need, and may end each stack with a normalisation
    (``make_final_norm``); ``bare`` stacks the cells themselves, ``between`` applied from one
    to the next. ``bidirectional=true`` runs a second stack over the reversed sequence and
    concatenates the last layers' outputs (the directions meet at the output only, unlike
    ``nn.LSTM``, whose layers read both).

    ``forward(x, h0)`` takes an optional initial state per layer and direction,
    ``[num_layers × directions, B, state]`` in ``nn.GRU``'s order (layer-major);
    ``forward_with_state`` also returns the final states, to continue a sequence.
    ``mode``: ``parallel`` (scan over time), ``sequential`` (step by step) or ``auto``
    (``pick_mode``: the faster one for the device and the length).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        bidirectional: bool,
        mode: str,
        block: str = "bare",
    ) -> None:
        if block not in BLOCKS:
            raise ValueError(
                f"model.backbone.block={block!r} is invalid: it must be one of " + ", ".join(BLOCKS)
            )
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.directions = 2 if bidirectional else 1
        self.output_size = hidden_size * self.directions
        self.mode = mode
        self.block = block
        self.block_dropout = dropout  # inside every block (residual form)
        between = block == "bare" and dropout > 0 and num_layers > 1
        self.dropout = nn.Dropout(dropout) if between else nn.Identity()
        encoders = (nn.Linear(input_size, hidden_size) for _ in range(self.directions))
        self.encoders = nn.ModuleList(encoders) if self.encodes_input() else None
        self.final_norms: nn.ModuleList | None = None

    def build_stacks(self) -> None:
        """Create the layers; call at the end of the subclass's ``__init__``."""
        self.stacks = nn.ModuleList(
            nn.ModuleList(self.make_layer(i) for i in range(self.num_layers))
            for _ in range(self.directions)
        )
        norms = [self.make_final_norm() for _ in self.stacks] if self.block == "residual" else []
        if norms and None not in norms:
            self.final_norms = nn.ModuleList(norms)

    def make_layer(self, index: int) -> nn.Module:
        """Layer ``index``: its cell, in its block unless ``block`` is ``bare``."""
        cell = self.make_cell(index)
        return cell if self.block == "bare" else self.make_block(cell)

    def make_cell(self, index: int) -> nn.Module:
        """The recurrence of layer ``index`` (in the bare form, 0 reads ``encode``'s output,
        later ones the previous layer's)."""
        raise NotImplementedError

    def make_block(self, cell: nn.Module) -> nn.Module:
        """``cell`` inside its residual block, ``hidden_size`` wide in and out."""
        raise NotImplementedError

    def make_final_norm(self) -> nn.Module | None:
        """A normalisation after the last block of each stack (residual form), or None."""
        return None

    def encodes_input(self) -> bool:
        """Whether ``Linear(input_size, hidden_size)`` encodes the input (one per direction):
        always in the residual form, whose sums need ``hidden_size`` wide inputs."""
        return self.block == "residual"

    def encode(self, x: Tensor, direction: int) -> Tensor:
        """What the first layer reads: the encoded input, or the input itself."""
        return x if self.encoders is None else self.encoders[direction](x)

    def between(self, u: Tensor) -> Tensor:
        """Applied to a layer's output before the next layer reads it (the bare form's
        dropout; a block holds its own)."""
        return self.dropout(u)

    def state_numbers(self) -> int:
        """Real numbers of state per sequence and layer (what one step updates)."""
        return self.hidden_size

    def resolved_mode(self, x: Tensor) -> str:
        """``parallel`` or ``sequential`` for this input (``auto`` decided by ``pick_mode``)."""
        if self.mode != "auto":
            return self.mode
        return pick_mode(x.device, x.shape[1], x.shape[0] * self.state_numbers())

    def forward_with_state(
        self, x: Tensor, h0: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Outputs ``[B, L, output_size]`` and last states ``[num_layers × directions, B, S]``.

        ``lengths`` (right-padded sequences) makes the backward direction start at each
        sequence's last real step; the forward direction never sees the padding before a
        real step, so it needs nothing.
        """
        mode = self.resolved_mode(x)
        padded = lengths if self.directions == 2 else None
        backwards = time_reverser(padded, x.shape[1], device=x.device)
        outputs, finals = [], {}
        for d, stack in enumerate(self.stacks):
            u = self.encode(x if d == 0 else backwards(x), d)
            for i, layer in enumerate(stack):
                if i > 0:
                    u = self.between(u)
                k = i * self.directions + d
                u, finals[k] = layer(u, None if h0 is None else h0[k], mode)
            if self.final_norms is not None:
                u = self.final_norms[d](u)
            outputs.append(u if d == 0 else backwards(u))
        out = torch.cat(outputs, dim=-1) if self.directions > 1 else outputs[0]
        return out, torch.stack([finals[k] for k in sorted(finals)])

    def forward(self, x: Tensor, h0: Tensor | None = None, lengths: Tensor | None = None) -> Tensor:
        return self.forward_with_state(x, h0, lengths)[0]  # [B, L, F] -> [B, L, H × dirs]
