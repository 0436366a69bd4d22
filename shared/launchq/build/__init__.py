"""Building images from code: sources, Dockerfiles, content-hash tags and build plans.

``launchq.build.planner.plan_build`` is the entry point: it prepares a run's source (git,
uploaded tarball or local directory) as a build context, picks the source's Dockerfile or
generates one, and names the image by a hash of everything that goes into it. Builders take
the plan from there.

The package imports none of its modules itself: ``launchq.ports`` uses
``launchq.build.tarball`` (to check uploaded archives) while ``planner`` uses the ports, and
eager imports here would make that a cycle.
"""
