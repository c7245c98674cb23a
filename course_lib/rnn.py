"""Recurrent networks from scratch: the reference components of chapter 1.

Read top to bottom:
  1. one time step of each cell, as a plain function of (input, state, weights);
  2. the same cells as nn.Modules that own their weights;
  3. RNN, a layer that unrolls a cell over time with a Python loop, forward and
     optionally backward (bidirectional);
  4. models built on it: a character-level language model and a sequence
     classifier, plus sampling;
  5. tools for the chapter's experiments: gradient norm by distance (vanishing
     gradients) and gradient clipping.

Weights use torch's layout, so torch.nn.RNNCell / LSTMCell / GRUCell / LSTM
weights can be copied in and the outputs compared exactly:
  weight_ih: (gates * H, I)   weight_hh: (gates * H, H)   biases: (gates * H,)
with gates = 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n).
"""
from __future__ import annotations

import math
from typing import Iterable, Literal, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "rnn_cell", "lstm_cell", "gru_cell",
    "RNNCell", "LSTMCell", "GRUCell",
    "RNN", "CharLM", "SequenceClassifier", "sample",
    "set_forget_bias", "gradient_norm_by_distance", "clip_grad_norm",
]

CellType = Literal["rnn", "lstm", "gru"]
# h for RNN and GRU, (h, c) for LSTM
State = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]


# ---------------------------------------------------------------------------
# 1. One time step, as functions


def rnn_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
) -> torch.Tensor:
    """Elman RNN step: h_new = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).

    x: (B, I), h: (B, H), weight_ih: (H, I), weight_hh: (H, H), biases: (H,).
    Returns h_new: (B, H).
    """
    return torch.tanh(F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh))


def lstm_cell(
    x: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor],
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """LSTM step with torch's gate order i, f, g, o.

    x: (B, I), state = (h, c) each (B, H), weight_ih: (4H, I), weight_hh: (4H, H),
    biases: (4H,). Returns (h_new, c_new), each (B, H).

    The cell state c is updated additively (f * c + i * g), so the gradient
    along c is scaled by f, not squashed through a weight matrix and tanh' at
    every step: that is what lets an LSTM remember over long distances.
    """
    h, c = state
    gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    return h_new, c_new


def gru_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
) -> torch.Tensor:
    """GRU step with torch's layout r, z, n and equations.

    x: (B, I), h: (B, H), weight_ih: (3H, I), weight_hh: (3H, H), biases: (3H,).
    Returns h_new: (B, H).
        r = sigmoid(x W_ir + b_ir + h W_hr + b_hr)          reset gate
        z = sigmoid(x W_iz + b_iz + h W_hz + b_hz)          update gate
        n = tanh(x W_in + b_in + r * (h W_hn + b_hn))       candidate
        h_new = (1 - z) * n + z * h
    Note r multiplies (h W_hn + b_hn), bias included: torch's (and cuDNN's) form.
    """
    x_r, x_z, x_n = F.linear(x, weight_ih, bias_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = F.linear(h, weight_hh, bias_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


# ---------------------------------------------------------------------------
# 2. Cells as modules


class _Cell(nn.Module):
    """Owns weight_ih, weight_hh, bias_ih, bias_hh for `num_gates` gates."""

    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        gh = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gh, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gh, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(gh)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(gh)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # torch's init: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _weights(self) -> tuple:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def zero_state(self, batch_size: int) -> State:
        w = self.weight_ih
        return torch.zeros(batch_size, self.hidden_size, dtype=w.dtype, device=w.device)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(_Cell):
    """forward(x: (B, I), h: (B, H) | None) -> h_new: (B, H); h defaults to zeros."""

    num_gates = 1

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        h = self.zero_state(x.shape[0]) if h is None else h
        return rnn_cell(x, h, *self._weights())


class GRUCell(_Cell):
    """forward(x: (B, I), h: (B, H) | None) -> h_new: (B, H)."""

    num_gates = 3

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        h = self.zero_state(x.shape[0]) if h is None else h
        return gru_cell(x, h, *self._weights())


class LSTMCell(_Cell):
    """forward(x: (B, I), state: (h, c) | None) -> (h_new, c_new), each (B, H)."""

    num_gates = 4

    def zero_state(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        h = super().zero_state(batch_size)
        return h, torch.zeros_like(h)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        state = self.zero_state(x.shape[0]) if state is None else state
        return lstm_cell(x, state, *self._weights())


CELLS: dict[str, type[_Cell]] = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}
TORCH_LAYERS: dict[str, type[nn.Module]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _check_cell_type(cell_type: str) -> None:
    if cell_type not in CELLS:
        raise ValueError(f"cell_type must be one of {sorted(CELLS)}, got {cell_type!r}")


# ---------------------------------------------------------------------------
# 3. Unrolling over time


class RNN(nn.Module):
    """A one-layer recurrent layer, batch first, unrolled with a Python loop.

    forward(x: (B, T, I), state=None) -> (outputs: (B, T, D*H), final_state)
    with D = 2 if bidirectional else 1. States use torch.nn.LSTM's layout:
    h: (D, B, H) for "rnn"/"gru", (h, c) each (D, B, H) for "lstm", so this
    layer and torch's nn.RNN/LSTM/GRU (num_layers=1, batch_first=True) are
    interchangeable. Bidirectional: a second cell reads the sequence backwards;
    at each t the output is [forward h_t, backward h_t].
    """

    def __init__(self, cell_type: CellType, input_size: int, hidden_size: int,
                 bidirectional: bool = False, bias: bool = True):
        super().__init__()
        _check_cell_type(cell_type)
        self.cell_type, self.hidden_size, self.bidirectional = cell_type, hidden_size, bidirectional
        self.cell = CELLS[cell_type](input_size, hidden_size, bias)
        self.cell_reverse = CELLS[cell_type](input_size, hidden_size, bias) if bidirectional else None

    def _run(self, cell: _Cell, x: torch.Tensor, state: State | None, reverse: bool):
        """Unroll one cell; returns (outputs (B, T, H), final state of that cell)."""
        B, T, _ = x.shape
        state = cell.zero_state(B) if state is None else state
        steps = range(T - 1, -1, -1) if reverse else range(T)
        outputs = [None] * T
        for t in steps:
            state = cell(x[:, t], state)
            outputs[t] = state[0] if isinstance(state, tuple) else state
        return torch.stack(outputs, dim=1), state

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        if x.dim() != 3:
            raise ValueError(f"RNN expects batch-first input (B, T, I), got shape {tuple(x.shape)}")
        lstm = self.cell_type == "lstm"
        # split the (D, B, H) state into one state per direction
        per_dir = [None, None]
        if state is not None:
            per_dir = list(zip(*state)) if lstm else list(state)
        out, final = self._run(self.cell, x, per_dir[0], reverse=False)
        outs, finals = [out], [final]
        if self.bidirectional:
            out, final = self._run(self.cell_reverse, x, per_dir[1], reverse=True)
            outs.append(out)
            finals.append(final)
        if lstm:
            final_state = (torch.stack([h for h, _ in finals]), torch.stack([c for _, c in finals]))
        else:
            final_state = torch.stack(finals)
        return torch.cat(outs, dim=-1), final_state

    @torch.no_grad()
    def load_from_torch(self, module: nn.RNNBase) -> "RNN":
        """Copy the weights of a one-layer torch nn.RNN/LSTM/GRU (same sizes) into this layer."""
        if module.num_layers != 1 or module.bidirectional != self.bidirectional:
            raise ValueError("need a one-layer torch module with the same `bidirectional` setting")
        for cell, suffix in [(self.cell, "_l0"), (self.cell_reverse, "_l0_reverse")]:
            if cell is None:
                continue
            for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
                ours = getattr(cell, name)
                if ours is not None:
                    ours.copy_(getattr(module, name + suffix))
        return self


# ---------------------------------------------------------------------------
# 4. Models


def _recurrent_layer(cell_type: str, input_size: int, hidden_size: int, fast: bool) -> nn.Module:
    _check_cell_type(cell_type)
    if fast:
        # torch's fused kernels (cuDNN on GPU): same maths, many times faster to train
        return TORCH_LAYERS[cell_type](input_size, hidden_size, batch_first=True)
    return RNN(cell_type, input_size, hidden_size)


@torch.no_grad()
def set_forget_bias(layer: nn.Module, value: float) -> nn.Module:
    """Start an LSTM layer's forget gates at sigmoid(value): 3.0 gives f = 0.95.

    With torch's init f starts near 0.5, so the cell state (and its gradient)
    halves at every step and nothing survives 50 steps; learning to remember
    must then begin from a vanishing signal. A positive forget bias makes the
    LSTM remember by default (Gers et al., 2000; Jozefowicz et al., 2015 use 1).
    Works on torch's nn.LSTM and on the course's RNN("lstm", ...).
    """
    is_lstm = isinstance(layer, nn.LSTM) or getattr(layer, "cell_type", None) == "lstm"
    if not is_lstm:
        raise ValueError(f"set_forget_bias needs an LSTM layer, got {type(layer).__name__}")
    for name, p in layer.named_parameters():
        H = p.shape[0] // 4
        if "bias_ih" in name:
            p[H : 2 * H] = value  # gate order i, f, g, o: f is the second quarter
        elif "bias_hh" in name:
            p[H : 2 * H] = 0.0  # the two biases are summed; keep the total at `value`
    return layer


class CharLM(nn.Module):
    """Character-level language model: embedding -> recurrent layer -> linear.

    forward(idx: (B, T), state=None) -> (logits: (B, T, V), state)
    Pass the returned state back in (detached) to continue a stream;
    sample() uses it to generate one character at a time.
    fast=True uses torch.nn.LSTM/GRU/RNN; fast=False the course's own RNN
    (same results, far slower: it runs the Python loop over time).
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int,
                 cell_type: CellType = "lstm", fast: bool = True):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, embed_dim=embed_dim, hidden_size=hidden_size,
                           cell_type=cell_type, fast=fast)
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.rnn = _recurrent_layer(cell_type, embed_dim, hidden_size, fast)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        out, state = self.rnn(self.embed(idx), state)
        return self.head(out), state


class SequenceClassifier(nn.Module):
    """Reads a whole sequence, classifies it from the final hidden state.

    forward(idx: (B, T)) -> logits: (B, num_classes)
    Everything the label depends on must travel through the recurrence to the
    last step, which makes this the model for testing long-range memory.
    forget_bias (LSTM only): see set_forget_bias; None keeps torch's init.
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_classes: int,
                 cell_type: CellType = "lstm", fast: bool = True, forget_bias: float | None = None):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, embed_dim=embed_dim, hidden_size=hidden_size,
                           num_classes=num_classes, cell_type=cell_type, fast=fast, forget_bias=forget_bias)
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.rnn = _recurrent_layer(cell_type, embed_dim, hidden_size, fast)
        if forget_bias is not None:
            set_forget_bias(self.rnn, forget_bias)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(self.embed(idx))
        h = state[0] if isinstance(state, tuple) else state  # (1, B, H)
        return self.head(h[-1])


@torch.no_grad()
def sample(model: nn.Module, tokenizer, prompt: str, max_new_tokens: int,
           temperature: float = 1.0, generator: torch.Generator | None = None) -> str:
    """Continue `prompt` by max_new_tokens characters; returns prompt + continuation.

    model(idx, state) -> (logits, state), like CharLM. temperature < 1 makes
    the text more predictable, > 1 more surprising; 0 always picks the most
    likely character (greedy). Sampling happens on the CPU so a CPU
    `generator` makes it reproducible whatever device the model is on.
    """
    if not prompt:
        raise ValueError("prompt must contain at least one character (for example '\\n')")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    idx = torch.tensor([tokenizer.encode(prompt)], device=device)
    new_ids: list[int] = []
    # feed the prompt once, then one character at a time, carrying the state
    logits, state = model(idx)
    for _ in range(max_new_tokens):
        last = logits[0, -1].float().cpu()
        if temperature == 0:
            next_id = int(last.argmax())
        else:
            probs = torch.softmax(last / temperature, dim=-1)
            next_id = int(torch.multinomial(probs, 1, generator=generator))
        new_ids.append(next_id)
        logits, state = model(torch.tensor([[next_id]], device=device), state)
    model.train(was_training)
    return prompt + tokenizer.decode(new_ids)


# ---------------------------------------------------------------------------
# 5. Experiments: vanishing gradients, clipping


def gradient_norm_by_distance(cell_type: CellType, hidden_size: int, seq_len: int, seed: int = 0,
                              input_size: int | None = None, forget_bias: float | None = None) -> torch.Tensor:
    """How much the last hidden state h_T depends on inputs k steps back, at init.

    Returns norms: (seq_len,) float64, where norms[k] = ||d h_T / d x_{T-1-k}||_F, the
    Frobenius norm of the Jacobian of the final hidden state with respect to
    the input k steps before the end (k = 0 is the last input). A freshly
    initialised layer (torch's init) is run on N(0, 1) inputs, and the global
    RNG is left untouched. forget_bias (LSTM only) is passed to set_forget_bias.

    A plain RNN's norms shrink geometrically with k. So do those of an LSTM at
    torch's init (forget gates near 0.5); with a forget bias of 3 they shrink
    far more slowly: the gradient travels along the cell state.
    """
    input_size = hidden_size if input_size is None else input_size
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = RNN(cell_type, input_size, hidden_size)
        x = torch.randn(1, seq_len, input_size)
    # float64: a plain RNN's gradient falls below float32's smallest number
    # within ~60 steps, and an honest plot needs the values, not zeros
    layer, x = layer.double(), x.double()
    if forget_bias is not None:
        set_forget_bias(layer, forget_bias)
    # One backward pass for the whole Jacobian: copy the sequence H times and
    # let copy j backpropagate from output unit j only; copy j's input
    # gradient is then row j of d h_T / d x_t, for every t at once.
    xs = x.expand(hidden_size, seq_len, input_size).clone().requires_grad_(True)
    _, state = layer(xs)
    h_T = (state[0] if isinstance(state, tuple) else state)[0]  # (H copies, H units)
    h_T.diagonal().sum().backward()
    norms = xs.grad.pow(2).sum(dim=(0, 2)).sqrt()  # (T,) indexed by time t
    return norms.flip(0)  # indexed by distance from the end


def clip_grad_norm(parameters: torch.Tensor | Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients together so their total L2 norm is at most max_norm; in place.

    total_norm = sqrt(sum over parameters of ||p.grad||^2), over ALL parameters
    at once, so clipping changes the step's length but not its direction.
    Returns total_norm before clipping, like torch.nn.utils.clip_grad_norm_
    (which this equals, including its 1e-6 guard against division by zero).
    """
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]  # a list: parameters may be a generator
    if not grads:
        return torch.tensor(0.0)
    total_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = max_norm / (total_norm + 1e-6)
    if scale < 1:
        for g in grads:
            g.mul_(scale)
    return total_norm
