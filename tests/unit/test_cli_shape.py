"""The CLI's shape: one formatter, defaults shown, typed flags failing alike, `--classes` and
`--seed` one way everywhere, light `--help`, and nothing importing the CLI."""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cxrpipe import flagtypes
from cxrpipe.cli import build_parser, main
from cxrpipe.cli.options import Formatter, has_no_default
from cxrpipe.errors import UserError
from cxrpipe.labels import NIH_CLASSES

PACKAGE = Path(__file__).resolve().parents[2] / "cxrpipe"
HEAVY = ("cv2", "pyspark", "boto3", "botocore", "tensorflow", "keras")


def commands(parser=None, path=()) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every parser that runs a command, by its words (``("emr", "submit")``), nested included."""
    parser = parser or build_parser()
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = commands(sub, path + (name,))
                found.update(nested or {path + (name,): sub})
    return found


def options(parser):
    return [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS
            and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]


def test_every_command_is_found():
    assert {("preprocess",), ("shards",), ("run",), ("synth",), ("demo",), ("verify",), ("inspect",),
            ("report",), ("emr", "submit"), ("emr", "policy"), ("train", "classifier"), ("evaluate",)} \
        <= set(commands())


@pytest.mark.parametrize("words", sorted(commands()), ids=" ".join)
def test_one_formatter_shows_each_default_or_none(words):
    parser = commands()[words]
    assert parser.formatter_class is Formatter
    text = " ".join(parser.format_help().split())
    for bad in ("(default: None)", "(default: False)", "(default: [])", "(default: ==SUPPRESS==)"):
        assert bad not in text
    for action in options(parser):
        assert action.help, f"{words} {action.option_strings[0]} has no help"
        if not has_no_default(action.default):
            assert f"(default: {action.default})" in text, f"{words} {action.option_strings[0]}"


def test_help_imports_no_heavy_module():
    probe = ("import sys\nfrom cxrpipe.cli import main, build_parser\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "from tests.unit.test_cli_shape import commands\n"
             "for parser in commands().values():\n    parser.format_help()\n"
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          cwd=PACKAGE.parent)
    assert done.stdout.strip().splitlines()[-1] == "[]"


# A value each kind of checked flag refuses (class lists are checked by the resolver, later).
BAD = {"int": "nan", "float": "nan", "split list": "training", "fractions": "0.5,0.5,0.5",
       "flips": "diagonal", "model list": "one-dir", "kms_key_arn": "!", "account_id": "!", "region_name": "!", "application_id": "!"}


def typed_flags():
    for words, parser in sorted(commands().items()):
        for action in options(parser):
            name = getattr(action.type, "__name__", None)
            if name in BAD:
                yield words, action.option_strings[-1], BAD[name]


@pytest.mark.parametrize("words, flag, value", list(typed_flags()), ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_every_bad_flag_value_is_one_line_exit_2(words, flag, value, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*words, flag, value])
    err = capsys.readouterr().err
    prog = "cxrpipe " + " ".join(words)
    assert exited.value.code == 2 and len(err.strip().splitlines()) == 1
    assert re.fullmatch(rf"{prog}: error: argument {flag}: .+ \(see {prog} --help\)\n", err), err


def test_typed_flags_are_those_of_flagtypes():
    kinds = {type(a.type) for p in commands().values() for a in options(p) if a.type is not None}
    assert kinds <= {flagtypes._Range, type(flagtypes.checked(int))}


NIH = ["--dataset", "nih", "--index", "i.csv", "--images", "nowhere", "--output", "out"]


@pytest.mark.parametrize("command", ["preprocess", "run"])
def test_a_near_miss_class_gets_did_you_mean(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([command, *NIH, "--classes", "Effusion, No_Finding"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"cxrpipe {command}: error: --classes:") and "\n" not in err
    assert "'No_Finding': did you mean 'No Finding'?" in err and not (tmp_path / "out").exists()


def test_shards_resolves_classes_with_the_same_resolver():
    from cxrpipe.cli.data import shard_options

    args = build_parser().parse_args(["shards", "--input", "a", "--output", "b", "--classes", "no finding"])
    with pytest.raises(UserError, match="'no finding': did you mean 'No Finding'"):
        shard_options(args, NIH_CLASSES)
    args = build_parser().parse_args(["shards", "--input", "a", "--output", "b", "--classes", "Mass , Effusion"])
    assert shard_options(args, NIH_CLASSES).classes == ("Effusion", "Mass")


def test_classes_is_one_flag_parsed_one_way():
    flags = [a for p in commands().values() for a in p._actions if "--classes" in a.option_strings]
    assert len(flags) >= 5 and {a.type for a in flags} == {flagtypes.CLASS_LIST}
    assert flagtypes.CLASS_LIST(" Mass,No Finding ") == ("Mass", "No Finding")


@pytest.mark.parametrize("words, says", [
    (("preprocess",), "seed of the patient split"),
    (("run",), "seed of the patient split"),
    (("synth",), "seed of the phantoms, patients and labels drawn"),
    (("report",), "seed of the choice of sampled images"),
    (("train", "autoencoders"), "seed of the weights' initialization, the shard file order and the shuffle"),
    (("train", "classifier"), "seed of the weights' initialization, the shard file order and the shuffle"),
])
def test_each_seed_says_what_it_seeds(words, says):
    seed = next(a for a in commands()[words]._actions if "--seed" in a.option_strings)
    assert seed.help.startswith(says) and "all choices" not in seed.help


def test_run_has_both_seeds_and_shards_points_at_its_own(capsys):
    run = {o for a in commands()[("run",)]._actions for o in a.option_strings}
    assert {"--seed", "--shard-seed"} <= run
    with pytest.raises(SystemExit) as exited:
        main(["shards", "--input", "a", "--output", "b", "--seed", "3"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "argument --seed:" in err and "is --shard-seed" in err


def imports_of(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_nothing_outside_the_cli_imports_it():
    offenders = [str(path.relative_to(PACKAGE.parent)) for path in sorted(PACKAGE.rglob("*.py"))
                 if "cli" not in path.relative_to(PACKAGE).parts[:1]
                 and any(name == "cxrpipe.cli" or name.startswith("cxrpipe.cli.") for name in imports_of(path))]
    assert offenders == []


def test_the_import_check_sees_relative_imports():
    assert "cxrpipe.cli" in imports_of(PACKAGE / "cli" / "__main__.py")
    assert "cxrpipe.cli.options" in imports_of(PACKAGE / "cli" / "data.py")
    assert "cxrpipe.storage" in imports_of(PACKAGE / "emr" / "commands.py")


def test_attention_map_flags():
    """`predict --explain DIR [--explain-classes]` and `evaluate --boxes FILE [--box-threshold]`."""
    flags = {words: {o: a for a in commands()[words]._actions for o in a.option_strings}
             for words in (("predict",), ("evaluate",))}
    assert flags[("predict",)]["--explain"].default is None
    assert flags[("predict",)]["--explain-classes"].default == "auto"
    assert flags[("evaluate",)]["--boxes"].default is None
    threshold = flags[("evaluate",)]["--box-threshold"]
    assert threshold.default == 0.5 and threshold.type is flagtypes.MAP_THRESHOLD
    with pytest.raises(argparse.ArgumentTypeError):
        threshold.type("0")
    assert threshold.type("1") == 1.0
