"""Every command's --help: each flag explained, each default shown once."""

import argparse
import importlib
import re

import pytest

COMMANDS = ("train", "evaluate", "upscale", "tune", "export", "import_weights", "ship", "interpolate")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_has_help_and_one_default(command):
    parser = importlib.import_module(f"tfsr.{command}").build_parser()
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and len(action.help) > 10, f"tfsr.{command} {action.option_strings}: no help text"
        shown = formatter._get_help_string(action) % {**vars(action), "default": action.default}
        assert shown.count("(default") <= 1, f"tfsr.{command} {action.option_strings}: {shown!r}"
        assert "(default: None)" not in shown and "(default: False)" not in shown, shown
    text = parser.format_help()
    assert not re.search(r"\(default: [^)]*\)\s*\(default", text)
