"""Rich output: tables and progress bars on a terminal, plain text (no ANSI codes, no bars) when captured."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from inspection_app.inspections import verdict_table
from inspection_app.terminal import console, tracked, training_progress
from training.train import TrainingProgress

REPORTS = [
    {"file": "photos/PCB-1.jpg", "product_id": "PCB-1", "verdict": "defective", "label": "defective",
     "confidence": 0.9812, "latency_ms": 812.4, "reason": None},
    {"file": "photos/PCB-2.png", "product_id": "PCB-2", "verdict": "rejected", "label": None,
     "confidence": None, "latency_ms": 95.0, "reason": "blank image [lens cap?]"},
    {"file": "photos/PCB-3.jpg", "product_id": "PCB-3", "verdict": None, "label": None,
     "confidence": None, "latency_ms": None, "error": "no result for uploads/PCB-3/x.jpg after 120 s"},
]


@pytest.fixture(autouse=True)
def no_forced_colour(monkeypatch):
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)


def test_captured_verdicts_are_a_plain_table_with_every_row_unwrapped(capsys):
    console().print(verdict_table(REPORTS))
    out = capsys.readouterr().out
    assert "\x1b" not in out
    header, rule, *rows = out.splitlines()
    assert header.split() == ["file", "verdict", "label", "confidence", "latency", "note"]
    assert set(rule) == {"─"}
    assert rows[0].split() == ["PCB-1.jpg", "defective", "defective", "0.981", "812", "ms"]
    assert rows[1].split()[:2] == ["PCB-2.png", "rejected"] and rows[1].rstrip().endswith("blank image [lens cap?]")
    assert rows[2].split()[:2] == ["PCB-3.jpg", "failed"] and rows[2].rstrip().endswith("after 120 s")


def test_with_the_truth_the_table_starts_with_it_and_without_notes_has_no_note_column(capsys):
    console().print(verdict_table(REPORTS[:1], truths={Path("photos/PCB-1.jpg"): "defect_free"}))
    header, _, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["truth", "file", "verdict", "label", "confidence", "latency"]
    assert row.split()[:3] == ["defect_free", "PCB-1.jpg", "defective"]


def test_captured_progress_prints_the_messages_only(capsys):
    with training_progress(console()) as show:
        show(TrainingProgress("dataset d: 16 images", epochs=2))
        show(TrainingProgress("", epochs_done=0.5, epochs=2))
        show(TrainingProgress("epoch 1/2: train loss 0.5", epochs_done=1, epochs=2))
    assert tracked(iter("abc"), 3, "inspecting", console()) == ["a", "b", "c"]
    assert capsys.readouterr().out == "dataset d: 16 images\nepoch 1/2: train loss 0.5\n"


def test_on_a_terminal_the_bar_is_drawn_and_the_messages_stay():
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    with training_progress(terminal) as show:
        show(TrainingProgress("epoch 1/2: train loss 0.5", epochs_done=1, epochs=2))
        show(TrainingProgress("", epochs_done=1.5, epochs=2))
    assert "epoch 1/2: train loss 0.5" in screen.getvalue() and "\x1b[" in screen.getvalue()
