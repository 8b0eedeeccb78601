"""The fast path's setup tunes glibc's malloc so that repeated ops take no page faults;
importing the engine changes nothing in the process."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
    reason="mallopt tuning applies to glibc on Linux only",
)

# Five convolutions of AlexNet's conv3 size; the page faults of the last three are printed.
SCRIPT = """
import resource
import numpy as np
import cnncli.engine as engine
import cnncli.engine.fast as fast
tuned = fast.setup()
rng = np.random.default_rng(0)
x = rng.standard_normal((8, 192, 13, 13), dtype=np.float32)
w = rng.standard_normal((384, 192, 3, 3), dtype=np.float32)
for i in range(5):
    if i == 2:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    engine.conv2d(x, w, padding=1)
print(tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def _run(**env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "CNNCLI_"))}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        env={**clean, **env},
    )
    tuned, faults = out.stdout.split()
    return tuned, int(faults)


def test_repeated_convolutions_reuse_their_memory() -> None:
    tuned, faults = _run()
    assert tuned == "True"
    # Without the tuning each call faults in its ~15 MiB of temporaries (about 3,800
    # faults a call on the machine this was written on); with it, they are reused.
    assert faults < 300, f"{faults} page faults in three calls"


@pytest.mark.parametrize(
    "env", [{"CNNCLI_MALLOC_TUNING": "0"}, {"MALLOC_TRIM_THRESHOLD_": "1000000"}]
)
def test_tuning_is_left_off_when_asked_or_when_the_user_set_malloc(env: dict[str, str]) -> None:
    tuned, _ = _run(**env)
    assert tuned == "False"


# Importing the engine must neither call into the C library nor start a thread.
IMPORT_SCRIPT = """
import ctypes, threading
calls = []
real = ctypes.CDLL
def recording(*args, **kwargs):
    calls.append(args)
    return real(*args, **kwargs)
ctypes.CDLL = recording
import os
hooks = []
real_hook = os.register_at_fork
def hook(**kwargs):
    hooks.extend(f for f in kwargs.values() if (getattr(f, "__module__", None) or "").startswith("cnncli"))
    return real_hook(**kwargs)
os.register_at_fork = hook
before = threading.active_count()
import cnncli.engine
import cnncli.engine.fast
import cnncli.nn.zoo
print(len(calls), threading.active_count() - before, len(hooks))
"""


def test_importing_the_engine_changes_nothing_in_the_process() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "CNNCLI_"))}
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT], capture_output=True, text=True, check=True, env=clean
    )
    assert out.stdout.split() == ["0", "0", "0"], out.stdout + out.stderr
