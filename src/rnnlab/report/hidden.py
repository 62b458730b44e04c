"""Per-step hidden states of a backbone, for pictures of what the network remembers.

    states = hidden_states(model.backbone, window)   # window [L, 1] or [1, L, 1]
    states["h"]   # [L, units]: the last layer's hidden state at every step
    states["c"]   # [L, units]: the LSTM's cell state (LSTM backbones only)

``nn.LSTM`` returns the cell state of the last step only, so for LSTMs the network is run
again one step at a time with ``nn.LSTMCell``s that share its weights. Every other backbone
already returns its hidden sequence, which is the last layer's ``h`` per step; a user's own
backbone is used the same way.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab.models.backbones import TorchRecurrent

__all__ = ["hidden_states", "lstm_states", "unit_labels"]


def _as_batch(window: Tensor) -> Tensor:
    if window.dim() == 1:  # [L] -> [1, L, 1]
        return window[None, :, None]
    if window.dim() == 2:  # [L, F] -> [1, L, F]
        return window[None]
    if window.dim() == 3 and window.shape[0] == 1:
        return window
    raise ValueError(
        f"window of shape {tuple(window.shape)}: pass one window, [L], [L, F] or [1, L, F]"
    )


def _cell(lstm: nn.LSTM, layer: int, reverse: bool) -> nn.LSTMCell:
    """An ``nn.LSTMCell`` holding (copies of) one layer-direction's weights."""
    sfx = f"_l{layer}" + ("_reverse" if reverse else "")
    w_ih = getattr(lstm, f"weight_ih{sfx}")
    cell = nn.LSTMCell(w_ih.shape[1], lstm.hidden_size, bias=lstm.bias)
    cell = cell.to(device=w_ih.device, dtype=w_ih.dtype)
    with torch.no_grad():
        cell.weight_ih.copy_(w_ih)
        cell.weight_hh.copy_(getattr(lstm, f"weight_hh{sfx}"))
        if lstm.bias:
            cell.bias_ih.copy_(getattr(lstm, f"bias_ih{sfx}"))
            cell.bias_hh.copy_(getattr(lstm, f"bias_hh{sfx}"))
    return cell


@torch.no_grad()
def lstm_states(lstm: nn.LSTM, x: Tensor) -> tuple[Tensor, Tensor]:
    """Hidden and cell state of the last layer at every step of ``x``.

    Returns ``(h, c)``, each ``[B, L, hidden_size × directions]``; ``h`` equals the output of
    ``lstm(x)`` (in eval mode: dropout between layers is not applied).
    """
    if getattr(lstm, "proj_size", 0):
        raise ValueError("lstm_states: LSTMs with proj_size > 0 are not supported")
    seq = x if lstm.batch_first else x.transpose(0, 1)  # [B, L, F]
    directions = 2 if lstm.bidirectional else 1
    for layer in range(lstm.num_layers):
        hs, cs = [], []
        for d in range(directions):
            cell = _cell(lstm, layer, reverse=d == 1)
            steps = range(seq.shape[1] - 1, -1, -1) if d == 1 else range(seq.shape[1])
            h = seq.new_zeros(seq.shape[0], lstm.hidden_size)
            c = seq.new_zeros(seq.shape[0], lstm.hidden_size)
            h_seq: list[Tensor] = [h] * seq.shape[1]
            c_seq: list[Tensor] = [c] * seq.shape[1]
            for t in steps:
                h, c = cell(seq[:, t], (h, c))
                h_seq[t], c_seq[t] = h, c
            hs.append(torch.stack(h_seq, dim=1))  # L × [B, H] -> [B, L, H]
            cs.append(torch.stack(c_seq, dim=1))
        seq = torch.cat(hs, dim=-1)  # the next layer reads both directions' h
        cell_seq = torch.cat(cs, dim=-1)
    return seq, cell_seq


def _torch_lstm(backbone: nn.Module) -> nn.LSTM | None:
    """The ``nn.LSTM`` whose states *are* the backbone's states, if there is one."""
    if isinstance(backbone, nn.LSTM):
        return backbone

    # Only our wrapper is known to return its LSTM's output unchanged; a user's module that
    # merely contains an LSTM may transform it, so it falls back to its own output.
    if isinstance(backbone, TorchRecurrent) and isinstance(backbone.rnn, nn.LSTM):
        return backbone.rnn
    return None


@torch.no_grad()
def hidden_states(backbone: nn.Module, window: Tensor) -> dict[str, Tensor]:
    """Per-step states of ``backbone`` over one input window, on the CPU.

    Returns ``{"h": [L, units]}`` and, for LSTMs, also ``{"c": [L, units]}``; ``units`` is
    ``hidden_size × directions`` (forward units first). The backbone is put in eval mode for
    the call and restored afterwards.
    """
    param = next(backbone.parameters(), None)
    x = _as_batch(window)
    if param is not None:
        x = x.to(device=param.device, dtype=param.dtype)
    was_training = backbone.training
    backbone.eval()
    try:
        lstm = _torch_lstm(backbone)
        if lstm is not None:
            h, c = lstm_states(lstm, x)
            return {"h": h[0].cpu(), "c": c[0].cpu()}
        out = backbone(x)
        if isinstance(out, (tuple, list)):  # e.g. a bare nn.GRU returns (output, h_n)
            out = out[0]
        if out.dim() != 3:
            raise ValueError(
                f"backbone {type(backbone).__name__} returned shape {tuple(out.shape)}; "
                "hidden_states needs a hidden sequence [B, L, units]"
            )
        return {"h": out[0].cpu()}
    finally:
        backbone.train(was_training)


def unit_labels(backbone: nn.Module, units: int) -> list[str]:
    """Names of the hidden units for plot labels (``fwd 3`` / ``bwd 3`` when bidirectional)."""
    directions = getattr(backbone, "directions", None)
    if directions is None:
        rnn = getattr(backbone, "rnn", backbone)
        directions = 2 if getattr(rnn, "bidirectional", False) else 1
    if directions == 2 and units % 2 == 0:
        half = units // 2
        return [f"fwd {i}" for i in range(half)] + [f"bwd {i}" for i in range(half)]
    return [f"unit {i}" for i in range(units)]
