#!/usr/bin/env python3
"""Time from starting `cirrus serve` on a data directory to its first answered request,
and its resident memory after two idle seconds.

Usage: scripts/cold-start.py <path to the cirrus binary> <data dir>
"""
import subprocess
import sys
import time
import urllib.request

binary, data_dir = sys.argv[1], sys.argv[2]
started = time.time()
server = subprocess.Popen(
    [binary, "serve", "--listen", "127.0.0.1:8799", "--data-dir", data_dir],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
try:
    for _ in range(5000):
        request = urllib.request.Request(
            "http://127.0.0.1:8799/",
            data=b"{}",
            headers={
                "X-Amz-Target": "DynamoDB_20120810.ListTables",
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        try:
            urllib.request.urlopen(request, timeout=1).read()
            break
        except OSError:
            time.sleep(0.002)
    answered = time.time()
    time.sleep(2)
    with open(f"/proc/{server.pid}/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    print(f"first answer after {(answered - started) * 1000:.0f} ms; idle RSS {rss_kb // 1024} MB")
finally:
    server.terminate()
    server.wait()
