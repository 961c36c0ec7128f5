"""Shared fixtures: the spaCy parser and the English labeler are loaded once per test session."""

import pytest


@pytest.fixture(scope="session")
def spacy_parser():
    from cxrlabel.en.parse_spacy import SpacyParser

    return SpacyParser()


@pytest.fixture(scope="session")
def en_labeler():
    from cxrlabel.en.labeler import EnglishLabeler
    from cxrlabel.labelsets import load_label_set

    return EnglishLabeler(load_label_set("chestxray14"))
