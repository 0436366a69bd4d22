"""The local-process target never starts one attempt's job twice (``local_attempts``): a
submit repeated for the same attempt adopts the job, running or ended; a new attempt
(``run.preemptions`` moved on) starts a new job. Real processes under ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

from launchq.adapters.targets.local_process import LocalProcessTarget
from tests.integration.test_local_process import PY, launch, make_run, target, wait_for

__all__ = ["target"]  # the fixture, shared with test_local_process


def test_one_attempt_runs_once_and_a_new_attempt_runs_again(
    target: LocalProcessTarget, tmp_path: Path
) -> None:
    # GIVEN a run whose job records each start
    starts = tmp_path / "starts"
    run = make_run(entry_point=[PY, "-c", f"open({str(starts)!r}, 'a').write('start\\n')"])
    first = launch(target, run)
    assert wait_for(target, first).state == "finished"
    # WHEN it is submitted again for the same attempt, after its job ended
    again = launch(target, run)
    # THEN the ended job is adopted (same process group, its exit code), nothing started
    assert again.handle == first.handle
    assert wait_for(target, again).state == "finished"
    assert starts.read_text() == "start\n"
    # AND a new attempt starts a new job
    retried = launch(target, run.model_copy(update={"preemptions": 1}))
    assert retried.handle["pgid"] != first.handle["pgid"]
    assert wait_for(target, retried).state == "finished"
    assert starts.read_text() == "start\nstart\n"
