"""Mention → label aggregation (cxrlabel.aggregation) alone, and both labelers deciding through it."""

from pathlib import Path

import pytest
import yaml

from cxrlabel.aggregation import Aggregator, strongest
from cxrlabel.en.labeler import EnglishLabeler
from cxrlabel.labelsets import LabelSet, LabelSpec, load_label_set
from cxrlabel.resources import rules_path
from cxrlabel.types import Mention, Report, State
from cxrlabel.zh.labeler import ChineseLabeler

P, U, N = State.POSITIVE, State.UNCERTAIN, State.NEGATIVE


@pytest.mark.parametrize(
    ("states", "expected"),
    [([N, U, P], P), ([P, N], P), ([N, U, N], U), ([U, N], U), ([N, N], N), ([], None)],
)
def test_strongest_state_wins_in_any_order(states, expected):
    assert strongest(states) == expected
    assert strongest(reversed(states)) == expected


def mention(finding, state):
    return Mention("r", finding, "findings", f"{finding} sentence", 0, len(finding), finding, state, "test.rule")


def aggregator(ruled_out_by=("positive", "uncertain")):
    """Effusion counts two findings, Opacity shares one of them; granuloma is abnormal but no label counts it;
    'normal_heart' is a finding that is not abnormal."""
    label_set = LabelSet(name="test", lang="en", normal_ruled_out_by=ruled_out_by, labels=(
        LabelSpec("Effusion", ("pleural_effusion", "hydrothorax")),
        LabelSpec("Opacity", ("pleural_effusion", "consolidation")),
        LabelSpec("Heart", ("normal_heart",)),
        LabelSpec("normal", derived="normal"),
    ))
    labels_of = {"pleural_effusion": ["Effusion", "Opacity"], "hydrothorax": ["Effusion"],
                 "consolidation": ["Opacity"], "normal_heart": ["Heart"]}
    abnormal = frozenset({"pleural_effusion", "hydrothorax", "consolidation", "granuloma"})
    return Aggregator(label_set, labels_of, abnormal)


def test_a_label_takes_the_strongest_state_of_all_its_findings_mentions():
    labels = aggregator().labels([mention("pleural_effusion", N), mention("hydrothorax", U),
                                  mention("consolidation", N), mention("pleural_effusion", N)])
    assert labels == {"Effusion": U, "Opacity": N, "normal": N}
    assert list(labels) == ["Effusion", "Opacity", "normal"]  # label-set order


def test_labels_no_mention_counts_are_left_out_and_nothing_mentioned_is_normal():
    assert aggregator().labels([]) == {"normal": P}
    assert aggregator().labels([mention("granuloma", N)]) == {"normal": P}  # a negated abnormal finding
    assert aggregator().labels([mention("normal_heart", P)]) == {"Heart": P, "normal": P}  # not abnormal


@pytest.mark.parametrize(
    ("state", "default", "positive_only"),
    [(P, N, N), (U, N, P), (N, P, P)],
)
def test_normal_under_both_settings(state, default, positive_only):
    for finding in ("hydrothorax", "granuloma"):  # counted by a label or by none: both abnormal
        assert aggregator().labels([mention(finding, state)])["normal"] == default
        assert aggregator(("positive",)).labels([mention(finding, state)])["normal"] == positive_only


def test_rules_out_normal_names_the_mention():
    uncertain = mention("consolidation", U)
    assert aggregator().rules_out_normal(uncertain)
    assert not aggregator(("positive",)).rules_out_normal(uncertain)
    assert not aggregator().rules_out_normal(mention("normal_heart", P))


def with_ruled_out_by(tmp_path: Path, shipped: str, states: list[str]) -> LabelSet:
    """A copy of a shipped label set whose `normal_ruled_out_by` is `states` (and whose labels include normal)."""
    data = yaml.safe_load(rules_path("labelsets", f"{shipped}.yml").read_text(encoding="utf-8"))
    data["normal_ruled_out_by"] = states
    if not any(label.get("derived") for label in data["labels"]):
        data["labels"].append({"name": "normal", "derived": "normal"})
    path = tmp_path / f"{shipped}_{'_'.join(states)}.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_label_set(str(path))


def labels_of(labeler, report):
    return labeler.label_batch([report])[0].labels


def test_english_labeler_aggregates_through_the_label_sets_option(tmp_path, en_labeler):
    assert isinstance(en_labeler.aggregator, Aggregator)
    assert en_labeler.aggregator.label_set.normal_ruled_out_by == ("positive", "uncertain")
    hedged = Report(id="r", text="Possible pneumothorax.")
    assert labels_of(en_labeler, hedged) == {"Pneumothorax": U, "normal": N}
    positive_only = EnglishLabeler(with_ruled_out_by(tmp_path, "chestxray14", ["positive"]))
    assert labels_of(positive_only, hedged) == {"Pneumothorax": U, "normal": P}
    assert labels_of(positive_only, Report(id="r", text="Small left pneumothorax."))["normal"] == N


def test_chinese_clusters_labeler_aggregates_through_the_label_sets_option(tmp_path):
    dong10 = ChineseLabeler(load_label_set("dong10"))
    assert isinstance(dong10.aggregator, Aggregator)
    hedged = Report(id="r", text="", sections={"diagnosis": "不除外支气管炎，两肺纹理增多"})
    assert labels_of(dong10, hedged) == {"normal": N, "increased_lung_marking": P, "bronchitis": U}
    only_hedged = Report(id="r", text="", sections={"diagnosis": "不除外支气管炎"})
    assert labels_of(dong10, only_hedged) == {"normal": P, "bronchitis": U}
    uncertain_too = ChineseLabeler(with_ruled_out_by(tmp_path, "dong10", ["positive", "uncertain"]))
    assert labels_of(uncertain_too, only_hedged) == {"normal": N, "bronchitis": U}


def test_chinese_regions_labeler_derives_normal_when_its_label_set_has_one(tmp_path):
    regions = ChineseLabeler(with_ruled_out_by(tmp_path, "regions5", ["positive"]))
    assert isinstance(regions.aggregator, Aggregator)
    seen = labels_of(regions, Report(id="r", text="", sections={"findings": "两肺纹理增多。心影不大。"}))
    assert seen["lungs"] == P and seen["heart"] == N and seen["normal"] == N
    clear = labels_of(regions, Report(id="r", text="", sections={"findings": "心影不大。两膈面光整。"}))
    assert clear["normal"] == P and clear["heart"] == N
