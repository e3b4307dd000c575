"""Models: an MLP, a 1-D CNN for MNIST-1D and the CIFAR ResNet-32 of LDAM-DRW / BalPoE.

Every model has the same three parts, so every method can reach what it needs:

* ``model.features(x)``: the representation, ``[N, D]`` (``[E, N, D]`` for a multi-expert
  ResNet, whose later stages are separate per expert);
* ``model.classifier``: the head(s), an `ExpertHeads` (linear or cosine);
* ``model(x) = model.classifier(model.features(x))``: logits ``[N, C]``, or ``[E, N, C]``
  when ``num_experts > 1``.

The cosine head is BalPoE's ``NormedLinear``: logits = s * cos(f, w_c) with s = 30.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validation import as_int, as_positive

__all__ = ["CosineClassifier", "ExpertHeads", "MLP", "CNN1D", "PooledCNN1D", "ResNet32", "LTModel"]


class CosineClassifier(nn.Module):
    """logits_c = scale * <f / |f|, w_c / |w_c|> (BalPoE's NormedLinear, scale 30)."""

    def __init__(self, in_features: int, num_classes: int, scale: float = 30.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_features).uniform_(-1, 1))
        self.scale = as_positive(scale, "scale", "BalPoE and LDAM use 30.")

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(f, dim=-1) @ F.normalize(self.weight, dim=-1).T


class ExpertHeads(nn.Module):
    """``num_experts`` classifiers. Input ``[N, D]`` (shared features: every head sees them)
    or ``[E, N, D]`` (one feature per expert). Output ``[N, C]`` for one expert, else
    ``[E, N, C]``."""

    def __init__(
        self, in_features: int, num_classes: int, num_experts: int = 1, cosine: bool = False,
        scale: float = 30.0,
    ) -> None:
        super().__init__()
        self.num_experts = as_int(num_experts, "num_experts", minimum=1,
                                  hint="it is the number of classifier heads.")
        self.heads = nn.ModuleList(
            CosineClassifier(in_features, num_classes, scale) if cosine
            else nn.Linear(in_features, num_classes)
            for _ in range(num_experts)
        )

    def weights(self) -> torch.Tensor:
        """Classifier weights ``[E, C, D]`` (for weight-norm plots)."""
        return torch.stack([h.weight for h in self.heads])

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        if f.dim() == 3:
            out = torch.stack([h(f[e]) for e, h in enumerate(self.heads)])
        else:
            out = torch.stack([h(f) for h in self.heads])
        return out[0] if self.num_experts == 1 else out


class LTModel(nn.Module):
    """Base class: ``forward = classifier(features(x))``."""

    num_classes: int
    num_experts: int
    feature_dim: int
    classifier: ExpertHeads

    def features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define features(x) -> [N, D].")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class MLP(LTModel):
    """A ReLU multi-layer perceptron on flat inputs ``[N, in_features]``."""

    def __init__(
        self, in_features: int, num_classes: int, hidden: tuple[int, ...] = (128, 128),
        num_experts: int = 1, cosine: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.num_classes, self.num_experts, self.feature_dim = num_classes, num_experts, width
        self.classifier = ExpertHeads(width, num_classes, num_experts, cosine)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))


class CNN1D(LTModel):
    """Three strided 1-D convolutions and a linear layer, for MNIST-1D signals ``[N, L]``.

    With ``num_experts`` = E > 1 the model is a multi-expert network like BalPoE's ResNet-32:
    the first ``shared_convs`` convolutions are shared (the stem), and every expert has its own
    later convolutions, linear layer and head, so features are ``[E, N, D]``. The default
    (``shared_convs=None``) shares two convolutions when E > 1 (each expert has its own third
    convolution and linear layer) and all three when E = 1, the plain network. With
    ``shared_convs=3`` the experts share the whole network and differ only in their heads.

    >>> CNN1D(num_experts=3, cosine=True)(torch.zeros(5, 40)).shape
    torch.Size([3, 5, 10])
    """

    def __init__(
        self, num_classes: int = 10, length: int = 40, channels: int = 32, feature_dim: int = 64,
        num_experts: int = 1, cosine: bool = False, shared_convs: int | None = None,
    ) -> None:
        super().__init__()
        experts = as_int(num_experts, "num_experts", minimum=1,
                         hint="it is the number of classifier heads.")
        shared = (3 if experts == 1 else 2) if shared_convs is None else as_int(
            shared_convs, "shared_convs", minimum=0,
            hint="it is the number of convolutions (0-3) the experts share.")
        if shared > 3:
            raise ValueError(f"shared_convs must be between 0 and 3 (got {shared}).")
        # built in the order conv1, conv2, conv3, linear, heads, so the one-expert network
        # draws the same initial weights whatever shared_convs is
        convs = [(1, 5, 2), (channels, 3, 1), (channels, 3, 1)]

        def conv_layers(which: range) -> list[nn.Module]:
            out: list[nn.Module] = []
            for i in which:
                cin, k, pad = convs[i]
                out += [nn.Conv1d(cin, channels, k, stride=2, padding=pad), nn.ReLU()]
            return out

        self.conv = nn.Sequential(*conv_layers(range(shared)))
        out_len = length
        for _, k, pad in convs:
            out_len = (out_len + 2 * pad - k) // 2 + 1
        flat = channels * out_len
        self.shared_convs = shared
        if shared == 3:
            self.fc = nn.Sequential(nn.Flatten(), nn.Linear(flat, feature_dim), nn.ReLU())
            self.experts = None
        else:
            self.experts = nn.ModuleList(
                nn.Sequential(*conv_layers(range(shared, 3)), nn.Flatten(),
                              nn.Linear(flat, feature_dim), nn.ReLU())
                for _ in range(experts)
            )
        self.length = length
        self.num_classes, self.num_experts, self.feature_dim = num_classes, experts, feature_dim
        self.classifier = ExpertHeads(feature_dim, num_classes, experts, cosine)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.shape[-1] != self.length:
            raise ValueError(f"CNN1D expects signals of length {self.length} (got {x.shape[-1]}).")
        stem = self.conv(x)
        if self.experts is None:
            return self.fc(stem)
        feats = [branch(stem) for branch in self.experts]
        return feats[0] if self.num_experts == 1 else torch.stack(feats)


class PooledCNN1D(LTModel):
    """Three 1-D convolutions with circular padding and a global max pool, for MNIST-1D
    signals ``[N, L]``. MNIST-1D places each digit at a random circular offset; circular
    convolutions followed by a max over positions make the features (nearly) invariant to
    that shift, so self-supervised learning can spend its effort on the digit's shape
    (notebook 06). Features: ``[N, feature_dim]``."""

    def __init__(
        self, num_classes: int = 10, channels: int = 16, feature_dim: int = 32,
        num_experts: int = 1, cosine: bool = False,
    ) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(1, channels, 5, padding=2, padding_mode="circular"), nn.ReLU(),
            nn.Conv1d(channels, channels, 5, stride=2, padding=2, padding_mode="circular"),
            nn.ReLU(),
            nn.Conv1d(channels, feature_dim, 5, padding=2, padding_mode="circular"), nn.ReLU(),
        )
        self.num_classes, self.num_experts, self.feature_dim = num_classes, num_experts, feature_dim
        self.classifier = ExpertHeads(feature_dim, num_classes, num_experts, cosine)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        return self.conv(x).amax(dim=-1)


class _ShortcutA(nn.Module):
    """Option-A shortcut of the CIFAR ResNets: subsample by 2 and zero-pad the channels."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.pad = planes // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class _BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = _ShortcutA(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def _stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [_BasicBlock(in_planes, planes, stride)]
    layers += [_BasicBlock(planes, planes, 1) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet32(LTModel):
    """CIFAR ResNet-32 (BasicBlock x [5, 5, 5], widths 16/32/64, option-A shortcuts,
    Kaiming-normal init), as in LDAM-DRW and BalPoE. With ``num_experts`` = E > 1 the stem
    and layer1 are shared and each expert has its own layer2, layer3 and head."""

    def __init__(
        self, num_classes: int = 100, num_experts: int = 1, cosine: bool = False,
        scale: float = 30.0, in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = _stage(16, 16, 5, 1)
        self.layer2 = nn.ModuleList(_stage(16, 32, 5, 2) for _ in range(num_experts))
        self.layer3 = nn.ModuleList(_stage(32, 64, 5, 2) for _ in range(num_experts))
        self.num_classes, self.num_experts, self.feature_dim = num_classes, num_experts, 64
        self.classifier = ExpertHeads(64, num_classes, num_experts, cosine, scale)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        shared = self.layer1(F.relu(self.bn1(self.conv1(x))))
        feats = [
            F.adaptive_avg_pool2d(l3(l2(shared)), 1).flatten(1)
            for l2, l3 in zip(self.layer2, self.layer3)
        ]
        return feats[0] if self.num_experts == 1 else torch.stack(feats)
