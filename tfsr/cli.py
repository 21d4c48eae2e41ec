"""What every tfsr command line shares: quiet start-up and one-line errors."""
import argparse
import re
import sys


class UserError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def user_errors():
    """The exception types reported as a one-line error instead of a traceback."""
    from tfsr.data.images import DataError, ImageError
    from tfsr.inference import ModelError
    return (UserError, DataError, ImageError, ModelError)


def _embedded_message(error):
    """Our error text inside a tf.data/TensorFlow error raised from Python code."""
    match = re.search(r"(?:ImageError|DataError): (.+)", str(error))
    return match.group(1).strip() if match else None


def run(main, argv=None):
    """Run ``main(argv)``; bad input becomes ``error: ...`` on stderr and exit 2."""
    import tensorflow as tf
    try:
        return main(argv) or 0
    except user_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except tf.errors.OpError as e:
        message = _embedded_message(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2


def parser(description, prog):
    """An ArgumentParser that shows defaults in --help."""
    return argparse.ArgumentParser(prog=prog, description=description,
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)


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
    """Run a verified export, print its report; a failed verification is a one-line error."""
    import json

    from tfsr.export import ExportError
    try:
        report = export()
    except ExportError as e:
        print(json.dumps(e.report, indent=2))
        raise UserError(str(e)) from None
    print(json.dumps(report, indent=2))
    print(f"wrote {output} (report: {output}.json)")
