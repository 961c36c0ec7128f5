"""Locate and load the shipped `rules/` data files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from cxrlabel.errors import UserError


def rules_dir() -> Path:
    """The rules folder: $CXRLABEL_RULES when set (its YAML files checked once), else the installed one."""
    override = os.environ.get("CXRLABEL_RULES")
    if override:
        return check_rules_folder(Path(override))
    return Path(str(resources.files("cxrlabel_rules")))


@cache
def check_rules_folder(folder: Path) -> Path:
    """A user's rules folder, after checking each of its YAML files against its kind's schema (a UserError
    names the first problem).

    Checked in the main process, before worker processes start, so a broken file is one clear message.
    """
    if not folder.is_dir():
        raise UserError(f"{folder}: CXRLABEL_RULES names no folder")
    from cxrlabel.schema import check_folder  # the schema reads its files through this module

    check_folder(folder)
    return folder


def rules_path(*parts: str) -> Path:
    return rules_dir().joinpath(*parts)


def yaml_error_message(path: Path, exc: yaml.YAMLError) -> str:
    """One line: `file:line: what is wrong` (a python tag or other unsafe YAML says so)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark else 1
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if "could not determine a constructor" in str(exc):
        problem = f"unsafe or unknown YAML tag ({problem.split('tag ')[-1]}); only plain YAML is read"
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else problem
    return f"{path}:{line}: YAML error: {' '.join(detail.split())}"


Location = tuple[str | int, ...]  # keys and list indices from the top of a YAML document


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file and the line of each mapping key and list item (`("labels", 0, "name")` → 7)."""

    path: Path
    data: object
    lines: dict[Location, int] = field(default_factory=dict)

    def line(self, location: Location) -> int:
        """The line of `location`, else of its nearest enclosing key or item (1: the top of the file)."""
        for end in range(len(location), 0, -1):
            if location[:end] in self.lines:
                return self.lines[location[:end]]
        return 1


def _record_lines(node: yaml.Node, location: Location, line: int, lines: dict[Location, int],
                  inside: frozenset[int] = frozenset()) -> None:
    """Note the line of `location` and of everything below it (`inside`: the nodes above, so that an alias of
    an enclosing node is not walked for ever)."""
    lines.setdefault(location, line)
    inside = inside | {id(node)}
    if isinstance(node, yaml.MappingNode):
        children = [((*location, key.value), value, key.start_mark.line + 1)
                    for key, value in node.value if isinstance(key, yaml.ScalarNode)]
    elif isinstance(node, yaml.SequenceNode):
        children = [((*location, index), item, item.start_mark.line + 1) for index, item in enumerate(node.value)]
    else:
        return
    for child_location, child, child_line in children:
        lines.setdefault(child_location, child_line)
        if id(child) not in inside:
            _record_lines(child, child_location, child_line, lines, inside)


@cache
def read_yaml(path: Path) -> YamlDocument:
    """Parse a YAML file once per process, with the line of every key and item; a syntax error or an unsafe
    tag is a UserError with file:line."""
    try:
        with open(path, encoding="utf-8") as handle:
            loader = yaml.SafeLoader(handle)
            try:
                node = loader.get_single_node()
                lines: dict[Location, int] = {}
                if node is not None:
                    _record_lines(node, (), 1, lines)
                return YamlDocument(path, loader.construct_document(node) if node is not None else None, lines)
            finally:
                loader.dispose()
    except yaml.YAMLError as exc:
        raise UserError(yaml_error_message(path, exc)) from None
    except UnicodeDecodeError:
        raise UserError(f"{path}:1: not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None


def load_yaml(path: Path) -> object:
    """The data of a YAML file (parsed once per process, see read_yaml)."""
    return read_yaml(path).data
