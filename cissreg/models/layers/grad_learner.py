"""The gradient learner h_w: an MLP that predicts the foreground-CE gradient of logits."""
import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cissreg.registry import MODELS


def softmax_ce_grad(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-pixel gradient of the summed cross entropy, ``softmax(z) - onehot(y)``.

    Computed in closed form, so no autograd graph (and no ``.grad``) of the caller's tensors
    is touched. It is the gradient of ``sum_i CE(z_i, y_i)``; a mean-reduced CE would divide
    every row by the number of pixels.

    Args:
        logits (Tensor): ``[M, C]`` (detached inside).
        labels (Tensor): ``[M]`` in ``[0, C)``.

    Returns:
        Tensor: ``[M, C]``.
    """
    z = logits.detach()
    return z.softmax(dim=1) - F.one_hot(labels.long(), z.shape[1]).to(z.dtype)


def seeded_linear(in_features: int, out_features: int,
                  generator: Optional[torch.Generator] = None) -> nn.Linear:
    """An ``nn.Linear`` initialised as PyTorch does, drawing from ``generator`` only.

    The layer is built on the ``meta`` device (no draw) and then filled with
    ``U(-1 / sqrt(in), 1 / sqrt(in))`` for weight and bias (``nn.Linear``'s default), so
    with a private ``generator`` no global random state (CPU or CUDA) is read or changed.

    Args:
        in_features (int): Input width.
        out_features (int): Output width.
        generator (torch.Generator, optional): CPU generator; ``None`` draws from the global
            CPU generator.

    Returns:
        nn.Linear: On the CPU, float32.
    """
    linear = nn.Linear(in_features, out_features, device='meta').to_empty(device='cpu')
    bound = 1.0 / math.sqrt(in_features)
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound, generator=generator)
        linear.bias.uniform_(-bound, bound, generator=generator)
    return linear


@MODELS.register_module()
class GradLearner(nn.Module):
    """MLP ``h_w``: ``C`` foreground logits in, a predicted gradient of ``C`` values out.

    ``layers`` linear layers (ReLU between them, none after the last), hidden width
    ``hidden``; ``C`` = the number of seen foreground classes, grown by :meth:`grow`.

    Args:
        num_classes (int): Foreground classes ``C``.
        hidden (int): Hidden width. Defaults to 64.
        layers (int): Number of linear layers (>= 1). Defaults to 2.
        generator (torch.Generator, optional): Draws the initial weights
            (:func:`seeded_linear`); ``None`` uses the global CPU generator.
    """

    def __init__(self, num_classes: int, hidden: int = 64, layers: int = 2,
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        if layers < 1 or num_classes < 1:
            raise ValueError(f'GradLearner needs layers >= 1 and num_classes >= 1, got '
                             f'layers={layers}, num_classes={num_classes}')
        self.num_classes, self.hidden, self.layers = num_classes, hidden, layers
        dims = [num_classes] + [hidden] * (layers - 1) + [num_classes]
        self.mlp = nn.Sequential()
        for i in range(layers):
            if i:
                self.mlp.append(nn.ReLU())
            self.mlp.append(seeded_linear(dims[i], dims[i + 1], generator))

    def linears(self) -> List[nn.Linear]:
        """The linear layers, first to last."""
        return [m for m in self.mlp if isinstance(m, nn.Linear)]

    def forward(self, logits: Tensor) -> Tensor:
        """Predicted gradient ``g_hat``: ``[M, C]`` -> ``[M, C]``."""
        return self.mlp(logits)

    def simulated_logits(self, logits: Tensor, labels: Tensor, alpha: float = 0.5,
                         eta: float = 1.0, eps: float = 1e-6) -> Tensor:
        """Logits after one simulated step along the learner's normalised prediction.

        ``g_true = softmax(z) - onehot(y)`` (:func:`softmax_ce_grad`), ``tau = ||g_true||``
        per pixel, ``g_hat = h_w(z)``, ``g_tilde = alpha * tau * g_hat / (||g_hat|| + eps)``,
        ``z' = z - eta * g_tilde`` with ``z`` detached: only ``w`` receives gradients.

        Args:
            logits (Tensor): ``[M, C]`` foreground logits of trusted pixels.
            labels (Tensor): ``[M]`` foreground labels in ``[0, C)``.
            alpha (float): Scale of the normalised prediction. Defaults to 0.5.
            eta (float): Simulated step size. Defaults to 1.0.
            eps (float): Added to ``||g_hat||``. Defaults to 1e-6.

        Returns:
            Tensor: ``z'``, ``[M, C]``, connected to ``w`` only.
        """
        z = logits.detach()
        tau = softmax_ce_grad(z, labels).norm(dim=1, keepdim=True)
        g_hat = self(z)
        g_tilde = alpha * tau * g_hat / (g_hat.norm(dim=1, keepdim=True) + eps)
        return z - eta * g_tilde

    @torch.no_grad()
    def grow(self, num_classes: int, generator: Optional[torch.Generator] = None
             ) -> List[Tuple[nn.Parameter, nn.Parameter]]:
        """Widen the input of the first and the output of the last layer to ``num_classes``.

        The grown layers start as freshly initialised layers (:func:`seeded_linear` with
        ``generator``); the old weights
        and biases are copied into their leading block (``[:old_out, :old_in]``), so old rows
        and columns are bit-identical.

        Args:
            num_classes (int): New foreground class count (>= the current one).
            generator (torch.Generator, optional): Draws the new layers' initial values.

        Returns:
            list[tuple[Parameter, Parameter]]: ``(old, new)`` for every replaced parameter,
            for growing an optimizer's state (``grow_optimizer_state``).
        """
        if num_classes < self.num_classes:
            raise ValueError(f'GradLearner can only grow: {self.num_classes} -> {num_classes}')
        if num_classes == self.num_classes:
            return []
        replaced = []
        linears = self.linears()
        for idx, old in enumerate(linears):
            in_f = num_classes if idx == 0 else old.in_features
            out_f = num_classes if idx == len(linears) - 1 else old.out_features
            new = seeded_linear(in_f, out_f, generator)
            new = new.to(device=old.weight.device, dtype=old.weight.dtype)
            new.weight[:old.out_features, :old.in_features] = old.weight
            new.bias[:old.out_features] = old.bias
            replaced += [(old.weight, new.weight), (old.bias, new.bias)]
            pos = [i for i, m in enumerate(self.mlp) if m is old][0]
            self.mlp[pos] = new
        self.num_classes = num_classes
        return [(o, n) for o, n in replaced if o is not n]


@torch.no_grad()
def grow_optimizer_state(optimizer: torch.optim.Optimizer,
                         replaced: List[Tuple[nn.Parameter, nn.Parameter]]) -> None:
    """Swap grown parameters into ``optimizer`` and grow their state with zeros.

    Every state tensor of the parameter's shape (Adam's ``exp_avg``, ``exp_avg_sq``) becomes
    a zero tensor of the new shape with the old values in the leading block; other entries
    (``step``) are kept as they are.

    Args:
        optimizer (Optimizer): Holds the old parameters.
        replaced (list[tuple[Parameter, Parameter]]): ``(old, new)`` pairs from
            :meth:`GradLearner.grow`.
    """
    for old, new in replaced:
        for group in optimizer.param_groups:
            group['params'] = [new if p is old else p for p in group['params']]
        state = optimizer.state.pop(old, None)
        if state is None:
            continue
        grown = {}
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == old.shape and value.dim() > 0:
                big = value.new_zeros(new.shape)
                big[tuple(slice(0, s) for s in old.shape)] = value
                grown[key] = big
            else:
                grown[key] = value
        optimizer.state[new] = grown
