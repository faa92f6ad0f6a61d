"""Rolling updates: a server's instances move to a new version one at a time, behind a health gate.

    result = await manager.rolling_update("time", "2026.10.19")
    print(result.summary())

What a version is:

- npm, pypi, oci: the package version (exact, dist-tag or range), resolved afresh and installed
  into a new slot beside the running one. The install lock and the config switch to it only
  once every instance runs it (then the old slot goes); a failed update removes the new slot.
- command, remote: nothing is installed, so a version string is a label: the same command or
  URL restarts instance by instance under it (e.g. after the binary was upgraded on disk).
- any type: a whole :class:`~mcpfleet.config.ServerSpec` is the server's next config (another
  command, args, env, URL or package); its version is its package's ``version``.

How one instance moves, so that capacity never drops and no call fails (surge):

1. an instance of the new version starts beside it;
2. health gate: ``tools/list`` (and the smoke call, if one is given) answered within
   ``health_timeout``;
3. the new instance joins the load balancer;
4. the old one leaves it, and its calls in flight finish (up to ``drain_timeout``);
5. the old one stops (its process group reaped).

The smoke call is a ``(tool, arguments)`` pair; an error result fails the gate. When every
instance runs the new version, the install lock and the config switch to it (with ``save``, the
fleet file too). A server that is not running is installed and checked on one temporary
instance. ``progress`` receives each step as a :class:`RolloutEvent`.

If a new instance fails the gate it is stopped, every instance already updated moves back to
the old version the same way (old version first, then the new one drains), the lock and the
config stay as they were, and :class:`~mcpfleet.exceptions.RolloutError` carries the
:class:`RolloutResult`. ``Instance.update()`` / ``rollback()`` (the guide's loop) move one
instance in place instead, through the same gate.
"""

from __future__ import annotations

from mcpfleet.rollout.releases import NewVersion, Release, Releases, Smoke, probe
from mcpfleet.rollout.report import InstanceReport, Outcome, Progress, RolloutEvent, RolloutResult
from mcpfleet.rollout.request import UpdateRequest
from mcpfleet.rollout.run import Rollout

__all__ = [
    "InstanceReport",
    "NewVersion",
    "Outcome",
    "Progress",
    "Release",
    "Releases",
    "Rollout",
    "RolloutEvent",
    "RolloutResult",
    "Smoke",
    "UpdateRequest",
    "probe",
]
