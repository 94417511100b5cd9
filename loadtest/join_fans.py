"""Joins a show's queue once for each user token of a file and writes the queue tokens the
joins gave, one a line: real places, for the benchmarks of waiting fans' polls (a token
minted for a place nobody took would send its poll to the store).

usage: join_fans.py BASE SHOW USER_TOKENS_FILE QUEUE_TOKENS_OUT
"""
import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

base, show, users_file, out_file = sys.argv[1:5]
users = [line.strip() for line in open(users_file) if line.strip()]


def join(token):
    request = urllib.request.Request(f"{base}/v1/shows/{show}/queue", data=b"", method="POST",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)["queue_token"]


started = time.time()
with ThreadPoolExecutor(16) as pool:
    tokens = list(pool.map(join, users))
with open(out_file, "w") as out:
    out.write("\n".join(tokens) + "\n")
print(f"{len(tokens)} fans joined show {show} in {time.time() - started:.1f} s")
