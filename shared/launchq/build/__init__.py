"""Building images from code: sources, Dockerfiles, content-hash tags and build plans.

``plan_build`` is the entry point: it prepares a run's source (git, uploaded tarball or
local directory) as a build context, picks the source's Dockerfile or generates one, and
names the image by a hash of everything that goes into it. Builders take the plan from there.
"""

from __future__ import annotations

from launchq.build.code_store import CodeStore, LocalCodeStore, is_code_ref
from launchq.build.dockerfile import find_dockerfile, render_dockerfile
from launchq.build.options import BuildOptions, parse_build_options
from launchq.build.planner import plan_build
from launchq.build.source import prepare_source
from launchq.build.tag import content_tag
from launchq.build.tarball import pack_context, safe_extract

__all__ = [
    "BuildOptions",
    "CodeStore",
    "LocalCodeStore",
    "content_tag",
    "find_dockerfile",
    "is_code_ref",
    "pack_context",
    "parse_build_options",
    "plan_build",
    "prepare_source",
    "render_dockerfile",
    "safe_extract",
]
