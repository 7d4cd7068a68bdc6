"""The README's promises that a test can check: its commands and its layout."""

from __future__ import annotations

import importlib
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


# -- the numbers and the command lines

PERFORMANCE = (ROOT / "docs" / "performance.md").read_text()
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
VERSIONS = {"3.11", "1.60", "1.67", "0.1.0"}  # Python's, Streamlit's, the weights wheel's: not measured figures


def _prose(markdown: str) -> str:
    """The text outside fenced code blocks, links' targets and pictures' paths."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return re.sub(r"\]\([^)]*\)", "]", text)


def readme_figures() -> set[str]:
    """What the README quotes as measurements: decimals, and whole numbers with their unit ("32 s")."""
    text = " ".join(_prose(README).split())
    decimals = set(re.findall(r"(?<![\w.])(\d+\.\d+)(?![\w.]*\d)", text))
    with_units = set(re.findall(r"(?<![\w.])(\d+ (?:s|ms|min|minutes|GB|MB))\b", text))
    return (decimals | with_units) - VERSIONS


def test_every_figure_the_readme_quotes_is_in_the_performance_page() -> None:
    figures = readme_figures()
    assert {"84.9", "0.27", "11.6", "0.22", "32 s"} <= figures  # the extraction finds them
    performance = " ".join(PERFORMANCE.split())
    missing = sorted(f for f in figures if not re.search(rf"(?<![\w.]){re.escape(f)}(?![\d])", performance))
    assert not missing, f"README figures not in docs/performance.md: {missing}"


def _command_lines() -> list[tuple[str, str]]:
    """(page, command) for every `python -m nst` and `python benchmarks/...` command the docs show."""
    found = []
    for page in DOCS:
        text = page.read_text()
        blocks = re.sub(r"\\\n\s*", " ", "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S)))
        spans = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        for line in [*blocks.splitlines(), *(" ".join(span.split()) for span in spans)]:
            line = line.split(" #")[0].strip()
            command = re.search(r"python -m nst\b.*|python benchmarks/\S+\.py.*", line)
            if (
                command
                and " " in command.group(0).removeprefix("python -m nst")
                and not re.search(r"\[|\.\.\.|…|PHOTO|CONTENT|CLIP ", command.group(0))
            ):
                found.append((page.name, command.group(0)))
    return found


def _parses(command: str) -> None:
    import shlex

    words = shlex.split(command)
    if words[1] == "-m":
        from nst.commands import COMMANDS

        rest = words[3:]
        name, rest = (rest[0], rest[1:]) if rest[:1] and rest[0] in COMMANDS else ("picture", rest)
        module = importlib.import_module(f"nst.commands.{name}")
        module.build_parser().parse_args(rest)
    else:
        source = (ROOT / words[1]).read_text()
        for option in (word.split("=")[0] for word in words[2:] if word.startswith("--")):
            assert f'"{option}"' in source, f"{words[1]} has no option {option}"


def test_every_command_line_in_the_docs_is_accepted_by_its_command(capsys) -> None:
    commands = _command_lines()
    assert len(commands) > 40
    refused = []
    for page, command in commands:
        try:
            _parses(command)
        except SystemExit as error:
            if error.code != 0:  # --help exits with 0
                refused.append(f"{page}: `{command}`: {capsys.readouterr().err.strip().splitlines()[-1]}")
        except AssertionError as error:
            refused.append(f"{page}: `{command}`: {error}")
    assert not refused, "\n".join(refused)
