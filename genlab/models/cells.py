"""Recurrent cells written out by hand, with the gates named the way the course names them.

This is the *reference* implementation: one time step at a time in plain tensor algebra, so a reader
can see what an RNN, an LSTM and a GRU compute. ``genlab.models.rnn`` uses PyTorch's fused
``nn.RNN``/``nn.LSTM``/``nn.GRU`` by default (much faster); :class:`ReferenceRecurrence` keeps its
parameters under the same names and in the same layout, so the same weights load into either, and
the tests check that both give the same outputs.

Course notes (RNN의 문제점, LSTM, GRU):

* a vanilla RNN squashes the whole past into ``h = tanh(W x + U h)``; gradients through many steps
  vanish or explode, so it forgets long contexts;
* an LSTM keeps a *cell state* ``c`` (its memory) and three gates: the **forget gate** decides what
  to keep of ``c``, the **input gate** what to write into it, the **output gate** what to show as ``h``;
* a GRU merges forget and input into one **update gate**, drops the separate cell state (``h`` is
  the memory) and adds a **reset gate** that decides how much of the past feeds the new candidate.

PyTorch stacks the gate weights in one matrix per layer; the row blocks are, in order,
LSTM: input, forget, candidate (g), output; GRU: reset, update, candidate (n).
"""

from __future__ import annotations

import math

import torch
from torch import nn

LSTMState = tuple[torch.Tensor, torch.Tensor]


def rnn_cell(x: torch.Tensor, h: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
             b_ih: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """Elman RNN: the new hidden state mixes the input and the previous state through tanh."""
    return torch.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)


def lstm_cell(x: torch.Tensor, state: LSTMState, w_ih: torch.Tensor, w_hh: torch.Tensor,
              b_ih: torch.Tensor, b_hh: torch.Tensor) -> LSTMState:
    """LSTM: three gates steer what the cell state (the memory) forgets, stores and shows."""
    h, c = state
    pre = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh  # (B, 4H)
    i, f, g, o = pre.chunk(4, dim=-1)
    input_gate = torch.sigmoid(i)  # how much of the candidate to write
    forget_gate = torch.sigmoid(f)  # how much of the old memory to keep
    candidate = torch.tanh(g)  # what could be written
    output_gate = torch.sigmoid(o)  # how much of the memory to show
    cell_state = forget_gate * c + input_gate * candidate
    hidden = output_gate * torch.tanh(cell_state)
    return hidden, cell_state


def gru_cell(x: torch.Tensor, h: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
             b_ih: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """GRU: an update gate blends old state and candidate; a reset gate filters the past for it."""
    xr, xz, xn = (x @ w_ih.T + b_ih).chunk(3, dim=-1)
    hr, hz, hn = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
    reset_gate = torch.sigmoid(xr + hr)  # how much of the past the candidate may see
    update_gate = torch.sigmoid(xz + hz)  # how much of the old state to keep
    candidate = torch.tanh(xn + reset_gate * hn)
    return update_gate * h + (1 - update_gate) * candidate


GATES = {"rnn": 1, "lstm": 4, "gru": 3}


class ReferenceRecurrence(nn.Module):
    """A stack of hand-written cells with ``nn.RNN/LSTM/GRU``'s interface and parameter names.

    ``forward(x[B, T, E], state) -> (outputs[B, T, H], state)`` with ``batch_first=True``; the state
    is ``h[L, B, H]`` (rnn, gru) or ``(h, c)`` (lstm), exactly as PyTorch's modules take it.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if cell not in GATES:
            raise ValueError(f"unknown cell {cell!r}")
        self.cell, self.hidden_size, self.num_layers, self.dropout = cell, hidden_size, num_layers, dropout
        rows = GATES[cell] * hidden_size
        for layer in range(num_layers):
            size_in = input_size if layer == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{layer}", nn.Parameter(torch.empty(rows, size_in)))
            self.register_parameter(f"weight_hh_l{layer}", nn.Parameter(torch.empty(rows, hidden_size)))
            self.register_parameter(f"bias_ih_l{layer}", nn.Parameter(torch.empty(rows)))
            self.register_parameter(f"bias_hh_l{layer}", nn.Parameter(torch.empty(rows)))
        bound = 1.0 / math.sqrt(hidden_size)  # PyTorch's default initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _weights(self, layer: int) -> tuple[torch.Tensor, ...]:
        return tuple(getattr(self, f"{n}_l{layer}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def forward(self, x: torch.Tensor, state=None):
        B, T, _ = x.shape
        if state is None:
            zeros = x.new_zeros(self.num_layers, B, self.hidden_size)
            state = (zeros, zeros.clone()) if self.cell == "lstm" else zeros
        new_h, new_c = [], []
        layer_in = x
        for layer in range(self.num_layers):
            w = self._weights(layer)
            if self.cell == "lstm":
                h, c = state[0][layer], state[1][layer]
            else:
                h = state[layer]
            outputs = []
            for t in range(T):  # one time step at a time: the recurrence the course draws
                if self.cell == "lstm":
                    h, c = lstm_cell(layer_in[:, t], (h, c), *w)
                elif self.cell == "gru":
                    h = gru_cell(layer_in[:, t], h, *w)
                else:
                    h = rnn_cell(layer_in[:, t], h, *w)
                outputs.append(h)
            new_h.append(h)
            if self.cell == "lstm":
                new_c.append(c)
            layer_in = torch.stack(outputs, dim=1)  # (B, T, H)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = nn.functional.dropout(layer_in, self.dropout, training=True)
        h_all = torch.stack(new_h)
        return layer_in, ((h_all, torch.stack(new_c)) if self.cell == "lstm" else h_all)
