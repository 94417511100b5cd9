"""What the page learns without asking: holds pushed to every seat map, and polling that
takes over when the stream can't be had."""

import re
import time

import pytest
from conftest import StreamCutter
from playwright.sync_api import expect
from test_fan_journey import active_by_api, seat


def admitted(fan, show):
    fan.page.goto(f"/#show/{show}")
    expect(fan.page.get_by_role("heading", name="Choose your seats")).to_be_visible()
    expect(fan.page.locator("#connection")).to_have_text("Live updates")


def test_a_seat_held_in_one_browser_shows_as_held_in_another_within_a_second(service, fans):
    show = service.new_show(max_active=10, admit_per_second=50)
    ana, ben = fans("ana"), fans("ben")
    admitted(ana, show)
    admitted(ben, show)
    theirs = seat(ben.page, "A", 5)
    expect(theirs).to_have_attribute("data-status", "available")

    seat(ana.page, "A", 5).click()
    with ana.page.expect_response(lambda r: r.url.endswith("/holds") and r.request.method == "POST") as hold:
        ana.page.get_by_role("button", name="Hold 1 seat").click()
    assert hold.value.status == 201
    told = time.monotonic()
    expect(theirs).to_have_attribute("data-status", "held", timeout=1000)
    print(f"ben's map showed ana's hold {1000 * (time.monotonic() - told):.0f} ms after her 201")
    expect(theirs).to_have_attribute("aria-label", re.compile("held by someone else$"))
    ben.check_accessibility("someone else's hold")
    ben.shot("held-by-ana")

    theirs.focus()
    ben.page.keyboard.press("Enter")
    expect(ben.page.locator("#notice")).to_contain_text("is held by someone else")
    ana.page.get_by_role("button", name="Buy 1 seat").click()
    expect(ana.page.get_by_role("heading", name="You have tickets!")).to_be_visible()
    expect(theirs).to_have_attribute("data-status", "sold", timeout=1000)
    ben.shot("sold-to-ana")
    assert not ana.errors and not ben.errors, (ana.errors, ben.errors)


def test_a_cut_stream_falls_back_to_polling_and_the_fan_is_still_admitted(service, fans):
    show = service.new_show(max_active=1, admit_per_second=50)
    ahead = active_by_api(service, show)
    cutter = StreamCutter(service.port)
    try:
        fan = fans("cy", base=cutter.base)
        page = fan.page
        page.goto(f"/#show/{show}")
        expect(page.locator("#position")).to_have_text("1")
        expect(page.locator("#connection")).to_have_text("Live updates")

        # The stream drops and can't be had again: the page polls as the server paces it.
        cutter.refusing = True
        assert cutter.cut() == 1
        expect(page.locator("#connection")).to_have_text(re.compile(r"^Checking every \d+ s$"))
        expect(page.locator("#position")).to_have_text("1")
        fan.check_accessibility("polling")
        fan.shot("polling")

        service.api("DELETE", f"/v1/shows/{show}/queue", ahead)
        expect(page.get_by_role("heading", name="Choose your seats")).to_be_visible()
        expect(seat(page, "A", 1)).to_be_visible()
        expect(page.locator("#connection")).to_have_text(re.compile(r"^Checking every \d+ s$"))
        fan.shot("admitted-by-polling")
        assert not fan.errors, fan.errors
    finally:
        cutter.close()


@pytest.mark.service_env(BOXOFFICE_SSE_MAX_STREAMS="0")
def test_a_stream_the_service_sheds_makes_the_page_poll_from_the_start(service, fans):
    """An instance with every stream slot taken answers 503 `too_many_streams`."""
    show = service.new_show(max_active=1, admit_per_second=50)
    ahead = active_by_api(service, show)
    fan = fans("dee")
    page = fan.page
    page.goto(f"/#show/{show}")
    expect(page.locator("#position")).to_have_text("1")
    expect(page.locator("#connection")).to_have_text(re.compile(r"^Checking every \d+ s$"))
    service.api("DELETE", f"/v1/shows/{show}/queue", ahead)
    expect(page.get_by_role("heading", name="Choose your seats")).to_be_visible()
