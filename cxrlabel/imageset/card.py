"""The dataset card (README.md of the dataset folder): a `huggingface_hub.DatasetCard` rendered from a template,
with the Hub metadata in its YAML header, the build's provenance, its privacy measures and per-split counts."""

from __future__ import annotations

import hashlib

from cxrlabel.resources import rules_dir

CARD_TEMPLATE = """---
{{ card_data }}
---

# Chest X-ray dataset built by cxrlabel

- built by: cxrlabel {{ version }} (`cxrlabel build`)
- {{ labels_line }}
- images: {{ image_line }}
- {{ split_line }}
{% if shard %}- **shard {{ shard.index }} of {{ shard.count }}** (`--shard`): only the rows of the patients whose key \
hashes to this shard; the other shards hold the rest. `cxrlabel merge OUT SHARD_DIR...` joins all {{ shard.count }} \
(`datasets.concatenate_datasets` per split). The counts below are this shard's; `reports_in_labels`, \
`skipped_non_image_files`, `listed_without_image_file` and `ambiguous_file_names` in `summary.json` are the whole \
input's
{% endif %}{% if merged_from %}- joined by `cxrlabel merge` from the {{ merged_from.count }} shards of \
`cxrlabel build --shard I/N` (split of the input by patient); the counts below are the whole dataset's
{% endif %}- uncertain labels: {{ uncertain }} (ignore: kept as uncertain; zeros: negative; ones: positive)
- `patient_id` and `source_path` are keyed hashes (HMAC-SHA256 with a secret that is not stored here); \
report ids {{ "are keyed hashes too" if report_ids_hashed else "are as mined" }}
- features: {{ features }}
- {{ text_line }}
- load with `datasets.load_from_disk(PATH)`; parquet shards under `parquet/<split>/`; problems in \
`errors.csv` ({{ errors }})

## Positive labels per split

| label | {{ splits | join(" | ") }} |
|---|{{ "---:|" * (splits | length) }}
{% for row in table %}| {{ row | join(" | ") }} |
{% endfor %}
Uncertain and negative counts per label: `summary.json`.
{% if notes %}
## Label notes (from the label set)

{% for name, note in notes %}- `{{ name }}`: {{ note }}
{% endfor %}{% endif %}
## Rule files (sha256, first 16 hex digits)

{% for name, digest in checksums.items() %}- `{{ name }}` {{ digest }}
{% endfor %}"""


def rules_checksums(lang: str = "") -> dict[str, str]:
    """sha256 (16 hex digits) of the rule files a labeler of `lang` reads (all languages when unknown)."""
    root = rules_dir()
    suffixes = (".yml", ".yaml", ".txt", ".tsv", ".json")
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in suffixes]
    if lang:
        files = [p for p in files if p.relative_to(root).parts[0] in (lang, "labelsets")]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in files}


def label_descriptions(label_set: str) -> dict[str, str]:
    """Label name → description from the shipped label set named by `cxrlabel mine` (empty when unknown)."""
    from cxrlabel.labelsets import available_label_sets, load_label_set

    if label_set not in available_label_sets():
        return {}
    return {label.name: label.description for label in load_label_set(label_set).labels}


def _labels_line(summary: dict) -> str:
    labeler, label_set = summary["labeler"], summary["label_set"]
    if "cxrlabel_version" in labeler:
        return (f"labels mined by: cxrlabel {labeler['cxrlabel_version']}, language `{labeler.get('lang', '?')}`, "
                f"label set `{label_set or 'unknown'}`")
    unnamed = "the table columns" if summary.get("source_kind") == "table" else "unknown"
    return f"labels: {summary.get('source', '?')}, label set `{label_set or unnamed}`"


def _split_line(summary: dict) -> str:
    if summary.get("split_from"):
        return (f"splits as given by the source ({summary['split_from']}); {summary['patients_in_two_splits']} "
                "patients are in more than one split")
    return f"splits by patient (no patient in two splits), ratios {summary['split_ratios']}, seed {summary['seed']}"


def dataset_card(summary: dict, checksums: dict[str, str], descriptions: dict[str, str]):
    """The card of a build from its summary.json, the rule-file checksums and the label set's descriptions."""
    from huggingface_hub import DatasetCard, DatasetCardData

    splits = summary["splits"]
    names = summary["label_names"]
    table = [[name, *(s["positive"][name] for s in splits.values())] for name in names]
    table += [["(no positive label)", *(s["rows_without_positive"] for s in splits.values())],
              ["**rows**", *(s["rows"] for s in splits.values())],
              ["patients", *(s["patients"] for s in splits.values())]]
    text = summary["text"]
    card_data = DatasetCardData(task_categories=["image-classification" if summary["images"] else
                                                 "text-classification"], tags=["chest-x-ray", "multi-label"])
    return DatasetCard.from_template(
        card_data, template_str=CARD_TEMPLATE,
        version=summary["cxrlabel_version"],
        labels_line=_labels_line(summary),
        image_line=(f"{summary['size']}×{summary['size']} PNG, {summary['bits']}-bit, aspect kept by black padding, "
                    f"views: {summary['views']}" if summary["images"] else "none (text-only label dataset)"),
        split_line=_split_line(summary),
        shard=summary.get("shard"),
        merged_from=summary.get("merged_from"),
        uncertain=summary.get("uncertain", "ignore"),
        report_ids_hashed=summary["report_ids_hashed"],
        features=(f"{'`image`, ' if summary['images'] else ''}`labels` (indices of the positive labels; names in the "
                  "ClassLabel feature), `label_states` (positive / negative / uncertain / empty per label, label "
                  "order), `report_id`, `patient_id`, `view`, " + "".join(f"`{field}`, " for field in text)
                  + "`source_path`"),
        text_line=("report text: " + " and ".join(text) + ", de-identified with Microsoft Presidio (names, dates, "
                   "identifiers, phone numbers, places replaced by <PERSON>, <DATE>, <ID> ...; automatic, so review "
                   "before sharing)") if text else "report text: none stored",
        errors=summary["errors"],
        splits=list(splits), table=table,
        notes=[(name, " ".join(descriptions[name].split())) for name in names if descriptions.get(name)],
        checksums=checksums)
