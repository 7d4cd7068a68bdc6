"""The README's promises that a test can check: its commands and its layout."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(python3 -m venv \.venv && .+?)\n```", README)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_commands = [c for c in readme_commands() if "pytest" in c]
    assert len(test_commands) == 1
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_commands[0] in ci


def test_the_architecture_page_names_every_module_of_the_engine_and_the_app() -> None:
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    for module in sorted([*(ROOT / "nst").glob("*.py"), *(ROOT / "webapp").glob("*.py")]):
        if module.name != "__init__.py":
            assert module.name in architecture, module.name


def test_every_link_to_a_page_or_picture_of_the_project_leads_somewhere() -> None:
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+?)\)", page.read_text()):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), (page.name, target)


def test_the_docs_speak_of_the_project_not_of_its_tracker() -> None:
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        text = page.read_text().lower()
        for words in ("the issue", "issue's", "was lent", "sessions so far"):
            assert words not in text, (page.name, words)


def test_the_app_script_is_only_the_page_outline() -> None:
    assert len((ROOT / "streamlit_app.py").read_text().splitlines()) < 150


def test_the_engine_never_imports_streamlit_or_the_app() -> None:
    for module in (ROOT / "nst").glob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+(streamlit|webapp)", module.read_text(), re.M), module.name


def test_the_examples_in_the_engines_docstrings_run() -> None:
    import doctest
    import importlib
    import pkgutil

    import nst

    attempted = 0
    for info in pkgutil.iter_modules(nst.__path__):
        if info.name != "__main__":
            result = doctest.testmod(importlib.import_module(f"nst.{info.name}"))
            assert result.failed == 0, info.name
            attempted += result.attempted
    assert attempted >= 8
