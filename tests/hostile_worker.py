"""Runs ``larnet`` commands on hostile files in one process with a memory ceiling, for tests/test_hostile_inputs.py.

Usage: ``python hostile_worker.py CASES.json RESULT.json``. CASES is a list of ``{"name", "argv"}``; RESULT gets,
per case, the exit status, what it printed on stderr and the process's peak resident memory (VmHWM) after it. The address
space for data is capped (RLIMIT_DATA) so a regression fails with MemoryError instead of exhausting the machine.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import sys

DATA_LIMIT_BYTES = 3 * 1024**3


def _peak_mib() -> float:
    """This process's peak resident memory. VmHWM belongs to the process's own address space; ru_maxrss would
    also count the parent's memory before exec (Linux carries it over), so a worker started from a large test
    process would seem to have used what its parent did."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(cases_path: str, result_path: str) -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (DATA_LIMIT_BYTES, DATA_LIMIT_BYTES))
    from larnet_core.cli import main as larnet

    results = []
    for case in json.loads(open(cases_path, encoding="utf-8").read()):
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = larnet(case["argv"])
            except BaseException as exc:  # noqa: BLE001 - recorded: an escaping exception is a failure
                import traceback

                traceback.print_exc(file=err)
                code = f"raised {type(exc).__name__}"
        peak_mib = _peak_mib()
        results.append({"name": case["name"], "code": code, "stderr": err.getvalue(), "stdout": out.getvalue(),
                        "peak_mib": peak_mib})
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump(results, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    # The results are written: leave without the interpreter's teardown, where native thread pools (ONNX Runtime,
    # torch, MediaPipe) can abort a process squeezed by RLIMIT_DATA ("terminate called without an active
    # exception"), which would hide the results behind a crash that is not about the hostile inputs.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
