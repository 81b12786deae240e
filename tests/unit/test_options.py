"""Options that catch mistakes: unknown options are errors naming the closest known one, runner
flags are declared data, a program declares its own flags with add_arguments, and ``-h`` lists
every option with its description and default."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap

import pytest

import fluvial as fl
from fluvial.options import PipelineOptions
from fluvial.registry import known_runners
from fluvial.runner_flags import RUNNER_FLAGS, RunnerFlag, runner_flags

CORE = {  # option -> (default as -h shows it, a word of its description)
    "--runner": ("direct", "runner"),
    "--checkpoint-dir": ("none", "checkpoints"),
    "--checkpoint-interval": ("10.0", "seconds between checkpoints"),
    "--batch-size": ("4096", "elements a source hands over"),
    "--on-error": ("fail", "dead_letters"),
    "--progress": ("auto", "status"),
    "--restart-attempts": ("0", "restart a failed run"),
    "--restart-delay": ("1.0", "before each restart"),
}


def _add_events(parser):
    parser.add_argument("--events", type=int, default=100, help="events to generate")
    parser.add_argument("--label", default="x", help="a label")


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("argv,message", [
    (["--chekpoint-dir", "./chk"],
     "pipeline options: unknown option --chekpoint-dir (did you mean --checkpoint-dir?); "
     "-h lists every option"),
    (["--checkpoint_dirr=./chk", "--batchsize", "3"],
     "pipeline options: unknown options --checkpoint_dirr (did you mean --checkpoint-dir?), "
     "--batchsize (did you mean --batch-size?); -h lists every option"),
    (["--beam-runer", "DirectRunner"],
     "pipeline options: unknown option --beam-runer (did you mean --beam-runner?); -h lists "
     "every option"),
    (["--zzz"], "pipeline options: unknown option --zzz; -h lists every option"),
    (["stray"], "pipeline options: unexpected argument stray; -h lists every option"),
    # abbreviations are not accepted either (argparse would take --check for one of two)
    (["--batch", "3"], "pipeline options: unknown option --batch (did you mean --batch-size?); "
                       "-h lists every option"),
])
def test_unknown_options_are_errors_with_a_suggestion(argv, message):
    with pytest.raises(fl.PipelineConstructionError) as ei:
        PipelineOptions.from_argv(argv)
    assert str(ei.value) == message
    with pytest.raises(fl.PipelineConstructionError) as ei:
        fl.Pipeline(argv=argv)
    assert str(ei.value) == message


def test_options_read_from_sys_argv_say_how_to_ignore_the_command_line(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["job.py", "--chekpoint-dir", "x"])
    with pytest.raises(fl.PipelineConstructionError) as ei:
        fl.Pipeline()
    assert str(ei.value) == (
        "pipeline options: unknown option --chekpoint-dir (did you mean --checkpoint-dir?); -h "
        "lists every option (the options were read from sys.argv: pass argv=[] to "
        "fluvial.Pipeline to ignore the command line)")
    monkeypatch.setattr(sys, "argv", ["job.py", "--checkpoint-dir", "x"])
    assert fl.Pipeline().options.checkpoint_dir == "x"


def test_a_misspelt_flag_of_the_program_is_suggested_too():
    with pytest.raises(fl.PipelineConstructionError, match=r"--evnts \(did you mean --events\?\)"):
        PipelineOptions.from_argv(["--evnts", "3"], add_arguments=_add_events)


def test_program_flags_are_args_and_runner_flags_extra_args():
    o = PipelineOptions.from_argv(
        ["--events", "7", "--runner", "beam", "--beam-runner", "DirectRunner",
         "--beam-option", "a=1", "--beam_option=b=2", "--beam-sink-guarantee", "at_least_once",
         "--checkpoint-dir", "/c"], add_arguments=_add_events)
    assert o.args == argparse.Namespace(events=7, label="x")
    assert (o.runner, o.checkpoint_dir) == ("beam", "/c")
    assert o.extra_args == ("--beam-runner=DirectRunner", "--beam-option=a=1",
                            "--beam-option=b=2", "--beam-sink-guarantee=at_least_once")
    # without add_arguments the program's flags are unknown
    with pytest.raises(fl.PipelineConstructionError, match="unknown option --events"):
        PipelineOptions.from_argv(["--events", "7"])
    # the Pipeline takes add_arguments too
    p = fl.Pipeline(argv=["--label", "y"], add_arguments=_add_events)
    assert p.options.args == argparse.Namespace(events=100, label="y")


def test_runner_flag_values_are_checked_against_their_choices():
    with pytest.raises(fl.PipelineConstructionError,
                       match=r"argument --beam-sink-guarantee: invalid choice: 'exactly_once'"):
        PipelineOptions.from_argv(["--beam-sink-guarantee", "exactly_once"])
    with pytest.raises(fl.PipelineConstructionError,
                       match="argument --beam-runner: expected one argument"):
        PipelineOptions.from_argv(["--beam-runner"])


def test_a_flag_of_another_runner_is_accepted_and_left_to_that_runner():
    o = PipelineOptions.from_argv(["--runner", "direct", "--beam-runner", "DirectRunner"])
    assert o.runner == "direct" and o.extra_args == ("--beam-runner=DirectRunner",)
    out: list = []
    with fl.Pipeline(options=o) as p:
        _ = p | fl.Create([1, 2]) | fl.Map(out.append)
    assert sorted(out) == [1, 2]


def test_runner_flags_are_data_of_offered_runners():
    assert runner_flags()[: len(RUNNER_FLAGS)] == RUNNER_FLAGS
    assert {f.runner for f in RUNNER_FLAGS} <= set(known_runners())
    assert [f.name for f in RUNNER_FLAGS] == [
        "--direct-fast-paths", "--beam-runner", "--beam-option", "--beam-sink-guarantee",
        "--beam-log-level", "--flink-mode", "--parallelism", "--flink-master", "--flink-jars",
        "--flink-sink-guarantee", "--flink-java-combine"]
    for f in RUNNER_FLAGS:
        assert f.help and f.metavar
    with pytest.raises(ValueError, match="a runner flag is named like --runner-thing"):
        RunnerFlag("beam-x", "beam", "no dashes")


def test_help_lists_every_option_with_description_and_default(capsys):
    with pytest.raises(SystemExit) as ei:
        PipelineOptions.from_argv(["-h"], add_arguments=_add_events, prog="job.py")
    assert ei.value.code == 0
    text = _flat(capsys.readouterr().out)
    assert text.startswith("usage: job.py [options]")
    for name, (default, words) in CORE.items():
        assert f"{name} " in text, name
        assert words in text, name
        assert f"(default: {default})" in text, name
    for f in RUNNER_FLAGS:
        assert f"{f.name} " in text and _flat(f.help) in text, f.name
        if f.default:
            assert f"(default: {f.default})" in text
    assert "beam runner options: read by the beam runner, ignored by others" in text
    assert "program options:" in text
    assert "--events EVENTS events to generate (default: 100)" in text
    # the underscore spellings are accepted but not listed twice
    assert "--checkpoint_dir" not in text


def _job(tmp_path, body: str) -> str:
    f = tmp_path / "job.py"
    f.write_text(textwrap.dedent(body))
    return str(f)


def test_fluvial_run_rejects_a_misspelt_option_with_exit_status_2(tmp_path):
    marker = tmp_path / "ran"
    job = _job(tmp_path, f"""
        import fluvial as fl

        def build(p):
            open({str(marker)!r}, "w").close()
            p | fl.Create([1])
        """)
    r = subprocess.run([sys.executable, "-m", "fluvial.cli", "run", job, "--chekpoint-dir", "c"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "fluvial: error: pipeline options: unknown option --chekpoint-dir (did you mean "
        f"--checkpoint-dir?); `fluvial run {job} -h` lists every option")
    assert "Traceback" not in r.stderr
    assert not marker.exists()  # build never ran


def test_fluvial_run_passes_the_files_own_flags(tmp_path):
    out = tmp_path / "out.txt"
    job = _job(tmp_path, f"""
        import fluvial as fl

        def add_arguments(parser):
            parser.add_argument("--factor", type=int, default=2, help="multiply by this")

        def build(p):
            factor = p.options.args.factor
            _ = (p | fl.Create([1, 2, 3]) | fl.Map(lambda x: x * factor)
                 | fl.Map(lambda x: open({str(out)!r}, "a").write(f"{{x}}\\n")))
        """)
    r = subprocess.run([sys.executable, "-m", "fluvial.cli", "run", job, "--factor", "10",
                        "--batch-size", "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(out.read_text().split()) == ["10", "20", "30"]
    r = subprocess.run([sys.executable, "-m", "fluvial.cli", "run", job, "--factr", "10"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--factr (did you mean --factor?)" in r.stderr


def test_fluvial_run_help_lists_the_files_flags_and_every_pipeline_option(tmp_path):
    job = _job(tmp_path, """
        def add_arguments(parser):
            parser.add_argument("--factor", type=int, default=2, help="multiply by this")

        def build(p):
            raise AssertionError("-h does not build")
        """)
    r = subprocess.run([sys.executable, "-m", "fluvial.cli", "run", job, "-h"],
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, COLUMNS="100"))
    assert r.returncode == 0, r.stderr
    text = _flat(r.stdout)
    assert text.startswith(f"usage: fluvial run {job} [options]")
    assert "--factor FACTOR multiply by this (default: 2)" in text
    for name, (default, _) in CORE.items():
        assert name in text and f"(default: {default})" in text
    for f in RUNNER_FLAGS:
        assert f.name in text


def test_fluvial_run_help_without_a_file_lists_every_pipeline_option():
    r = subprocess.run([sys.executable, "-m", "fluvial.cli", "run", "-h"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text = _flat(r.stdout)
    assert "FILE.py defines build(p)" in text and "add_arguments(parser)" in text
    for name, (default, _) in CORE.items():
        assert name in text and f"(default: {default})" in text
    for f in RUNNER_FLAGS:
        assert f.name in text


def test_a_script_rejects_a_misspelt_option(tmp_path):
    """``python my_pipeline.py --chekpoint-dir c``: Pipeline() parses sys.argv."""
    job = _job(tmp_path, """
        import fluvial as fl

        with fl.Pipeline() as p:
            p | fl.Create([1])
        """)
    r = subprocess.run([sys.executable, job, "--chekpoint-dir", "c"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        "fluvial.errors.PipelineConstructionError: pipeline options: unknown option "
        "--chekpoint-dir (did you mean --checkpoint-dir?); -h lists every option (the options "
        "were read from sys.argv: pass argv=[] to fluvial.Pipeline to ignore the command line)")
