"""Weight files into a backbone: torchvision / timm `.pth`, `.safetensors`, torchxrayvision model files.

Keys are matched by name after unwrapping (`state_dict` / `model` entries, `module.` and other leading prefixes)
and renaming torchvision's old DenseNet keys (`norm.1` → `norm1`); classifier heads are ignored; the result is
reported in one line, and a file that matches too little of the backbone is refused.
"""

from __future__ import annotations

import pickle
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from cxrlabel.errors import UserError

HEAD_KEYS = re.compile(r"^(classifier|fc|head|last_linear)\.|^op_threshs$")
OLD_DENSENET_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12])\.(\w+)$")  # torchvision < 0.4
COUNTERS = "num_batches_tracked"
MIN_SHARE_LOADED = 0.5  # refuse a file that fills less than this share of the backbone's weights


@dataclass
class LoadReport:
    """Which of the backbone's tensors a file filled, and what it left over."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    head: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return len(self.loaded) + len(self.missing) + len(self.mismatched)

    def line(self) -> str:
        parts = [f"weights from {self.source}: {len(self.loaded)}/{self.expected} tensors loaded"]
        for label, keys in (("missing", self.missing), ("shape differs", self.mismatched),
                            ("unexpected", self.unexpected), ("classifier head ignored", self.head),
                            ("adapted", self.adapted)):
            if keys:
                parts.append(f"{label}: {', '.join(keys)}")
        return "; ".join(parts)


class _ForeignModule(nn.Module):
    """Stands in for a pickled class that cannot be imported here (torchxrayvision's DenseNet, a training script's
    model class ...): it keeps the pickled state, so a module's state_dict() still works."""


class _ForeignUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return _ForeignModule


FOREIGN_PICKLE = SimpleNamespace(Unpickler=_ForeignUnpickler, load=pickle.load, __name__="pickle")


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors of a weight file and a word on its form. `.safetensors` are read as such; other files with
    torch.load (weights only); a pickled whole model (torchxrayvision's release files) is unpickled, with
    classes that cannot be imported (torchxrayvision's, when it is not installed) replaced by plain modules."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(path), "safetensors"
        except Exception as exc:  # header or size errors of several kinds
            raise UserError(f"{path}: not a readable .safetensors file ({exc.__class__.__name__})") from exc
    try:
        content, form = torch.load(path, map_location="cpu", weights_only=True), "state dict"
    except pickle.UnpicklingError:  # a pickled model object, not plain tensors
        try:
            content = torch.load(path, map_location="cpu", weights_only=False, pickle_module=FOREIGN_PICKLE)
        except Exception as exc:
            raise UserError(f"{path}: not a readable weight file ({exc.__class__.__name__}: {exc})") from exc
        form = "pickled model"
    except Exception as exc:  # truncated file, not a torch file at all
        raise UserError(f"{path}: not a readable weight file ({exc.__class__.__name__})") from exc
    return _tensors(content, path), form


def _tensors(content, path: Path) -> dict[str, torch.Tensor]:
    """Unwrap a model object or a checkpoint dict ({'state_dict': ...}, {'model': ...}) down to its tensors."""
    for _ in range(3):
        if isinstance(content, nn.Module):
            content = content.state_dict()
        if isinstance(content, dict):
            for wrapper in ("state_dict", "model", "model_state_dict", "module"):
                if isinstance(content.get(wrapper), dict | nn.Module):
                    content = content[wrapper]
                    break
            else:
                break
    if not isinstance(content, dict):
        raise UserError(f"{path}: holds a {type(content).__name__}, not a state dict or a model")
    tensors = {key: value for key, value in content.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise UserError(f"{path}: no tensors in the file (keys: {', '.join(map(str, list(content)[:5]))})")
    return tensors


def _strip_prefix(tensors: dict[str, torch.Tensor], wanted: set[str]) -> dict[str, torch.Tensor]:
    """Remove the leading prefix (`module.`, `model.`, `densenet121.` ...) under which most keys name a wanted one."""
    prefixes = Counter()
    for key in tensors:
        parts = key.split(".")
        for start in range(len(parts)):
            if ".".join(parts[start:]) in wanted:
                prefixes[".".join(parts[:start])] += 1
                break
    if not prefixes:
        return tensors
    prefix = prefixes.most_common(1)[0][0]
    if not prefix:
        return tensors
    cut = len(prefix) + 1
    return {key[cut:] if key.startswith(prefix + ".") else key: value for key, value in tensors.items()}


def load_weights(backbone: nn.Module, path: Path, name: str) -> LoadReport:
    """Fill `backbone` (called `name`) from a weight file; refuse (UserError) when under half of its weights are
    in it."""
    tensors, form = read_state_dict(path)
    own = backbone.state_dict()
    renamed = {OLD_DENSENET_KEY.sub(r"\1\2.\3", key): value for key, value in tensors.items()}
    renamed = _strip_prefix(renamed, set(own))
    report = LoadReport(f"{path} ({form})")
    chosen, wrong_shape = {}, set()
    for key, value in renamed.items():
        if key not in own:
            (report.head if HEAD_KEYS.search(key) else report.unexpected).append(key)
        elif value.shape == own[key].shape:
            chosen[key] = value
        elif _grey_stem(value, own[key]):
            chosen[key] = value.expand_as(own[key]) / own[key].shape[1]
            report.adapted.append(f"{key} (1 → {own[key].shape[1]} input channels, weights divided among them)")
        else:
            wrong_shape.add(key)
            report.mismatched.append(f"{key} {tuple(value.shape)} vs {tuple(own[key].shape)}")
    report.loaded = [key for key in own if key in chosen and not key.endswith(COUNTERS)]
    report.missing = [key for key in own if key not in chosen and key not in wrong_shape
                      and not key.endswith(COUNTERS)]
    if len(report.loaded) < MIN_SHARE_LOADED * report.expected:
        sample = ", ".join(list(renamed)[:3])
        raise UserError(f"{path}: only {len(report.loaded)} of the backbone's {report.expected} weight tensors are "
                        f"in this file (its keys look like: {sample}); is it weights for {name}?")
    backbone.load_state_dict(chosen, strict=False)
    return report


def _grey_stem(value: torch.Tensor, own: torch.Tensor) -> bool:
    """A first convolution trained on 1-channel images (torchxrayvision) where the backbone takes 3 channels."""
    return value.dim() == 4 and own.dim() == 4 and value.shape[1] == 1 and value.shape[0] == own.shape[0] \
        and value.shape[2:] == own.shape[2:]
