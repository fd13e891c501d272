"""Run a measurement in a fresh Python process and read back its one JSON line.

Memory benchmarks need a fresh process per measurement: a peak RSS only means
something for a process that did nothing else. The child code gets ``rss_mb()``
(the peak RSS so far, in MB) defined before it runs.
"""

import json
import subprocess
import sys

PEAK_RSS = """
def rss_mb():
    # Peak RSS of this process image (VmHWM). Not ru_maxrss: across fork+exec it
    # starts at the parent's size, which hid everything below it.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""


def run_child(code, *args, env=None):
    """Run ``code`` with ``sys.argv[1:] = args``; return its last stdout line as JSON."""
    out = subprocess.run(
        [sys.executable, "-c", PEAK_RSS + code, *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])
