"""BotiumScript convos: the samples converted and passing against the flow bot, --convert,
and one clear error naming the file and line for what is not supported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lpbot.errors import ConfigError
from lpbot.synthetic.botium import convert_convo, load_convo
from lpbot.synthetic.scenario import load_scenario, parse_scenario

from .conftest import ROOT

BOTIUM = ROOT / "config" / "botium"
PIZZA = ROOT / "config" / "flows" / "pizza.toml"
SAMPLES = sorted(BOTIUM.glob("*.convo.txt"))


def synth(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "lpbot", "synth", *args], cwd=cwd, capture_output=True,
        text=True, timeout=60, check=False)


def test_three_sample_convos_pass_against_the_flow_bot(tmp_path: Path) -> None:
    assert len(SAMPLES) == 3
    done = synth(*map(str, SAMPLES), "--flow", str(PIZZA), "--json", "r.json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("runs 3/3 done, 0 failed")


def test_the_converted_toml_is_the_same_scenario() -> None:
    for sample in SAMPLES:
        converted = parse_scenario(convert_convo(sample), file=str(sample))
        direct = load_convo(sample)
        assert converted.steps == direct.steps
        assert converted.name == direct.name
    order = load_scenario(BOTIUM / "order_pizza.convo.txt")
    kinds = [step.kind for step in order.steps]
    assert kinds == ["open_conversation", "say", "expect_quick_replies", "click",
                     "expect_quick_replies", "click", "expect_rich_content", "click",
                     "expect_rich_content", "click", "expect_message"]
    assert order.steps[1].choices == ("hello", "hi there", "good evening")  # type: ignore[union-attr]


def test_convert_prints_toml_and_exits_zero(tmp_path: Path) -> None:
    done = synth("--convert", str(BOTIUM / "menu.convo.txt"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    scenario = parse_scenario(done.stdout)
    assert [step.kind for step in scenario.steps][-3:] == [
        "expect_message", "expect_file", "expect_message"]


@pytest.mark.parametrize(("text", "line", "message"), [
    ("t\n\n#me\nhi\n\n#bot\nhello\nINTENT greeting\n", 8, "INTENT is not supported in #bot"),
    ("t\n#me\nhi\n#bot\nBUTTONS_COUNT 2\n", 5, "BUTTONS_COUNT is not supported in #bot"),
    ("t\n#me\nhi\nBUTTONS a|b\n", 4, "BUTTONS is not supported in #me"),
    ("t\n#me\nhi\n#bot\n!hello\n", 5, "negated (!) and optional (?) steps are not supported"),
    ("t\n#me #private\nhi\n", 2, "channels ('#me #private') are not supported"),
    ("t\n#user\nhi\n", 2, "unknown section '#user'"),
    ("t\n#include PCONVO_NOPE\n", 2, "no partial convo 'PCONVO_NOPE'"),
    ("t\n#me\nhi\n#bot\nTEXT_REGEXP_ANY (unclosed\n", 5, "is not a valid regular expression"),
    ("t\n#begin\nPAUSE 100\n#me\nhi\n", 3, "PAUSE in #begin is not supported"),
])
def test_what_is_not_supported_is_one_error_naming_the_line(
        tmp_path: Path, text: str, line: int, message: str) -> None:
    convo = tmp_path / "bad.convo.txt"
    convo.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario(convo)
    assert caught.value.path == str(convo)
    assert caught.value.key == f"line {line}"
    assert message in str(caught.value)
    done = synth(str(convo), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"lpbot synth: {convo}: line {line}: ")
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_partial_convo_that_includes_itself_is_refused(tmp_path: Path) -> None:
    (tmp_path / "loop.pconvo.txt").write_text("LOOP\n#include LOOP\n", encoding="utf-8")
    convo = tmp_path / "a.convo.txt"
    convo.write_text("a\n#include LOOP\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"LOOP' includes itself \(LOOP -> LOOP\)"):
        load_convo(convo)


def test_a_failing_convo_shows_what_was_expected_and_the_transcript(tmp_path: Path) -> None:
    convo = tmp_path / "wrong.convo.txt"
    convo.write_text("wrong\n#me\nhello\n#bot\nGood morning, pasta lover\n", encoding="utf-8")
    done = synth(str(convo), "--flow", str(PIZZA), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("FAILED wrong run 1: "))
    assert "steps[2] expect_message: no agent message matching /(?s)(?i:Good\\ morning," \
        in lines[failed]
    assert "Welcome to Pizza Bot! What would you like? [quick replies: Order a pizza" \
        in lines[failed]
    tail = lines[failed + 1:-1]
    assert any(line.startswith("    +") and " consumer: hello" in line for line in tail)
    assert any(" agent: Welcome to Pizza Bot!" in line for line in tail)
