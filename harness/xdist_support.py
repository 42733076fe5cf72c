"""Keep each spec's claims on one xdist worker, so each spec trains once.

xdist's own `--dist loadgroup` reads `xdist_group` marks by rewriting node ids,
which silently stopped working with pytest 9.2's structured node ids
(pytest-dev/pytest-xdist#1386). This scheduler groups through xdist's public
`pytest_xdist_make_scheduler` hook instead, from our own test ids
(`test_claim[slug/name:claim]`): any pytest version, `-n N` alone suffices.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

from harness.pytest_options import spec_of_claim_node


class SpecScheduling(LoadScopeScheduling):
    """`--dist load`/`loadgroup`: the claim tests of a spec form one work unit; every other test its own."""

    def _split_scope(self, nodeid: str) -> str:
        spec = spec_of_claim_node(nodeid)
        return f"spec:{spec}" if spec else nodeid


class SchedulerPlugin:
    def pytest_xdist_make_scheduler(self, config, log):
        if config.getvalue("dist") in ("load", "loadgroup"):
            return SpecScheduling(config, log)
        return None
