"""Fills the catalog through the admin API: shows of one concert, none on sale.

usage: fill_catalog.py BASE ADMIN_TOKEN CONCERT_ID HOW_MANY
Creates HOW_MANY shows (one section, 1 row of 10 seats) with 8 requests in flight, as an
operator's import would; prints how many were made and how long it took.
"""
import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

base, admin, concert, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
body = json.dumps({
    "starts_at": "2030-01-01T20:00:00Z",
    "sections": [{"name": "Floor", "rows": 1, "seats_per_row": 10, "price": 50}],
}).encode()


def create(_):
    request = urllib.request.Request(
        f"{base}/v1/admin/concerts/{concert}/shows", data=body, method="POST",
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return reply.status == 201


started = time.time()
with ThreadPoolExecutor(8) as pool:
    made = sum(pool.map(create, range(count)))
print(f"{made} shows made in {time.time() - started:.1f} s")
