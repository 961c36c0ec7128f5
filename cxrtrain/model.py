"""The ChestX-ray8 network: transformers CNN backbone → transition layer → global pooling → prediction layer."""

from __future__ import annotations

import math

import torch
from torch import nn

# Configurations of the named backbones, used for random init when no weights can be loaded.
BACKBONES = {
    "resnet-18": ("resnet", {"depths": [2, 2, 2, 2], "hidden_sizes": [64, 128, 256, 512], "layer_type": "basic"}),
    "resnet-50": ("resnet", {"depths": [3, 4, 6, 3], "hidden_sizes": [256, 512, 1024, 2048],
                             "layer_type": "bottleneck"}),
    "resnet-101": ("resnet", {"depths": [3, 4, 23, 3], "hidden_sizes": [256, 512, 1024, 2048],
                              "layer_type": "bottleneck"}),
    "convnext-tiny": ("convnext", {"depths": [3, 3, 9, 3], "hidden_sizes": [96, 192, 384, 768]}),
    "tiny": ("resnet", {"embedding_size": 8, "depths": [1, 1], "hidden_sizes": [8, 16], "layer_type": "basic"}),
}
HUB_NAMES = {"resnet-18": "microsoft/resnet-18", "resnet-50": "microsoft/resnet-50",
             "resnet-101": "microsoft/resnet-101", "convnext-tiny": "facebook/convnext-tiny-224"}


def lse_pool(x: torch.Tensor, r: float) -> torch.Tensor:
    """Log-sum-exp pooling over H×W, numerically stable: x* + 1/r · log mean exp(r (x − x*))."""
    flat = x.flatten(2)
    peak = flat.max(dim=2, keepdim=True).values
    return (peak + torch.log(torch.mean(torch.exp(r * (flat - peak)), dim=2, keepdim=True)) / r).squeeze(2)


def random_backbone(name: str) -> nn.Module:
    from transformers import ConvNextConfig, ConvNextModel, ResNetConfig, ResNetModel

    family, settings = BACKBONES[name]
    if family == "resnet":
        return ResNetModel(ResNetConfig(**settings))
    return ConvNextModel(ConvNextConfig(**settings))


def load_backbone(name: str, pretrained: str) -> tuple[nn.Module, str]:
    """The backbone and a sentence saying where its weights came from.

    pretrained: "none" (random init), "auto" (the hub checkpoint of `name` when reachable), or a hub name /
    local path of any checkpoint AutoModel can load as a CNN returning last_hidden_state.
    """
    from transformers import AutoModel

    if pretrained == "none":
        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}: choose {', '.join(BACKBONES)} or give --pretrained PATH")
        return random_backbone(name), f"{name}: random initialisation (--pretrained none)"
    source = HUB_NAMES.get(name, name) if pretrained == "auto" else pretrained
    try:
        return AutoModel.from_pretrained(source), f"{name}: weights from {source}"
    except (OSError, ValueError) as exc:
        if name not in BACKBONES:
            raise ValueError(
                f"cannot load {source!r} ({exc.__class__.__name__}) and {name!r} has no built-in config"
            ) from exc
        reason = exc.__class__.__name__
        return random_backbone(name), f"{name}: weights from {source} unavailable ({reason}); random initialisation"


def backbone_channels(backbone: nn.Module) -> int:
    config = backbone.config
    return int(config.hidden_sizes[-1])


class ChestXrayNet(nn.Module):
    """Backbone → 1×1 transition conv (D channels, S×S) → avg/max/LSE pooling → linear prediction (logits)."""

    def __init__(self, backbone: nn.Module, n_labels: int, transition: int = 1024, pool: str = "lse",
                 lse_r: float = 10.0):
        super().__init__()
        if pool not in ("avg", "max", "lse"):
            raise ValueError("pool is avg, max or lse")
        self.backbone = backbone
        self.transition = nn.Conv2d(backbone_channels(backbone), transition, kernel_size=1)
        self.pool, self.lse_r = pool, lse_r
        self.prediction = nn.Linear(transition, n_labels)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.transition(self.backbone(pixel_values=images).last_hidden_state)

    def pooled(self, activations: torch.Tensor) -> torch.Tensor:
        if self.pool == "avg":
            return activations.mean(dim=(2, 3))
        if self.pool == "max":
            return activations.amax(dim=(2, 3))
        return lse_pool(activations, self.lse_r)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.prediction(self.pooled(self.features(images)))

    @torch.no_grad()
    def cam(self, images: torch.Tensor) -> torch.Tensor:
        """Class activation maps (B, K, S, S): prediction weights applied to the transition activations."""
        activations = self.features(images)
        return torch.einsum("kd,bdhw->bkhw", self.prediction.weight, activations)


def init_prediction_bias(model: ChestXrayNet, prevalence: torch.Tensor) -> None:
    """Start the logits at the label prevalence (faster, stabler early training)."""
    with torch.no_grad():
        p = prevalence.clamp(1e-3, 1 - 1e-3)
        model.prediction.bias.copy_(torch.log(p / (1 - p)))


def parameter_count(model: nn.Module) -> int:
    return sum(math.prod(p.shape) for p in model.parameters())
