"""DenseNet-121 (CheXNet), ResNet, EfficientNet-B0 and ConvNeXt-Tiny backbones in plain torch, with torchvision's /
timm's parameter names.

timm cannot be imported without torchvision, which this toolkit does not install; torchvision's, timm's and
torchxrayvision's DenseNet-121 / ResNet state dicts use the same parameter names as these, and EfficientNet-B0 and
ConvNeXt-Tiny have timm's (`efficientnet_b0`, `convnext_tiny`), so their weight files load here.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers.modeling_outputs import BackboneOutput

MODEL_TYPE = "cxrtrain-torch"
PROVIDER_PREFIXES = ("timm:", "torchvision:")
RESNETS = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet34": ("basic", (3, 4, 6, 3)),
           "resnet50": ("bottleneck", (3, 4, 6, 3)), "resnet101": ("bottleneck", (3, 4, 23, 3))}
NAMES = ("densenet121", *RESNETS, "efficientnet_b0", "convnext_tiny")
ALIASES = {"densenet-121": "densenet121", "efficientnet-b0": "efficientnet_b0"}
# timm's hub repositories of their ImageNet weights (`--pretrained auto`)
HUB_WEIGHTS = {**{name: f"timm/{name}.tv_in1k" for name in ("densenet121", *RESNETS)},
               "efficientnet_b0": "timm/efficientnet_b0.ra_in1k", "convnext_tiny": "timm/convnext_tiny.fb_in1k"}
# EfficientNet-B0 stages: (block kind, repeats, kernel, stride, expansion, output channels)
EFFICIENTNET_B0 = (("ds", 1, 3, 1, 1, 16), ("ir", 2, 3, 2, 6, 24), ("ir", 2, 5, 2, 6, 40), ("ir", 3, 3, 2, 6, 80),
                   ("ir", 3, 5, 1, 6, 112), ("ir", 4, 5, 2, 6, 192), ("ir", 1, 3, 1, 6, 320))


@dataclass
class TorchBackboneConfig:
    """What rebuilds the backbone from a checkpoint (stored like a transformers config)."""

    name: str
    model_type: str = MODEL_TYPE

    def to_dict(self) -> dict:
        return asdict(self)


def torch_backbone_name(name: str) -> str | None:
    """The built-in name behind `name` (`densenet121`, `timm:densenet121`, `torchvision:resnet50` ...), else None."""
    for prefix in PROVIDER_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    name = ALIASES.get(name, name)
    return name if name in NAMES else None


def build_torch_backbone(name: str) -> nn.Module:
    """A randomly initialised built-in backbone (`name` as returned by torch_backbone_name)."""
    if name == "densenet121":
        return DenseNet121()
    if name == "efficientnet_b0":
        return EfficientNetB0()
    if name == "convnext_tiny":
        return ConvNeXtTiny()
    block, depths = RESNETS[name]
    return ResNet(name, block, depths)


class _FeatureBackbone(nn.Module):
    """The transformers backbone interface ChestXrayNet uses: `channels`, `config`, forward(pixel_values=)."""

    def __init__(self, name: str, channels: int):
        super().__init__()
        self.config = TorchBackboneConfig(name)
        self.channels = [channels]

    def forward(self, pixel_values: torch.Tensor) -> BackboneOutput:
        return BackboneOutput(feature_maps=(self.feature_map(pixel_values),))

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _init_convolutions(self, mode: str) -> None:
        """torchvision's random init: He-normal convolutions (BatchNorm starts at 1 / 0 by default)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode=mode, nonlinearity="relu")


class DenseLayer(nn.Module):
    """BN-ReLU-1×1 conv (4k channels) → BN-ReLU-3×3 conv (k channels), concatenated to the input."""

    def __init__(self, channels_in: int, growth: int = 32, bottleneck: int = 4):
        super().__init__()
        self.norm1, self.relu1 = nn.BatchNorm2d(channels_in), nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(channels_in, bottleneck * growth, 1, bias=False)
        self.norm2, self.relu2 = nn.BatchNorm2d(bottleneck * growth), nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bottleneck * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
        return torch.cat([x, new], dim=1)


class DenseNet121(_FeatureBackbone):
    """DenseNet-BC-121 (growth 32, blocks 6-12-24-16): the `features` of torchvision's densenet121, then ReLU."""

    def __init__(self, growth: int = 32, blocks: tuple[int, ...] = (6, 12, 24, 16), stem: int = 64):
        channels = stem
        layers = OrderedDict(conv0=nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False),
                             norm0=nn.BatchNorm2d(stem), relu0=nn.ReLU(inplace=True),
                             pool0=nn.MaxPool2d(3, stride=2, padding=1))
        for index, count in enumerate(blocks, start=1):
            layers[f"denseblock{index}"] = nn.Sequential(OrderedDict(
                (f"denselayer{layer + 1}", DenseLayer(channels + layer * growth, growth)) for layer in range(count)))
            channels += count * growth
            if index < len(blocks):
                layers[f"transition{index}"] = nn.Sequential(OrderedDict(
                    norm=nn.BatchNorm2d(channels), relu=nn.ReLU(inplace=True),
                    conv=nn.Conv2d(channels, channels // 2, 1, bias=False), pool=nn.AvgPool2d(2, stride=2)))
                channels //= 2
        layers["norm5"] = nn.BatchNorm2d(channels)
        super().__init__("densenet121", channels)
        self.features = nn.Sequential(layers)
        self._init_convolutions("fan_in")

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        return F.relu(self.features(images))


class ResidualBlock(nn.Module):
    """torchvision's BasicBlock (two 3×3) or Bottleneck (1×1, strided 3×3, 1×1 ×4), with a projection shortcut."""

    def __init__(self, kind: str, channels_in: int, width: int, stride: int):
        super().__init__()
        expansion = 4 if kind == "bottleneck" else 1
        out = width * expansion
        if kind == "bottleneck":
            self.conv1, self.bn1 = nn.Conv2d(channels_in, width, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3, self.bn3 = nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out)
        else:
            self.conv1 = nn.Conv2d(channels_in, width, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2, self.bn2 = nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(nn.Conv2d(channels_in, out, 1, stride=stride, bias=False),
                                         nn.BatchNorm2d(out))
                           if stride != 1 or channels_in != out else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if hasattr(self, "conv3"):
            y = self.bn3(self.conv3(self.relu(y)))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet(_FeatureBackbone):
    """ResNet-18/34/50/101 as torchvision (and timm) build them: stem, layer1-4; the last feature map."""

    def __init__(self, name: str, kind: str, depths: tuple[int, ...]):
        expansion = 4 if kind == "bottleneck" else 1
        super().__init__(name, 512 * expansion)
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1, self.relu, self.maxpool = nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        channels = 64
        for index, (depth, width) in enumerate(zip(depths, (64, 128, 256, 512), strict=True), start=1):
            blocks = []
            for block in range(depth):
                blocks.append(ResidualBlock(kind, channels, width, 2 if block == 0 and index > 1 else 1))
                channels = width * expansion
            setattr(self, f"layer{index}", nn.Sequential(*blocks))
        self._init_convolutions("fan_out")

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def _conv_bn(channels_in: int, channels_out: int, kernel: int = 1, stride: int = 1, groups: int = 1):
    return (nn.Conv2d(channels_in, channels_out, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(channels_out))


class SqueezeExcite(nn.Module):
    """Channel gate: global mean → 1×1 conv down → SiLU → 1×1 conv up → sigmoid, times the input."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, reduced, 1)
        self.conv_expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv_expand(F.silu(self.conv_reduce(x.mean((2, 3), keepdim=True)))))


class MobileBlock(nn.Module):
    """timm's DepthwiseSeparableConv ("ds": depthwise, SE, pointwise) or InvertedResidual ("ir": pointwise
    expansion, depthwise, SE, linear projection); SE reduced to a quarter of the block's input channels."""

    def __init__(self, kind: str, channels_in: int, channels_out: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        mid = channels_in * expansion
        self.kind, self.skip = kind, stride == 1 and channels_in == channels_out
        if kind == "ds":
            self.conv_dw, self.bn1 = _conv_bn(channels_in, channels_in, kernel, stride, groups=channels_in)
            self.se = SqueezeExcite(channels_in, channels_in // 4)
            self.conv_pw, self.bn2 = _conv_bn(channels_in, channels_out)
        else:
            self.conv_pw, self.bn1 = _conv_bn(channels_in, mid)
            self.conv_dw, self.bn2 = _conv_bn(mid, mid, kernel, stride, groups=mid)
            self.se = SqueezeExcite(mid, channels_in // 4)
            self.conv_pwl, self.bn3 = _conv_bn(mid, channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "ds":
            y = self.bn2(self.conv_pw(self.se(F.silu(self.bn1(self.conv_dw(x))))))
        else:
            y = F.silu(self.bn2(self.conv_dw(F.silu(self.bn1(self.conv_pw(x))))))
            y = self.bn3(self.conv_pwl(self.se(y)))
        return y + x if self.skip else y


class EfficientNetB0(_FeatureBackbone):
    """EfficientNet-B0 as timm's `efficientnet_b0` builds it (symmetric padding, SiLU): stem, 7 stages of
    MobileBlocks, 1×1 head conv to 1280 channels."""

    def __init__(self):
        super().__init__("efficientnet_b0", 1280)
        self.conv_stem, self.bn1 = _conv_bn(3, 32, 3, 2)
        channels, stages = 32, []
        for kind, repeats, kernel, stride, expansion, out in EFFICIENTNET_B0:
            blocks = []
            for index in range(repeats):
                blocks.append(MobileBlock(kind, channels, out, kernel, stride if index == 0 else 1, expansion))
                channels = out
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.conv_head, self.bn2 = _conv_bn(channels, 1280)
        self._init_convolutions("fan_out")

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.silu(self.bn1(self.conv_stem(images))))
        return F.silu(self.bn2(self.conv_head(x)))


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an N×C×H×W map (timm's LayerNorm2d, eps 1e-6)."""

    def __init__(self, channels: int):
        super().__init__(channels, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """7×7 depthwise conv → LayerNorm → MLP (4×, GELU) → layer scale `gamma`, plus the input (timm's layout)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv_dw = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.mlp = nn.Sequential(OrderedDict(fc1=nn.Linear(channels, 4 * channels), act=nn.GELU(),
                                             fc2=nn.Linear(4 * channels, channels)))
        self.gamma = nn.Parameter(torch.full((channels,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mlp(self.norm(self.conv_dw(x).permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        return x + y * self.gamma.reshape(1, -1, 1, 1)


class ConvNeXtTiny(_FeatureBackbone):
    """ConvNeXt-Tiny as timm's `convnext_tiny` (4×4 patch stem, stages 3-3-9-3 of 96-192-384-768 channels); its
    head LayerNorm (`head.norm`) normalises the last feature map here."""

    def __init__(self, depths: tuple[int, ...] = (3, 3, 9, 3), dims: tuple[int, ...] = (96, 192, 384, 768)):
        super().__init__("convnext_tiny", dims[-1])
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, stride=4), LayerNorm2d(dims[0]))
        stages = []
        for index, (depth, width) in enumerate(zip(depths, dims, strict=True)):
            stage = nn.Module()
            stage.downsample = (nn.Sequential(LayerNorm2d(dims[index - 1]), nn.Conv2d(dims[index - 1], width, 2, 2))
                                if index else nn.Identity())
            stage.blocks = nn.Sequential(*[ConvNeXtBlock(width) for _ in range(depth)])
            stages.append(stage)
        self.stages = nn.ModuleList(stages)
        self.head = nn.Module()
        self.head.norm = LayerNorm2d(dims[-1])
        for module in self.modules():  # timm's init
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images)
        for stage in self.stages:
            x = stage.blocks(stage.downsample(x))
        return self.head.norm(x)
