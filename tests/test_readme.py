"""The README's promises that a test can hold it to."""

from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_one_command_for_the_demo_and_one_for_the_tests():
    """On a machine without torch, the first line installs torch before the pack, then runs the demo."""
    block = README.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    assert commands == [
        "pip install torch==2.13.0 && pip install -e . && python -m nava_model demo --out demo.mp4",
        'pip install -e ".[test]" && python -m pytest -q',
    ]


def test_ci_runs_the_readme_install_and_test_commands():
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    for command in ("pip install -q torch==2.13.0", 'pip install -q -e ".[test]"', "python -m pytest -q"):
        assert command in ci
