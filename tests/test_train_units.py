"""cxrtrain building blocks on hand-made inputs (CPU, no network): pooling, losses, metrics, boxes, sampling,
transforms, backbone loading."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from cxrlabel.errors import UserError
from cxrtrain.data import Preprocessing, five_crops, image_tensor, model_input
from cxrtrain.heatmap import Box, boxes_from_heatmap, iobb, iou, localisation_scores, normalise_heatmap
from cxrtrain.losses import wcel_loss, wcel_weights
from cxrtrain.metrics import evaluate_scores, mean_average_precision, top3_sensitivity, youden_thresholds
from cxrtrain.model import ChestXrayNet, load_backbone, lse_pool, random_backbone
from cxrtrain.sampling import EpochSampler, label_shares, min_share_weights
from cxrtrain.train import predict


def test_lse_pool_limits():
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    assert torch.allclose(lse_pool(x, 1e-4), x.mean(dim=(2, 3)), atol=1e-3)
    assert torch.allclose(lse_pool(x, 1e4), x.amax(dim=(2, 3)), atol=1e-2)
    mean, peak = x.mean(dim=(2, 3)), x.amax(dim=(2, 3))
    middle = lse_pool(x, 2.0)
    assert ((middle > mean) & (middle < peak)).all()
    big = lse_pool(x.float() * 1e4, 10.0)  # a naive log(mean(exp(r x))) overflows here
    assert torch.isfinite(big).all() and torch.allclose(big, x.float().amax(dim=(2, 3)) * 1e4, rtol=1e-3)


def test_wcel_weights_and_loss():
    targets = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    beta_p, beta_n = wcel_weights(targets)
    assert beta_p.item() == pytest.approx(8 / 2) and beta_n.item() == pytest.approx(8 / 6)
    logits = torch.zeros_like(targets)
    # every entry costs ln 2; 2 positives weighted 4, 6 negatives weighted 8/6, mean over the 8 entries
    assert wcel_loss(logits, targets).item() == pytest.approx(float((2 * 4 + 6 * 8 / 6) * np.log(2) / 8), rel=1e-5)
    all_negative = torch.zeros(2, 3)
    assert wcel_weights(all_negative)[0].item() == 0 and wcel_weights(all_negative)[1].item() == pytest.approx(1.0)


def test_average_precision_and_top3_on_hand_made_cases():
    scores = np.array([[0.9, 0.8, 0.1, 0.05], [0.1, 0.2, 0.3, 0.9], [0.4, 0.3, 0.2, 0.1]])
    targets = np.array([[1, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1]])
    # image 1: true labels at ranks 1 and 3 → (1/1 + 2/3) / 2; image 2: rank 1 → 1; image 3: rank 4 → 1/4
    assert mean_average_precision(targets, scores) == pytest.approx(((1 + 2 / 3) / 2 + 1.0 + 0.25) / 3)
    # an image without a true label has no average precision: it is left out of the mean, not counted as 0 or 1
    unlabelled = np.vstack([targets, np.zeros(4, dtype=int)])
    assert mean_average_precision(unlabelled, np.vstack([scores, scores[:1]])) == pytest.approx(
        mean_average_precision(targets, scores))
    assert mean_average_precision(np.zeros_like(targets), scores) is None
    top3 = top3_sensitivity(targets, scores)
    # label 3 is positive in images 2 (rank 1, in the top 3) and 3 (rank 4, not): 1/2; label 1 has no positive
    assert top3[0] == 1.0 and top3[2] == 1.0 and top3[3] == 0.5 and np.isnan(top3[1])


def test_youden_threshold_and_metrics_at_it():
    targets = np.array([[0], [0], [1], [1], [0]])
    scores = np.array([[0.1], [0.3], [0.6], [0.8], [0.7]])
    threshold = youden_thresholds(targets, scores)[0]
    assert 0.3 < threshold <= 0.6
    metrics = evaluate_scores(targets, scores, ["Effusion"], [threshold])
    row = metrics["labels"]["Effusion"]
    assert row["sensitivity"] == 1.0 and row["specificity"] == pytest.approx(2 / 3) and row["support"] == 2
    assert row["auc"] == pytest.approx(5 / 6) and metrics["mean_auc"] == pytest.approx(5 / 6)


def test_boxes_from_synthetic_heatmap_and_overlaps():
    heat = np.zeros((100, 100))
    heat[20:40, 30:70] = 1.0
    heat[80:90, 80:90] = 0.5
    scaled = normalise_heatmap(heat)
    assert scaled.max() == 255
    high = boxes_from_heatmap(scaled, 180)
    assert high == [Box(30, 20, 40, 20)]
    assert sorted(boxes_from_heatmap(scaled, 60), key=lambda b: b.y) == [Box(30, 20, 40, 20), Box(80, 80, 10, 10)]
    gold = Box(30, 20, 20, 20)
    assert iobb(gold, high[0]) == pytest.approx(0.5) and iou(gold, high[0]) == pytest.approx(0.5)
    inside = Box(35, 25, 5, 5)  # a small detection inside the gold box: IoBB 1, IoU small
    assert iobb(gold, inside) == 1.0 and iou(gold, inside) == pytest.approx(25 / 400)


def test_localisation_accuracy_and_false_positives():
    gold = {("a.png", "Mass"): [Box(0, 0, 10, 10)], ("b.png", "Mass"): [Box(50, 50, 10, 10)]}
    predicted = {("a.png", "Mass"): [Box(0, 0, 10, 20), Box(80, 80, 5, 5)],  # IoBB 0.5 / IoU 0.5, and a stray box
                 ("b.png", "Mass"): []}
    table = localisation_scores(gold, predicted)
    assert table["iobb>=0.25"]["Mass"] == {"accuracy": 0.5, "avg_false_positives": 0.5, "images": 2}
    assert table["iobb>=0.75"]["Mass"]["accuracy"] == 0.0
    assert table["iobb>=0.75"]["Mass"]["avg_false_positives"] == 1.0  # both boxes of a.png miss at 0.75
    assert table["iou>=0.5"]["Mass"]["accuracy"] == 0.5 and table["iou>=0.75"]["Mass"]["accuracy"] == 0.0


def test_min_share_weights_lift_rare_labels_and_down_sample_normal():
    labels = np.zeros((1000, 3))
    labels[:900, 2] = 1  # normal
    labels[900:990, 0] = 1
    labels[990:, 1] = 1  # 1 % rare label
    weights = min_share_weights(labels, 0.1, normal_index=2)
    shares = label_shares(labels, weights)
    assert shares[1] >= 0.1 * 0.999 and shares[0] >= 0.09 * 0.999 and shares[2] < 0.9
    drawn = list(EpochSampler(len(labels), seed=1, weights=weights))
    assert labels[drawn, 1].mean() > 0.05  # drawn with replacement: the rare label now appears often


def test_epoch_sampler_is_seeded_per_epoch_and_shards_like_distributed_sampler():
    sampler = EpochSampler(10, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(10)) and list(EpochSampler(10, seed=3)) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    shards = [EpochSampler(10, seed=3, rank=r, world=3) for r in range(3)]
    drawn = [list(s) for s in shards]
    assert all(len(d) == 4 for d in drawn) and set(sum(drawn, [])) == set(range(10))


def _png(array: np.ndarray) -> Image.Image:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return Image.open(io.BytesIO(buffer.getvalue()))


def test_8_and_16_bit_grey_pngs_give_the_same_tensor():
    ramp = np.tile(np.linspace(0, 1, 64), (48, 1))
    eight = _png((ramp * 255).round().astype(np.uint8))
    sixteen = _png((ramp * 65535).round().astype(np.uint16))
    assert sixteen.mode.startswith("I")
    a, b = image_tensor(eight, 32), image_tensor(sixteen, 32)
    assert a.shape == (1, 32, 32) and torch.allclose(a, b, atol=3e-3)
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    batch = model_input(a[None], Preprocessing(), torch.device("cpu"))
    assert batch.shape == (1, 3, 32, 32)
    assert torch.allclose(batch[0, 0] * 0.229 + 0.485, a[0], atol=1e-6)  # channel 0 undoes with its mean / std
    crops = five_crops(a, 16)
    assert crops.shape == (5, 1, 16, 16)
    assert torch.equal(crops[0], a[:, :16, :16]) and torch.equal(crops[3], a[:, 16:, 16:])


def test_predict_averages_five_crops():
    class MeanOfInput(torch.nn.Module):
        def forward(self, images):
            return images.mean(dim=(1, 2, 3))[:, None]

    prep = Preprocessing(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    five = torch.stack([torch.zeros(5, 1, 4, 4), torch.cat([torch.zeros(4, 1, 4, 4), torch.ones(1, 1, 4, 4)])])
    scores, _ = predict(MeanOfInput(), [(five, torch.zeros(2, 1))], torch.device("cpu"), prep)
    sigmoid = 1 / (1 + np.exp(-1))
    assert np.allclose(scores[:, 0], [0.5, (4 * 0.5 + sigmoid) / 5])


def test_cam_matches_pooled_logits_for_average_pooling():
    torch.manual_seed(0)
    model = ChestXrayNet(random_backbone("tiny"), 3, transition=8, pool="avg").eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits = model(images)
    cams = model.cam(images)
    assert cams.shape[:2] == (2, 3)
    # with average pooling, the CAM's mean plus the bias is the logit
    assert torch.allclose(cams.mean(dim=(2, 3)) + model.prediction.bias, logits, atol=1e-5)


def test_backbone_falls_back_to_random_init_offline_and_loads_local_weights(tmp_path, monkeypatch):
    import huggingface_hub.constants
    from transformers import ResNetConfig, ResNetModel

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    backbone, note = load_backbone("microsoft/resnet-18", "auto")
    assert "RANDOM" in note and backbone.channels[-1] == 512
    with pytest.raises(UserError, match="no built-in configuration"):
        load_backbone("someone/unknown-cnn", "auto")
    reference = ResNetModel(ResNetConfig(embedding_size=8, depths=[1, 1], hidden_sizes=[8, 16], layer_type="basic"))
    reference.save_pretrained(tmp_path / "ckpt")
    loaded, note = load_backbone("tiny", str(tmp_path / "ckpt"))
    assert "weights from" in note
    assert torch.equal(loaded.embedder.embedder.convolution.weight, reference.embedder.embedder.convolution.weight)
    fresh, note = load_backbone(str(tmp_path / "ckpt"), "none")
    assert "random" in note and fresh.channels == [16]
    assert not torch.equal(fresh.embedder.embedder.convolution.weight, reference.embedder.embedder.convolution.weight)
    (tmp_path / "broken").mkdir()
    with pytest.raises(UserError, match="not a loadable"):
        load_backbone("tiny", str(tmp_path / "broken"))
