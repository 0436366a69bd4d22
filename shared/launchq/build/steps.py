"""Build steps read from a build log: which step of the Dockerfile an image build has reached.

Shared by ``launchq runs logs -f`` (its status line) and the API's ``waiting`` reason of a
building run (``launchq.service.waiting``), so both name the same step. Recognised: docker's
``Step N/M :``, BuildKit's ``#n [k/M]``, buildah's and podman's ``STEP N/M:`` and kaniko's
``INFO[t] <INSTRUCTION>`` lines, and launchq's own command, commit and push lines. Pure: no
I/O, standard library only (it is imported by the Lambda functions as well as the CLI).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BuildSteps", "latest_step"]

_INSTRUCTIONS = (
    "ADD|ARG|CMD|COPY|ENTRYPOINT|ENV|EXPOSE|FROM|HEALTHCHECK|LABEL|ONBUILD|RUN|SHELL|STOPSIGNAL|USER|"
    "VOLUME|WORKDIR"
)
_DOCKER = re.compile(r"^Step (?P<n>\d+)/(?P<m>\d+) : (?P<what>.*)$")
_BUILDKIT = re.compile(r"^#\d+ \[(?:(?P<stage>[^\]\s]+) )?(?P<n>\d+)/(?P<m>\d+)\] (?P<what>.*)$")
_BUILDAH = re.compile(r"^STEP (?P<n>\d+)(?:/(?P<m>\d+))?: (?P<what>.*)$")
_KANIKO = re.compile(rf"^(?:INFO|WARN)\[\d+\] (?P<what>(?:{_INSTRUCTIONS}) .*)$")
_KANIKO_PUSH = re.compile(r"^INFO\[\d+\] Pushing image to (?P<image>\S+)")
_BUILDAH_COMMIT = re.compile(r"^COMMIT (?P<image>\S+)")
_LAUNCHQ_COMMAND = re.compile(r"^\$ \S*?(?P<tool>buildah|docker|podman)\S* (?P<verb>\S+)(?P<rest>.*)$")
_KNOWN = re.compile(r"^(?:#\d+ |INFO\[\d+\]|WARN\[\d+\]| ---> |launchq: )")
"""Lines of a known builder that are not steps: proof of the format, not worth showing."""


@dataclass
class BuildSteps:
    """Reads a build log line by line and names the step it has reached.

    ``feed`` answers the step a line starts (``step 4/9 RUN pip install ...``), or None.
    ``recognised`` turns true at the first line in a known format; until then the caller
    shows the lines themselves, so an unknown builder's log is not hidden.
    """

    recognised: bool = False
    _kaniko_steps: int = 0

    def feed(self, line: str) -> str | None:
        """The step ``line`` starts, or None for any other line."""
        line = line.rstrip()
        step = self._numbered(line) or self._kaniko(line) or self._phase(line)
        if step is not None or _KNOWN.match(line):
            self.recognised = True
        return step

    @staticmethod
    def _numbered(line: str) -> str | None:
        for pattern in (_DOCKER, _BUILDKIT, _BUILDAH):
            match = pattern.match(line)
            if match:
                parts = match.groupdict()
                total = f"/{parts['m']}" if parts.get("m") else ""
                stage = f" ({parts['stage']})" if parts.get("stage") else ""
                return f"step {parts['n']}{total}{stage} {parts['what'].strip()}"
        return None

    def _kaniko(self, line: str) -> str | None:
        match = _KANIKO.match(line)
        if match is None:
            return None
        self._kaniko_steps += 1
        return f"step {self._kaniko_steps} {match['what'].strip()}"

    @staticmethod
    def _phase(line: str) -> str | None:
        """The steps around the build: launchq's own command lines, committing, pushing."""
        pushed = _KANIKO_PUSH.match(line) or _BUILDAH_COMMIT.match(line)
        if pushed:
            verb = "pushing" if line.startswith("INFO") else "committing"
            return f"{verb} {pushed['image']}"
        command = _LAUNCHQ_COMMAND.match(line)
        if command is None:
            return None
        if command["verb"] == "push":
            return f"pushing {command['rest'].split()[-1] if command['rest'].split() else 'the image'}"
        if command["verb"] == "login":
            return "logging in to the registry"
        return f"{command['tool']} {command['verb']}"


def latest_step(log: str) -> str | None:
    """The latest step that ``log`` (a whole build log) starts, or None when it names none."""
    steps, step = BuildSteps(), None
    for line in log.splitlines():
        step = steps.feed(line) or step
    return step
