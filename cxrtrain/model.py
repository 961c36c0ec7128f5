"""The ChestX-ray8 network: a CNN backbone (transformers, or the built-in DenseNet-121 / ResNet) → transition layer
→ global pooling → prediction layer."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cxrlabel.errors import UserError
from cxrtrain.torch_backbones import (
    HUB_WEIGHTS,
    MODEL_TYPE,
    PROVIDER_PREFIXES,
    build_torch_backbone,
    torch_backbone_name,
)
from cxrtrain.torch_backbones import NAMES as TORCH_NAMES
from cxrtrain.weights import load_weights

# Architectures we can build without downloading anything (random init when no weights are reachable).
# Keys are hub names; ALIASES maps the short names accepted on the command line.
CONFIGS = {
    "microsoft/resnet-18": ("resnet", {"depths": [2, 2, 2, 2], "hidden_sizes": [64, 128, 256, 512],
                                       "layer_type": "basic"}),
    "microsoft/resnet-50": ("resnet", {"depths": [3, 4, 6, 3], "hidden_sizes": [256, 512, 1024, 2048],
                                       "layer_type": "bottleneck"}),
    "microsoft/resnet-101": ("resnet", {"depths": [3, 4, 23, 3], "hidden_sizes": [256, 512, 1024, 2048],
                                        "layer_type": "bottleneck"}),
    "facebook/convnext-tiny-224": ("convnext", {"depths": [3, 3, 9, 3], "hidden_sizes": [96, 192, 384, 768]}),
    # a few-thousand-parameter ResNet for tests and smoke runs
    "tiny": ("resnet", {"embedding_size": 8, "depths": [1, 1], "hidden_sizes": [8, 16], "layer_type": "basic"}),
}
ALIASES = {"resnet-18": "microsoft/resnet-18", "resnet-50": "microsoft/resnet-50",
           "resnet-101": "microsoft/resnet-101", "convnext-tiny": "facebook/convnext-tiny-224"}
DEFAULT_BACKBONE = "microsoft/resnet-50"
WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt", ".tar")


def lse_pool(x: torch.Tensor, r: float) -> torch.Tensor:
    """Log-sum-exp pooling over H×W, numerically stable: x* + 1/r · log mean exp(r (x − x*))."""
    flat = x.flatten(2)
    peak = flat.max(dim=2, keepdim=True).values
    return (peak + torch.log(torch.mean(torch.exp(r * (flat - peak)), dim=2, keepdim=True)) / r).squeeze(2)


def backbone_class(config) -> type:
    """The transformers backbone class (AutoBackbone mapping) of a model config."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_BACKBONE_MAPPING

    try:
        return MODEL_FOR_BACKBONE_MAPPING[type(config)]
    except KeyError:
        raise UserError(f"{config.model_type!r} checkpoints have no AutoBackbone class in transformers") from None


def random_backbone(name: str) -> nn.Module:
    """A randomly initialised backbone of a known architecture (built-in torch backbones, CONFIGS / ALIASES, or a
    local checkpoint's config)."""
    from transformers import ConvNextConfig, ResNetConfig

    if torch_backbone_name(name):
        return build_torch_backbone(torch_backbone_name(name))
    _refuse_unknown_provider(name)
    name = ALIASES.get(name, name)
    if Path(name).is_dir():  # a local checkpoint folder: its architecture, fresh weights
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(name)
        return backbone_class(config)(config)
    if name not in CONFIGS:
        raise UserError(f"no built-in configuration for {name!r}: choose one of {', '.join(CONFIGS)} "
                        f"(or {', '.join(ALIASES)}, {', '.join(TORCH_NAMES)}), or give --pretrained with a "
                        "reachable checkpoint")
    family, settings = CONFIGS[name]
    config = (ResNetConfig if family == "resnet" else ConvNextConfig)(**settings)
    return backbone_class(config)(config)


def _refuse_unknown_provider(name: str) -> None:
    if name.startswith(PROVIDER_PREFIXES):
        raise UserError(f"{name}: timm needs torchvision, which this toolkit does not install; built in with "
                        f"timm's and torchvision's parameter names: {', '.join(TORCH_NAMES)} (their weight files "
                        "load with --pretrained PATH); other architectures through transformers (e.g. "
                        "facebook/convnext-tiny-224)")


def pretrained_backbone(source: str) -> nn.Module:
    """Weights and architecture of a hub checkpoint or local folder (the last stage's feature map is used).

    A hub name is read from the local hub cache when there; otherwise one quick metadata request checks that the
    hub answers before downloading (an unreachable hub fails at once instead of after transformers' retries)."""
    if not Path(source).exists():
        try:
            return _from_pretrained(source, local_files_only=True)
        except OSError:
            from huggingface_hub import model_info

            model_info(source, timeout=10)
    return _from_pretrained(source)


def _from_pretrained(source: str, **options) -> nn.Module:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source, **options)
    return backbone_class(config).from_pretrained(source, **options)


def hub_weight_file(repo: str) -> Path:
    """A hub repository's `model.safetensors` (timm's hub layout): from the local cache, else downloaded after one
    quick check that the hub answers."""
    from huggingface_hub import hf_hub_download, model_info
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(repo, "model.safetensors", local_files_only=True))
    except LocalEntryNotFoundError:
        model_info(repo, timeout=10)
    return Path(hf_hub_download(repo, "model.safetensors"))


def _folder_weight_file(folder: Path) -> Path:
    """The weight file of a saved timm / hub folder."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"{folder}: no model.safetensors or pytorch_model.bin in this folder (give the weight file)")


def load_backbone(name: str, pretrained: str) -> tuple[nn.Module, str]:
    """The backbone and a sentence saying where its weights came from (which tensors, for a weight file).

    pretrained: "none" (random init), "auto" (the checkpoint called `name`; timm's hub weights, HUB_WEIGHTS, for the
    built-in torch backbones), a hub name, a local folder (transformers `save_pretrained`), or a weight file
    (`.pth` / `.pt` / `.bin` / `.safetensors`: torchvision, timm, torchxrayvision). A local path must load; a hub
    name that cannot be reached falls back to random init of `name`'s built-in configuration (reason in the note).
    """
    built_in = torch_backbone_name(name)
    name = built_in or ALIASES.get(name, name)
    if pretrained == "none":
        return random_backbone(name), f"{name}: random initialisation (--pretrained none)"
    _refuse_unknown_provider(name)
    source = (HUB_WEIGHTS[built_in] if built_in else name) if pretrained == "auto" else pretrained
    path = Path(source).expanduser()
    if not path.exists() and (path.suffix in WEIGHT_SUFFIXES or source.startswith((".", "/", "~"))):
        raise UserError(f"--pretrained {source}: no such file or folder")
    if path.is_file() or (built_in and path.is_dir()):
        backbone = random_backbone(name)
        report = load_weights(backbone, path if path.is_file() else _folder_weight_file(path), name)
        return backbone, f"{name}: {report.line()}"
    if path.exists():
        try:
            return pretrained_backbone(str(path)), f"{name}: weights from {source}"
        except (OSError, ValueError) as exc:
            raise UserError(f"{source}: not a loadable transformers checkpoint ({exc})") from exc
    try:
        if built_in:
            backbone = random_backbone(name)
            report = load_weights(backbone, hub_weight_file(source), name)
            return backbone, f"{name}: {report.line()}"
        return pretrained_backbone(source), f"{name}: weights from {source}"
    except UserError:
        raise
    except Exception as exc:  # unreachable hub, offline mode, unknown repo: random init when we know the shape
        if name not in CONFIGS and not built_in:
            raise UserError(f"cannot load {source!r} ({exc.__class__.__name__}) and {name!r} has no built-in "
                            "configuration to fall back on") from exc
        reason = exc.__class__.__name__
    return random_backbone(name), f"{name}: weights from {source} unavailable ({reason}); RANDOM initialisation"


class ChestXrayNet(nn.Module):
    """Backbone → 1×1 transition conv (D channels, S×S) → avg/max/LSE pooling → linear prediction (logits)."""

    def __init__(self, backbone: nn.Module, n_labels: int, transition: int = 1024, pool: str = "lse",
                 lse_r: float = 10.0):
        super().__init__()
        if pool not in ("avg", "max", "lse"):
            raise ValueError("pool is avg, max or lse")
        self.backbone = backbone
        self.transition = nn.Conv2d(backbone.channels[-1], transition, kernel_size=1)
        self.pool, self.lse_r = pool, lse_r
        self.prediction = nn.Linear(transition, n_labels)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Transition-layer activations (B, D, S, S)."""
        return self.transition(self.backbone(pixel_values=images).feature_maps[-1])

    def pooled(self, activations: torch.Tensor) -> torch.Tensor:
        if self.pool == "avg":
            return activations.mean(dim=(2, 3))
        if self.pool == "max":
            return activations.amax(dim=(2, 3))
        return lse_pool(activations.float(), self.lse_r)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.prediction(self.pooled(self.features(images)))

    @torch.no_grad()
    def cam(self, images: torch.Tensor) -> torch.Tensor:
        """Class activation maps (B, K, S, S): prediction weights applied to the transition activations."""
        activations = self.features(images).float()
        return torch.einsum("kd,bdhw->bkhw", self.prediction.weight.float(), activations)


def rebuild_model(checkpoint: dict) -> ChestXrayNet:
    """The network of a checkpoint, built from its stored backbone config (no download)."""
    from transformers import AutoConfig

    settings = dict(checkpoint["backbone_config"])
    if settings["model_type"] == MODEL_TYPE:
        backbone = build_torch_backbone(settings["name"])
    else:
        config = AutoConfig.for_model(settings.pop("model_type"), **settings)
        backbone = backbone_class(config)(config)
    model = ChestXrayNet(backbone, len(checkpoint["label_names"]),
                         checkpoint["config"]["transition"], checkpoint["config"]["pool"],
                         checkpoint["config"]["lse_r"])
    model.load_state_dict(checkpoint["model"])
    return model


def init_prediction_bias(model: ChestXrayNet, prevalence: torch.Tensor) -> None:
    """Start the logits at the label prevalence (faster, stabler early training)."""
    with torch.no_grad():
        p = prevalence.clamp(1e-3, 1 - 1e-3)
        model.prediction.bias.copy_(torch.log(p / (1 - p)))
