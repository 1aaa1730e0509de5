#!/usr/bin/env python3
"""Peak memory of the record path at real sizes (issue 13's targets), with the
release binary: too heavy for the test command, so a script of its own.

    cargo build --release && python3 benches/record_limits.py [path/to/tarn]

Cases (each a fresh lake, each run a child process whose peak RSS is read
with wait4):
  1. one 300 MB record beside three small ones, default --max-record-size
     (16MB): the big one is quarantined, the others land; target <= 300 MB;
  2. the same file with --max-record-size 512MB: all four land; target <= 1 GB;
  3. 2,048 records of 1.1 MB in one file (a batch past 2 GiB of text):
     all land; no offset overflow;
  4. 2,048 refused records of 1.1 MB (quarantine past 2 GiB): all quarantined;
  5. 2,000,000 tiny refused records (an array of numbers): all quarantined,
     target <= 300 MB (held quarantine rows are counted with their
     allocations, not just their text).
Prints one line per case and exits 1 if a target is missed.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

MB = 1 << 20


def event(n, blob=""):
    record = {
        "eventVersion": "1.08",
        "eventTime": "2026-11-20T10:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "PutObject",
        "awsRegion": "us-east-1",
        "eventID": f"limits-{n}",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
    }
    if blob:
        record["requestParameters"] = {"blob": blob}
    return json.dumps(record, separators=(",", ":"))


def write_records(path, records):
    with open(path, "w") as f:
        f.write('{"Records":[')
        for i, record in enumerate(records):
            if i:
                f.write(",")
            f.write(record)
        f.write("]}")


def peak_mb(tarn, lake, args):
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execv(tarn, [tarn, "--lake", lake, *args])
    started = time.monotonic()
    _, status, usage = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.monotonic() - started


def count(tarn, lake, sql):
    out = subprocess.run([tarn, "--lake", lake, "query", sql, "--format", "json"], capture_output=True, text=True, check=True).stdout
    return list(json.loads(out)[0].values())[0]


def main():
    tarn = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "release", "tarn")
    work = tempfile.mkdtemp(prefix="tarn-limits-")
    failed = False
    try:
        big = os.path.join(work, "big.json")
        write_records(big, [event(1), event(2, "x" * (300 * MB)), event(3), event(4)])
        many = os.path.join(work, "many.json")
        write_records(many, (event(n, "y" * (int(1.1 * MB))) for n in range(2048)))
        refused = os.path.join(work, "refused.json")
        write_records(refused, (event(n, "z" * (int(1.1 * MB))).replace("2026-11-20T10:00:00Z", "nope") for n in range(2048)))
        numbers = os.path.join(work, "numbers.json")
        with open(numbers, "w") as f:
            f.write("[" + ",".join(str(n) for n in range(2_000_000)) + "]")
        cases = [
            ("300 MB record, default limit (quarantined)", big, [], 300, (3, 1)),
            ("300 MB record, --max-record-size 512MB (lands)", big, ["--max-record-size", "512MB"], 1024, (4, 0)),
            ("2,048 records of 1.1 MB (2.3 GB of text)", many, [], None, (2048, 0)),
            ("2,048 refused records of 1.1 MB (quarantine past 2 GiB)", refused, [], None, (0, 2048)),
            ("2,000,000 tiny refused records", numbers, [], 300, (0, 2_000_000)),
        ]
        for name, path, flags, target, (rows, quarantined) in cases:
            lake = os.path.join(work, "lake")
            shutil.rmtree(lake, ignore_errors=True)
            code, peak, seconds = peak_mb(tarn, lake, ["ingest", "file", path, "--log-type", "AWS.CloudTrail", *flags])
            got = (count(tarn, lake, "select count(*) from aws_cloudtrail") if code == 0 else -1,
                   count(tarn, lake, "select count(*) from quarantine") if code == 0 else -1)
            ok = code == 0 and got == (rows, quarantined) and (target is None or peak <= target)
            failed |= not ok
            shown_target = f"target <= {target} MB" if target else "no target"
            print(f"{'ok  ' if ok else 'FAIL'} {name}: exit {code}, {got[0]} rows, {got[1]} quarantined, peak RSS {peak:.0f} MB ({shown_target}), {seconds:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
