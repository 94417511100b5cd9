"""What the page says when the service says no: a seat someone else took, too many
requests, a shopping time that ran out; and a show that asks for proof of work."""

import json
import re

import pytest
from conftest import StreamCutter
from playwright.sync_api import expect
from test_fan_journey import seat


@pytest.mark.service_env(BOXOFFICE_LIMIT_HOLDS_PER_USER="2")
def test_every_refusal_is_told_in_words_with_what_happens_next(service, fans):
    show = service.new_show(max_active=2, admit_per_second=50, session_ttl_s=15)
    cutter = StreamCutter(service.port)
    cutter.refusing = True  # the seat map polls: it can be a moment behind
    try:
        fan = fans("fay", base=cutter.base)
        page = fan.page
        page.goto(f"/#show/{show}")
        expect(page.get_by_role("heading", name="Choose your seats")).to_be_visible()

        # A seat taken between the map's last read and the fan's click: 409, said as such.
        seat(page, "A", 1).click()
        rival = service.fan_by_api(show)
        service.wait_until("the rival's admission", lambda: service.api("GET", f"/v1/shows/{show}/queue", rival)["status"] == "active")
        service.api("POST", f"/v1/shows/{show}/holds", rival, {"seat_ids": [1]})
        page.get_by_role("button", name="Hold 1 seat").click()
        notice = page.locator("#notice")
        expect(notice).to_contain_text("Someone else just took Row A seat 1")
        expect(notice).to_contain_text("Nothing was held")
        expect(seat(page, "A", 1)).to_have_attribute("data-status", "held")
        fan.check_accessibility("a seat taken")
        fan.shot("seat-taken")

        # Past the hold limit: 429, and the page says it will try again by itself.
        seat(page, "A", 2).click()
        page.get_by_role("button", name="Hold 1 seat").click()
        expect(page.locator("#held-list li")).to_have_count(1)
        page.get_by_role("button", name="Release Row A seat 2, Floor, 120.00").click()
        expect(page.locator("#held")).to_be_hidden()
        seat(page, "A", 3).click()
        page.get_by_role("button", name="Hold 1 seat").click()
        expect(notice).to_contain_text("Lots of requests are coming from your connection")
        expect(notice).to_contain_text(re.compile(r"We'll try again in \d+ seconds"))
        fan.shot("rate-limited")

        # The shopping time runs out: the page says so and offers a way back in.
        expect(page.get_by_role("heading", name="Your place has lapsed")).to_be_visible(timeout=40000)
        expect(page.locator("#ended-reason")).to_contain_text("shopping time is over")
        fan.check_accessibility("session over")
        fan.shot("session-over")
        page.get_by_role("button", name="Join the queue again").click()
        expect(page.get_by_role("heading", name="Choose your seats")).to_be_visible()
    finally:
        cutter.close()


def test_a_show_asking_for_proof_of_work_is_joined_once_the_page_solves_it(service, fans):
    show = service.new_show(max_active=5, admit_per_second=50, pow_bits=16)
    fan = fans("gus")
    page = fan.page
    joins = []
    page.on("request", lambda r: r.method == "POST" and r.url.endswith(f"/shows/{show}/queue") and joins.append(r))
    page.goto(f"/#show/{show}")
    expect(page.get_by_role("heading", name="Choose your seats")).to_be_visible()
    assert len(joins) == 1, "solved at the first try"
    body = json.loads(joins[0].post_data)
    assert set(body["pow"]) == {"challenge", "nonce"}
    expect(page.locator("#pow-detail")).to_have_text("Solved.")
    assert not fan.errors, fan.errors
