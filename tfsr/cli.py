"""What every tfsr command line shares: quiet start-up, one-line errors, ``--verbose``."""
import argparse
import os
import re
import sys
import warnings

from tfsr.quiet import quiet_tensorflow

quiet_tensorflow()  # whenever a command first imports TensorFlow, its C++ start-up lines stay hidden


def _one_line_warning(message, category, filename, lineno, line=None):
    """tfsr's own warnings (a skipped image) as ``warning: ...``; others as Python prints them."""
    from tfsr.data.images import SkippedWarning
    if issubclass(category, SkippedWarning):
        return f"warning: {message}\n"
    return _python_format(message, category, filename, lineno, line)


_python_format = warnings.formatwarning
warnings.formatwarning = _one_line_warning


class UserError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def user_errors():
    """The exception types reported as a one-line error instead of a traceback."""
    from tfsr.data.images import DataError, ImageError
    from tfsr.errors import ModelError
    from tfsr.models.presets import PresetError
    return (UserError, DataError, ImageError, ModelError, PresetError)


def _embedded_message(error):
    """Our error text inside a tf.data/TensorFlow error raised from Python code."""
    match = re.search(r"(?:ImageError|DataError): (.+)", str(error))
    return match.group(1).strip() if match else None


def run(main, argv=None):
    """Run ``main(argv)``; bad input becomes ``error: ...`` on stderr and exit 2."""
    try:
        return main(argv) or 0
    except user_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        tf = sys.modules.get("tensorflow")  # only a command that imported TensorFlow can raise its errors
        message = _embedded_message(e) if tf is not None and isinstance(e, tf.errors.OpError) else None
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2


def entry_point(main):
    """The console script of a command: ``run(main)``, exactly what ``python -m`` does.

    (Console scripts call their target with no arguments and exit with what it returns.)
    """
    def console(argv=None):
        return run(main, argv)
    return console


class _Verbose(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        os.environ["TFSR_VERBOSE"] = "1"
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        setattr(namespace, self.dest, True)


class _DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Adds ``(default: …)`` to a flag's help unless the help says it already or there is none to show."""

    def _get_help_string(self, action):
        if "(default" in (action.help or "") or action.default in (None, False, argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def program(module):
    """The command's name as the user typed it: ``tfsr-train`` from the console script, else ``python -m tfsr.train``."""
    typed = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    script = "tfsr-" + module.split(".")[-1].replace("_", "-")
    return script if typed == script else f"python -m {module}"


def parser(description, prog):
    """An ArgumentParser that shows defaults in --help and takes ``--verbose``."""
    p = argparse.ArgumentParser(prog=prog, description=description, formatter_class=_DefaultsHelp)
    p.add_argument("--verbose", action=_Verbose,
                   help="show TensorFlow's and LiteRT's own log lines (also: TFSR_VERBOSE=1)")
    return p


def check_inputs(models=(), files=(), datasets=()):
    """Missing inputs as one line before TensorFlow is imported (seconds sooner): ``models`` are presets,
    ncnn models or paths, ``files`` paths, ``datasets`` names or folders (comma-separated; only those
    written as paths are checked here). None is an input not given."""
    from tfsr.models.presets import is_preset, not_found
    for spec in models:
        if spec is not None and not is_preset(spec) and not str(spec).startswith("ncnn:") and not os.path.exists(spec):
            raise UserError(not_found(spec))
    for path in files:
        if path is not None and not os.path.exists(path):
            raise UserError(f"{path}: no such file or folder")
    for value in datasets:
        for part in str(value or "").split(","):
            if os.sep in part and not os.path.exists(part):
                raise UserError(f"{part}: folder does not exist")


def add_model_choices(p, default_precision):
    """--strength and --precision: how a preset runs (tfsr.upscale, tfsr.evaluate, tfsr.export)."""
    p.add_argument("--strength", type=float, metavar="S",
                   help="for a preset with a fidelity partner (wdsr_b_x4_gan): 1 draws the most detail, 0 is the "
                        "faithful partner (wdsr_b_x4_real), between them the two blended as one network (default: "
                        "the preset's)")
    p.add_argument("--precision", default=default_precision, choices=["auto", "float32", "int8"],
                   help="which file of a preset runs: auto = its verified int8 file where this CPU has int8 dot "
                        "products (VNNI, AMX, ARM dotprod), else float; float32 = the float file")


def size(text):
    """``HxW`` (e.g. ``128x128``) as an argparse type: (height, width)."""
    match = re.fullmatch(r"(\d+)[xX](\d+)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected HxW such as 128x128, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def explicit_options(parser, argv):
    """The destinations of the options actually written in ``argv``."""
    argv = sys.argv[1:] if argv is None else argv
    written = {arg.split("=", 1)[0] for arg in argv if arg.startswith("-")}
    return {action.dest for action in parser._actions if written & set(action.option_strings)}


def run_export(export, output):
    """Run a verified export and end with a short summary (the whole report is ``OUTPUT.json``); a failed
    verification is a one-line error, its report printed before it."""
    import json

    from tfsr.deploy.export import ExportError
    try:
        report = export()
    except ExportError as e:
        print(json.dumps(e.report, indent=2))
        raise UserError(str(e)) from None
    size = f", {report['size_bytes'] / 1e6:.2f} MB" if "size_bytes" in report else ""
    print(f"wrote {output} ({report.get('quantize', 'SavedModel')}{size}): {report['dataset']} PSNR "
          f"{report['keras']['psnr']:.3f} dB as Keras, {report['exported']['psnr']:.3f} dB exported "
          f"(drop {report['psnr_drop']:.3f}), largest pixel difference {report['max_pixel_difference']}; "
          f"the whole report: {output}.json")
