"""docs/cli.md is generated from the parser and must match it."""

from pathlib import Path

from fercls.cli import build_parser, reference_markdown

PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_the_cli_page_is_the_generated_reference():
    assert PAGE.read_text() == reference_markdown() + "\n", (
        "docs/cli.md is stale: python -c 'from fercls.cli import reference_markdown as r; "
        "print(r())' > docs/cli.md"
    )


def test_every_option_of_every_subcommand_is_on_the_page():
    text = PAGE.read_text()
    parser = build_parser()
    (commands,) = [a for a in parser._actions if hasattr(a, "choices") and a.dest == "command"]
    for name, sub in commands.choices.items():
        assert f"## `fercls {name}`" in text
        for action in sub._actions:
            for option in set(action.option_strings) - {"-h", "--help"}:
                assert f"`{option}`" in text, f"fercls {name} {option} is not documented"
