#!/usr/bin/env python3
"""Checks a show's fair-opening draw from a running boxoffice service (standard library only).

    docs/verify_draw.py BASE_URL SHOW_ID [--commitment HEX] [--user-id UUID]

It downloads /v1/shows/SHOW_ID/fairness and every page of .../fairness/entries and checks:
  * the revealed seed hashes (SHA-256) to the commitment published before the draw (give
    the one you recorded then with --commitment; otherwise the one served now is taken);
  * the drawn places are consecutive seqs, as many as the pre-queue had;
  * their HMACs ascend with the seq: the order is the HMAC order, as the algorithm says.
With --user-id (your own id, from your token's `sub`), it also recomputes your HMAC from the
seed and finds your place. Exits 0 when everything checks out, 1 (saying why) otherwise.
"""

import argparse
import hashlib
import hmac
import json
import sys
import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def entries(base, show):
    after = None
    while True:
        query = "?limit=1000" + (f"&after_seq={after}" if after is not None else "")
        page = get(f"{base}/v1/shows/{show}/fairness/entries{query}")
        yield from page["entries"]
        after = page["next_after_seq"]
        if after is None:
            return


def check(base, show, user_id, recorded_commitment=None):
    problems = []
    fairness = get(f"{base}/v1/shows/{show}/fairness")
    if recorded_commitment and recorded_commitment.lower() != fairness["commitment"]:
        problems.append(f"the commitment served now is {fairness['commitment']}, not the {recorded_commitment} recorded")
    if fairness["algorithm"] != "hmac-sha256-v1":
        return [f"unknown algorithm {fairness['algorithm']!r}"], None
    if fairness["seed"] is None:
        return ["the draw is not done yet: no seed revealed"], None
    seed = bytes.fromhex(fairness["seed"])
    if hashlib.sha256(seed).hexdigest() != fairness["commitment"]:
        problems.append("the seed does not hash to the commitment published before the draw")
    drawn = list(entries(base, show))
    if len(drawn) != fairness["pre_queue_size"]:
        problems.append(f"{len(drawn)} entries, but the pre-queue had {fairness['pre_queue_size']} "
                        "(right after a draw, the entries may still be being published: try again in a few seconds)")
    for before, after in zip(drawn, drawn[1:]):
        if after["seq"] != before["seq"] + 1:
            problems.append(f"seq {after['seq']} follows seq {before['seq']}")
        if bytes.fromhex(after["hmac"]) <= bytes.fromhex(before["hmac"]):
            problems.append(f"seq {after['seq']} has an HMAC not above seq {before['seq']}'s")
    mine = None
    if user_id:
        user_id = user_id.lower()
        key = hmac.new(seed, user_id.encode(), hashlib.sha256).hexdigest()
        user_hash = hashlib.sha256(user_id.encode()).hexdigest()
        mine = next((entry for entry in drawn if entry["user_hash"] == user_hash), None)
        if mine is None:
            problems.append(f"user {user_id} is not among the drawn")
        elif mine["hmac"] != key:
            problems.append(f"user {user_id}'s HMAC is {mine['hmac']}, the seed gives {key}")
    return problems, (len(drawn), mine)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("show_id", type=int)
    parser.add_argument("--user-id")
    parser.add_argument("--commitment", help="the commitment recorded before the opening")
    args = parser.parse_args()
    problems, found = check(args.base_url.rstrip("/"), args.show_id, args.user_id, args.commitment)
    for problem in problems[:20]:
        print(f"FAILED: {problem}")
    if problems:
        return 1
    count, mine = found
    print(f"draw verified: {count} places in HMAC order, seed matches the commitment")
    if mine:
        print(f"your place: seq {mine['seq']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
