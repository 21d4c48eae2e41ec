"""Every command's --help: each flag explained, each default shown once, fast, under the name the user typed."""

import argparse
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = ("train", "evaluate", "upscale", "tune", "export", "import_weights", "ship", "interpolate", "teach")


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


@pytest.mark.parametrize("command", COMMANDS)
def test_help_imports_no_tensorflow_and_names_the_command_as_typed(command):
    code = (f"import sys; sys.argv[0] = {'/venv/bin/tfsr-' + command.replace('_', '-')!r}\n"
            f"from tfsr import {command} as c\n"
            "try:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.startswith(f"usage: tfsr-{command.replace('_', '-')} ")
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_the_help_lists_the_registrys_architectures():
    from tfsr.models import ARCHITECTURES, ARCHS
    assert ARCHITECTURES == tuple(ARCHS)


def test_an_unknown_model_name_is_one_line_listing_the_presets_with_a_guess(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tfsr.upscale", "photo.png", "--model", "wdsr_b_x4_rael",
                          "--output", str(tmp_path / "sr")], capture_output=True, text=True, check=False)
    assert out.returncode == 2
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("error: wdsr_b_x4_rael: not a preset and no such file or folder (presets: wdsr_b_x2, ")
    assert line.endswith("(did you mean wdsr_b_x4_real?))")
    assert not (tmp_path / "sr").exists()


MISSING = {"train": (["--dataset", "/nonexist/photos"], "/nonexist/photos: folder does not exist"),
           "tune": (["--arch", "wdsr_b", "--dataset", "/nonexist/photos"], "/nonexist/photos: folder does not exist"),
           "evaluate": (["--model", "nothere.keras", "--dataset", "set5"], "nothere.keras: no such file or folder"),
           "export": (["wdsr_b_x2", "o.tflite", "--verify-data", "/nonexist/photos"],
                      "/nonexist/photos: folder does not exist"),
           "ship": (["nothere.keras", "--data-dir", ".", "--calibration", "sample"],
                    "nothere.keras: no such file or folder"),
           "import_weights": (["nothere.h5", "--format", "krasserm", "--output", "x.keras"],
                              "nothere.h5: no such file or folder"),
           "interpolate": (["wdsr_b_x2", "nothere.keras", "--weight", "0.5", "--output", "x.keras"],
                           "nothere.keras: no such file or folder")}


@pytest.mark.parametrize("command", MISSING)
def test_a_missing_input_is_refused_in_one_line_before_tensorflow_loads(command, tmp_path):
    argv, line = MISSING[command]
    code = (f"import sys\nfrom tfsr import cli, {command} as c\n"
            f"status = cli.run(c.main, {argv!r})\n"
            "print(status, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.split() == ["2", "False"]
    assert out.stderr.strip() == f"error: {line}"
