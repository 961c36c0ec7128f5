"""Backbones and weight files: the built-in DenseNet-121 / ResNet with torchvision's parameter names, and every way of
handing them weights (torchvision / timm `.pth` with wrappers and DDP prefixes, torchvision's old DenseNet keys,
`.safetensors`, a timm hub folder, a hub cache entry, torchxrayvision's pickled 1-channel DenseNet, a transformers
model's weights file), with the one-line report and the refusals. Every weight file is written by the test."""

import importlib
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import save_file
from test_faults_train import ENV, write_dataset

from cxrlabel.errors import UserError
from cxrtrain.model import ChestXrayNet, load_backbone, rebuild_model
from cxrtrain.torch_backbones import build_torch_backbone


@pytest.fixture(scope="module")
def densenet():
    torch.manual_seed(1)
    return build_torch_backbone("densenet121").eval()


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    left, right = a.state_dict(), b.state_dict()
    return left.keys() == right.keys() and all(torch.equal(left[key], right[key]) for key in left)


def test_builtin_shapes_and_torchvision_parameter_counts():
    # torchvision's densenet121 / resnet18 / resnet50 without their 1000-class heads
    # and timm's efficientnet_b0 (5,288,548) without its 1280 → 1000 classifier
    # and convnext_tiny (28,589,128) without its 768 → 1000 head.fc
    counts = {"densenet121": 6_953_856, "resnet18": 11_176_512, "resnet50": 23_508_032, "efficientnet_b0": 4_007_548,
              "convnext_tiny": 27_820_128}
    for name, count in counts.items():
        backbone = build_torch_backbone(name).eval()
        assert sum(p.numel() for p in backbone.parameters()) == count
        feature_map = backbone(pixel_values=torch.zeros(1, 3, 64, 64)).feature_maps[-1]
        assert feature_map.shape == (1, backbone.channels[-1], 2, 2)
    keys = build_torch_backbone("densenet121").state_dict()
    assert "features.denseblock4.denselayer16.conv2.weight" in keys and "features.transition3.conv.weight" in keys
    # torchvision's He-normal init: std √(2 / fan), fan_in for DenseNet (7·7·3), fan_out for ResNet (7·7·64)
    assert abs(keys["features.conv0.weight"].std().item() - (2 / 147) ** 0.5) < 0.01
    assert abs(build_torch_backbone("resnet18").conv1.weight.std().item() - (2 / 3136) ** 0.5) < 0.003


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "ddp"])
def test_pth_state_dict_with_wrappers_and_head(tmp_path, densenet, wrap):
    head = {"classifier.weight": torch.ones(1000, 1024), "classifier.bias": torch.ones(1000)}
    tensors = {**densenet.state_dict(), **head}
    if wrap == "ddp":
        tensors = {"module." + key: value for key, value in tensors.items()}
    content = {wrap: tensors, "epoch": 3} if wrap in ("state_dict", "model") else tensors
    torch.save(content, tmp_path / "weights.pth")
    backbone, note = load_backbone("timm:densenet121", str(tmp_path / "weights.pth"))
    assert same_weights(backbone, densenet)
    assert note.startswith("densenet121: weights from ") and "604/604 tensors loaded" in note
    assert "classifier head ignored: classifier.weight, classifier.bias" in note and "missing" not in note


@pytest.mark.parametrize(("name", "head", "tensors", "timm_key"), [
    ("efficientnet_b0", "classifier", 309, "blocks.1.0.se.conv_reduce.weight"),
    ("convnext_tiny", "head.fc", 180, "stages.1.downsample.1.weight")])
def test_timm_efficientnet_and_convnext_state_dicts(tmp_path, name, head, tensors, timm_key):
    torch.manual_seed(6)
    reference = build_torch_backbone(name).eval()
    classifier = {f"{head}.weight": torch.zeros(1000, reference.channels[-1]), f"{head}.bias": torch.zeros(1000)}
    torch.save({**reference.state_dict(), **classifier}, tmp_path / f"{name}.pth")
    backbone, note = load_backbone(f"timm:{name}", str(tmp_path / f"{name}.pth"))
    assert same_weights(backbone, reference) and f"(state dict): {tensors}/{tensors} tensors loaded" in note
    assert f"classifier head ignored: {head}.weight, {head}.bias" in note
    assert timm_key in reference.state_dict()  # timm's names
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(backbone.eval()(pixel_values=images).feature_maps[-1],
                           reference(pixel_values=images).feature_maps[-1])


def test_torchvision_old_densenet_keys_and_missing_counters(tmp_path, densenet):
    # torchvision's densenet121-a639ec97.pth names dense-layer modules `norm.1`, `conv.2` and has no BN counters
    old = {}
    for key, value in densenet.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        for module in ("norm1", "norm2", "conv1", "conv2"):
            key = key.replace(f".{module}.", f".{module[:-1]}.{module[-1]}.") if "denselayer" in key else key
        old[key] = value
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    torch.save(old, tmp_path / "densenet121-old.pth")
    backbone, note = load_backbone("densenet121", str(tmp_path / "densenet121-old.pth"))
    assert "604/604 tensors loaded" in note and "missing" not in note and "unexpected" not in note
    loaded, reference = backbone.state_dict(), densenet.state_dict()
    assert all(torch.equal(loaded[key], reference[key]) for key in reference if not key.endswith("tracked"))


def test_safetensors_and_timm_hub_folder(tmp_path):
    torch.manual_seed(2)
    reference = build_torch_backbone("resnet18").eval()
    tensors = {key: value.contiguous() for key, value in reference.state_dict().items()}
    tensors["fc.weight"], tensors["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    save_file(tensors, tmp_path / "resnet18.safetensors")
    backbone, note = load_backbone("resnet18", str(tmp_path / "resnet18.safetensors"))
    assert same_weights(backbone, reference) and "(safetensors): 100/100 tensors loaded" in note
    folder = tmp_path / "resnet18.tv_in1k"  # what `huggingface-cli download timm/resnet18.tv_in1k` leaves
    folder.mkdir()
    save_file(tensors, folder / "model.safetensors")
    backbone, note = load_backbone("torchvision:resnet18", str(folder))
    assert same_weights(backbone, reference) and str(folder / "model.safetensors") in note
    with pytest.raises(UserError, match="no model.safetensors or pytorch_model.bin"):
        load_backbone("resnet18", str(tmp_path))


def test_hub_name_from_cache_and_offline_fallback(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    backbone, note = load_backbone("resnet18", "auto")
    assert note == ("resnet18: weights from timm/resnet18.tv_in1k unavailable (OfflineModeIsEnabled); "
                    "RANDOM initialisation") and backbone.channels == [512]
    torch.manual_seed(3)
    reference = build_torch_backbone("resnet18")
    snapshot = tmp_path / "models--timm--resnet18.tv_in1k" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc123")
    save_file({key: value.contiguous() for key, value in reference.state_dict().items()},
              snapshot / "model.safetensors")
    backbone, note = load_backbone("resnet18", "auto")
    assert same_weights(backbone, reference) and "100/100 tensors loaded" in note


XRV_MODULE = """
    from torch import nn
    from cxrtrain.torch_backbones import DenseLayer, DenseNet121

    class _DenseLayer(DenseLayer):
        pass

    class DenseNet(nn.Module):  # torchxrayvision's layout: 1-channel features, 18 outputs, op_threshs
        def __init__(self):
            super().__init__()
            self.features = DenseNet121().features
            self.features.conv0 = nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
            for module in self.features.modules():
                if type(module) is DenseLayer:
                    module.__class__ = _DenseLayer
            self.classifier = nn.Linear(1024, 18)
            self.op_threshs = None
"""


@pytest.mark.parametrize("package_name", ["torchxrayvision", "chexnet_script"])
def test_torchxrayvision_pickled_model_without_the_package(tmp_path, monkeypatch, package_name):
    """torchxrayvision's release files are whole pickled models; neither it nor another saving script's package
    need be importable."""
    package = tmp_path / "fake" / package_name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(textwrap.dedent(XRV_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    torch.manual_seed(4)
    xrv = importlib.import_module(f"{package_name}.models").DenseNet().eval()
    torch.save(xrv, tmp_path / "nih-densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt")
    for module in (package_name, f"{package_name}.models"):
        monkeypatch.delitem(sys.modules, module)
    sys.path.remove(str(tmp_path / "fake"))
    with pytest.raises(ImportError):
        importlib.import_module(package_name)
    backbone, note = load_backbone("densenet121", str(tmp_path / "nih-densenet121-d121-tw-lr001-rot45-tr15-sc15"
                                                               "-seed0-best.pt"))
    assert "(pickled model): 604/604 tensors loaded" in note
    assert "classifier head ignored: classifier.weight, classifier.bias" in note
    assert "adapted: features.conv0.weight (1 → 3 input channels" in note
    grey = torch.rand(2, 1, 64, 64)
    with torch.no_grad():  # the 3-channel copy of a grey image gives torchxrayvision's features
        expected = torch.relu(xrv.features(grey))
        assert torch.allclose(backbone.eval()(pixel_values=grey.expand(-1, 3, -1, -1)).feature_maps[-1], expected,
                              atol=1e-5)


def test_transformers_weight_file_into_transformers_backbone(tmp_path):
    from transformers import ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(embedding_size=8, depths=[1, 1], hidden_sizes=[8, 16], layer_type="basic", num_labels=5)
    classifier = ResNetForImageClassification(config)
    save_file({key: value.contiguous() for key, value in classifier.state_dict().items()},
              tmp_path / "model.safetensors")  # keys `resnet.embedder...`, head `classifier.1.weight`
    backbone, note = load_backbone("tiny", str(tmp_path / "model.safetensors"))
    reference = classifier.resnet.state_dict()
    assert all(torch.equal(value, reference[key]) for key, value in backbone.state_dict().items())
    assert "30/30 tensors loaded; classifier head ignored: classifier.1.bias, classifier.1.weight" in note


def test_refusals(tmp_path, densenet):
    torch.save(densenet.state_dict(), tmp_path / "densenet.pth")
    with pytest.raises(UserError, match=r"only 0 of the backbone's 100 weight tensors .* weights for resnet18\?"):
        load_backbone("resnet18", str(tmp_path / "densenet.pth"))
    (tmp_path / "truncated.pth").write_bytes((tmp_path / "densenet.pth").read_bytes()[:5000])
    with pytest.raises(UserError, match="not a readable weight file"):
        load_backbone("densenet121", str(tmp_path / "truncated.pth"))
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(UserError, match="not a readable .safetensors file"):
        load_backbone("densenet121", str(tmp_path / "bad.safetensors"))
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(UserError, match="holds a list"):
        load_backbone("densenet121", str(tmp_path / "list.pth"))
    with pytest.raises(UserError, match="--pretrained weights/densenet.pth: no such file or folder"):
        load_backbone("densenet121", "weights/densenet.pth")
    with pytest.raises(UserError, match="timm needs torchvision"):
        load_backbone("timm:vit_base_patch16_224", "auto")
    partial = {key: value for key, value in list(densenet.state_dict().items())[:500]}
    torch.save(partial, tmp_path / "partial.pth")
    backbone, note = load_backbone("densenet121", str(tmp_path / "partial.pth"))
    assert "missing: features.denseblock3.denselayer" in note and "features.norm5.weight" in note


def test_checkpoint_rebuilds_builtin_backbone():
    model = ChestXrayNet(build_torch_backbone("resnet18"), 3, transition=8, pool="avg").eval()
    checkpoint = {"model": model.state_dict(), "label_names": ["a", "b", "c"], "backbone_config":
                  model.backbone.config.to_dict(), "config": {"transition": 8, "pool": "avg", "lse_r": 10.0}}
    rebuilt = rebuild_model(checkpoint).eval()
    images = torch.rand(2, 3, 32, 32)
    assert torch.equal(rebuilt(images), model(images))


def test_fit_cli_with_a_weight_file_and_a_refused_one(tmp_path):
    dataset = write_dataset(tmp_path / "dataset")
    torch.manual_seed(5)
    torch.save({"state_dict": build_torch_backbone("resnet18").state_dict()}, tmp_path / "resnet18.pth")
    command = [sys.executable, "-m", "cxrtrain", "fit", dataset, "--backbone", "resnet18", "--transition", "8",
               "--epochs", "1", "--batch-size", "4", "--resize", "36", "--crop", "32"]
    done = subprocess.run([*command, "--out", str(tmp_path / "run"), "--pretrained", str(tmp_path / "resnet18.pth")],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resnet18: weights from " in done.stdout and "(state dict): 100/100 tensors loaded" in done.stdout
    evaluated = subprocess.run([sys.executable, "-m", "cxrtrain", "evaluate", str(tmp_path / "run")],
                               capture_output=True, text=True, env=ENV, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.pth")
    refused = subprocess.run([*command, "--out", str(tmp_path / "run2"), "--pretrained", str(tmp_path / "other.pth")],
                             capture_output=True, text=True, env=ENV, timeout=300)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "only 0 of the backbone's 100 weight tensors" in refused.stderr
