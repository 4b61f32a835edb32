"""Named points in the commit protocols where tests kill the process (SIGKILL).

Setting ``PROV_FAILPOINT=<name>`` makes prov kill itself when it reaches that point, exactly
as a power cut or the OOM killer would. The crash tests use it to prove that every
intermediate state of a commit is one that verify reads as incomplete, never as tampered.
"""

from __future__ import annotations

import os
import signal


def reach(name: str) -> None:
    if os.environ.get("PROV_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
