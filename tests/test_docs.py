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


def test_the_architecture_section_names_every_engine_module() -> None:
    for module in sorted((ROOT / "nst").glob("*.py")):
        if module.name != "__init__.py":
            assert module.name in README, module.name


def test_the_engine_never_imports_streamlit() -> None:
    for module in (ROOT / "nst").glob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+streamlit", module.read_text(), re.M), module.name
