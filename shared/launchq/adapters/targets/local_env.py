"""The environment a local-process job starts with: clean, not the server's.

A job used to inherit the whole environment of the process that launched it, so a run of
``env`` printed the server's ``AWS_SECRET_ACCESS_KEY`` into its log (issue 14). Now a job
gets from the server's environment only:

- what any program needs to run as the user: ``PATH``, ``HOME`` (so ``~/.netrc``,
  ``~/.cache`` and ``~/.config`` work as in a shell: W&B's login is found there), ``USER``,
  ``LOGNAME``, ``SHELL``, ``TMPDIR``, ``TERM``, ``TZ``, the locale (``LANG``, ``LANGUAGE``,
  ``LC_*``); the server's Python or conda environment (``VIRTUAL_ENV``, ``CONDA_PREFIX``,
  ``CONDA_DEFAULT_ENV``); the accelerators it may use (``CUDA_VISIBLE_DEVICES`` and its
  NVIDIA/AMD kin); proxies and CA bundles (``HTTP(S)_PROXY``, ``NO_PROXY``,
  ``SSL_CERT_FILE``, ``SSL_CERT_DIR``, ``REQUESTS_CA_BUNDLE``);
- W&B's and launchq's own settings (``WANDB_*``, ``LAUNCHQ_*``), except any whose name says
  it is a credential (``KEY``, ``TOKEN``, ``SECRET``, ``PASSWORD``, ``CREDENTIAL``): not
  ``WANDB_API_KEY``, which W&B's agent hands to every job in plain text;
- the names the queue's config lists in ``inherit_env`` (names or shell patterns such as
  ``CUDA_*``; a name listed there passes even when it is a credential: that is the
  documented opt-in, e.g. ``inherit_env: [WANDB_API_KEY, HF_TOKEN]``).

On top come the config's ``env``, the run's ``env`` and launchq's injected variables. This
keeps secrets out of jobs by accident, not against a submitter who means harm: a
local-process job runs as the server's user and can read whatever that user can (the
README says so), so a key that may submit runs to a local-process queue is a shell.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping

#: Passed as they are: what a program run as the user expects to find, the Python or conda
#: environment the server runs in, the accelerators it may use, and how it reaches the
#: network (proxies, CA bundles).
BASE_NAMES = frozenset(
    {
        *("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TERM", "TZ", "LANG", "LANGUAGE"),
        *("VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV"),
        *("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"),
        *("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"),
        *("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"),
    }
)
BASE_PREFIXES = ("LC_",)
#: Settings of W&B and launchq, passed unless the name says credential.
SETTINGS_PREFIXES = ("WANDB_", "LAUNCHQ_")
CREDENTIAL_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")


def is_credential(name: str) -> bool:
    """Whether ``name`` reads as a credential's (``WANDB_API_KEY``, ``GITHUB_TOKEN``...)."""
    upper = name.upper()
    return any(word in upper for word in CREDENTIAL_WORDS)


def _passes_by_default(name: str) -> bool:
    if name in BASE_NAMES or name.startswith(BASE_PREFIXES):
        return True
    return name.startswith(SETTINGS_PREFIXES) and not is_credential(name)


def inherited(server_env: Mapping[str, str], inherit: Iterable[str] = ()) -> dict[str, str]:
    """The part of ``server_env`` a job gets: the defaults above plus the names matching
    one of ``inherit`` (exact names or ``fnmatch`` patterns, case-sensitive)."""
    patterns = tuple(inherit)
    return {
        name: value
        for name, value in server_env.items()
        if _passes_by_default(name) or any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    }


def check_patterns(patterns: list[str]) -> list[str]:
    """``inherit_env``'s entries: variable names or patterns (no ``=``, no NUL, not empty)."""
    for pattern in patterns:
        if not pattern or "=" in pattern or "\0" in pattern:
            raise ValueError(f"{pattern!r} is not a variable name or pattern")
    return patterns
