"""Shared fixtures: the spaCy parser and the English labeler are loaded once per test session; no test sees the
CXRLABEL_* settings of the shell that runs pytest."""

import os

import pytest

from tests.test_registry_core_install import core_env  # noqa: F401 (the core-install environment, for any test)


def pytest_configure(config):
    """Before collection (some test modules read the rules when imported): CXRLABEL_RULES (another rules folder)
    or CXRLABEL_ID_SALT set where pytest runs would change what the tests see, in process and in the commands they
    start. A test that wants one sets it itself."""
    for name in [name for name in os.environ if name.startswith("CXRLABEL_")]:
        del os.environ[name]


@pytest.fixture(scope="session")
def spacy_parser():
    from cxrlabel.en.parse_spacy import SpacyParser

    return SpacyParser()


@pytest.fixture(scope="session")
def en_labeler():
    from cxrlabel.en.labeler import EnglishLabeler
    from cxrlabel.labelsets import load_label_set

    return EnglishLabeler(load_label_set("chestxray14"))
