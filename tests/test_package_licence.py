"""The package states its own licence and, apart, the terms of the OpenI report text it bundles."""

from importlib.metadata import metadata
from pathlib import Path

import cxrlabel

DATA = Path(cxrlabel.__file__).parent / "data" / "openi"


def test_metadata_names_the_code_licence_and_both_licence_files():
    meta = metadata("cxrlabel")
    assert meta.get("License-Expression") == "Apache-2.0"
    assert set(meta.get_all("License-File")) == {"LICENSE", "cxrlabel/data/openi/LICENSE.md"}


def test_bundled_data_licence_sits_beside_the_data_it_describes():
    text = (DATA / "LICENSE.md").read_text(encoding="utf-8")
    assert "CC BY-NC-ND 4.0" in text and "public domain" in text
    for name in ("reports_dev.csv", "gold_dev.csv"):
        assert (DATA / name).is_file() and f"`{name}`" in text
    root_licence = Path(cxrlabel.__file__).parents[1] / "LICENSE"
    assert root_licence.read_text(encoding="utf-8").lstrip().startswith("Apache License")
