"""docs/api.md is generated (docs/gen_api.py) and must match the code; every public name has a docstring."""
from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT / "docs" / "gen_api.py"
API_MD = ROOT / "docs" / "api.md"


@pytest.fixture(scope="module")
def gen_api():
    spec = importlib.util.spec_from_file_location("scratchcnn_docs_gen_api", GEN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _public(gen_api):
    """(qualified name, object) for every public name of every documented package."""
    for package in gen_api.PACKAGES:
        module = importlib.import_module(package)
        for name in gen_api.public_names(module):
            assert hasattr(module, name), f"{package}.__all__ lists {name!r}, which the package does not define"
            yield f"{package}.{name}", getattr(module, name)


def test_api_md_is_current(gen_api):
    expected = gen_api.render()
    current = API_MD.read_text(encoding="utf-8") if API_MD.exists() else ""
    if current != expected:
        import difflib
        diff = "".join(list(difflib.unified_diff(current.splitlines(True), expected.splitlines(True),
                                                 "docs/api.md", "generated", n=1))[:60])
        pytest.fail("docs/api.md is out of date with the code: run `python docs/gen_api.py` and commit the result.\n"
                    + diff, pytrace=False)


def test_render_is_deterministic(gen_api):
    text = gen_api.render()
    assert text == gen_api.render()
    assert " at 0x" not in text, "a memory address leaked into docs/api.md"
    assert str(ROOT) not in text, "an absolute path leaked into docs/api.md"
    assert str(Path.home()) not in text, "a home path leaked into docs/api.md"


def test_every_public_name_has_a_docstring(gen_api):
    missing = []
    for qualname, obj in _public(gen_api):
        if gen_api.is_data(obj):
            continue  # a plain value (str, tuple, dict, ...) cannot carry a docstring; the page shows its value
        if not gen_api.own_doc(obj).strip():
            missing.append(qualname)
    assert not missing, ("public names without a docstring (write one): "
                         + ", ".join(missing))


def test_every_package_has_a_docstring(gen_api):
    for package in gen_api.PACKAGES:
        assert gen_api.first_paragraph(gen_api.own_doc(importlib.import_module(package))), package


def test_every_cli_verb_is_listed(gen_api):
    from scratchcnn.cli import cli
    text = gen_api.render()
    for name, cmd in cli.commands.items():
        assert f"### scratchcnn {name}\n" in text, name
        for sub in getattr(cmd, "commands", {}):
            assert f"### scratchcnn {name} {sub}\n" in text, f"{name} {sub}"
    assert "## Command line" in text
    for package in gen_api.PACKAGES:
        assert f"- [{package}](#{gen_api.slug(package)})" in text
