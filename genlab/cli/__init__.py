"""The ``genlab`` command: thin. Each verb lives in its own module with ``register(subparsers)``.

Errors the user can fix (``GenlabError``, bad flags) are one line on stderr and exit status 2;
``--verbose`` shows the traceback. Ctrl-C exits 130 (training saves first; see ``genlab.training.loop``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from genlab import __version__
from genlab.errors import GenlabError

#: verb modules, in the order of the course: data → model → train → evaluate → generate → serve
VERBS = ("prepare", "import-hf", "train", "finetune", "classify", "reward", "score", "dpo", "rlhf", "prefs", "eval",
         "fill", "generate", "chat", "translate", "serve", "export", "image", "audio", "video", "demo")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"genlab: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="genlab", description="Build generative models end to end: corpus → tokens → "
                     "model → train → evaluate → generate/serve.")
    parser.add_argument("--version", action="version", version=f"genlab {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for verb in VERBS:
        name = f"genlab.cli.{verb.replace('-', '_')}_cmd"  # import-hf → import_hf_cmd
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for name in ("stdout", "stderr"):  # started with the stream closed: its output goes nowhere, as on a closed pipe
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # kept open for the process
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = args.verbose or os.environ.get("GENLAB_VERBOSE") == "1"
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
        return int(result or 0)
    except GenlabError as exc:
        if verbose:
            raise
        print(f"genlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so in one line, keep the traceback behind --verbose
        if verbose:
            raise
        print(f"genlab: internal error: {type(exc).__name__}: {exc} (re-run with --verbose and report it)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
