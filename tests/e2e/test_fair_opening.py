"""A fair opening in the browser: the countdown and the commitment, the draw checked by
each fan's own browser, and admission in the drawn order."""

import hashlib
import hmac
import re
import time
from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

OPENS_IN_S = 12


def draw_key(seed_hex, user_id):
    return hmac.new(bytes.fromhex(seed_hex), user_id.encode(), hashlib.sha256).digest()


def test_a_pre_queue_counts_down_draws_and_admits_in_draw_order(service, fans):
    show = service.new_show(max_active=10, admit_per_second=0.5)
    opens_at = datetime.now(timezone.utc) + timedelta(seconds=OPENS_IN_S)
    service.configure(show, opens_at=opens_at.isoformat())
    commitment = service.api("GET", f"/v1/shows/{show}/fairness")["commitment"]
    people = [fans(name) for name in ("ann", "bob", "cat", "dan")]
    for fan in people:
        fan.page.goto(f"/#show/{show}")
    for fan in people:
        expect(fan.page.get_by_role("heading", name="You're in the pre-queue")).to_be_visible()
        expect(fan.page.locator("#commitment")).to_have_text(commitment)
    countdown = people[0].page.locator("#opening-countdown")
    expect(countdown).to_have_text(re.compile(r"^0:(0\d|1[0-2])$"))
    before = int(countdown.inner_text().split(":")[1])
    time.sleep(1.5)
    assert int(countdown.inner_text().split(":")[1]) < before, "the countdown counts down"
    people[0].check_accessibility("pre-queue")
    people[0].shot("pre-queue")

    # At the opening the draw places them; one admission every two seconds turns each
    # fan's page to the seat map, in draw order.
    admitted = []
    deadline = time.monotonic() + OPENS_IN_S + 60
    while len(admitted) < len(people) and time.monotonic() < deadline:
        for fan in people:
            if fan not in admitted and fan.page.locator("#screen-seats").is_visible():
                admitted.append(fan)
        time.sleep(0.1)
    seed = service.api("GET", f"/v1/shows/{show}/fairness")["seed"]
    drawn = sorted(people, key=lambda fan: draw_key(seed, fan.user_id()))
    assert [fan.name for fan in admitted] == [fan.name for fan in drawn]
    assert [fan.queue_claims(show)["seq"] for fan in drawn] == sorted(fan.queue_claims(show)["seq"] for fan in people)

    for place, fan in enumerate(drawn, start=1):
        expect(fan.page.locator("#draw-summary")).to_contain_text(f"place {place} of the 4")
        expect(fan.page.locator("#draw-check")).to_contain_text("Checked in your browser")
        assert fan.queue_claims(show)["draw"] == draw_key(seed, fan.user_id()).hex()
    drawn[-1].check_accessibility("drawn place")
    drawn[-1].shot("drawn")
    for fan in people:
        assert not fan.errors, (fan.name, fan.errors)
