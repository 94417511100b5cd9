"""A fan's whole journey in the browser: join, wait, be admitted, hold, buy, keep it all."""

import re

from conftest import DESKTOP, PHONE
from playwright.sync_api import expect


def join_button(page, title="The Test Tour"):
    return page.get_by_role("button", name=re.compile(f"^Join the queue: {title}"))


def seat(page, row, number, section="Floor"):
    return page.get_by_role("button", name=re.compile(f"^Row {row} seat {number}, {section},"))


def active_by_api(service, show):
    """A fan outside the browser, admitted: they hold the show's one active slot."""
    token = service.fan_by_api(show)
    service.wait_until("the first fan's admission", lambda: service.api("GET", f"/v1/shows/{show}/queue", token)["status"] == "active")
    return token


def test_a_fan_joins_waits_is_admitted_holds_two_seats_and_buys_them_with_the_keyboard_alone(service, fans):
    show = service.new_show(max_active=1, admit_per_second=50, max_seats_per_user=4)
    ahead = active_by_api(service, show)
    fan = fans("ana", DESKTOP)
    page = fan.page
    page.goto("/")
    expect(join_button(page)).to_be_visible()
    fan.check_accessibility("concerts")
    fan.shot("concerts")

    join_button(page).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#position")).to_have_text("1")
    expect(page.locator("#ahead")).to_have_text("You're next.")
    expect(page.locator("#connection")).to_have_text("Live updates")
    fan.check_accessibility("waiting")
    fan.shot("waiting")

    service.api("DELETE", f"/v1/shows/{show}/queue", ahead)
    expect(page.get_by_role("heading", name="Choose your seats")).to_be_visible()
    expect(seat(page, "A", 1)).to_be_visible()
    fan.check_accessibility("seat map")

    # Tab into the first section's grid, move with the arrow keys, pick with Space.
    seat(page, "A", 1).focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    expect(seat(page, "B", 2)).to_have_attribute("aria-pressed", "true")
    expect(seat(page, "B", 3)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#selection-summary")).to_contain_text("2 seats picked")
    page.keyboard.press("Tab")  # out of the grid: the next section's grid, then the basket
    page.get_by_role("button", name="Hold 2 seats").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#held-list li")).to_have_count(2)
    expect(page.locator("#hold-countdown")).to_have_text(re.compile(r"^[45]:\d\d$"))
    expect(seat(page, "B", 2)).to_have_attribute("data-status", "mine")
    fan.check_accessibility("holding")
    fan.shot("holding")

    page.get_by_role("button", name="Buy 2 seats").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="You have tickets!")).to_be_visible()
    expect(page.locator("#receipt-seats li")).to_have_text(
        [re.compile("^Row B seat 2, Floor: 120.00$"), re.compile("^Row B seat 3, Floor: 120.00$")]
    )
    expect(page.locator("#receipt-total")).to_have_text("240.00")
    fan.check_accessibility("receipt")
    fan.shot("receipt")

    reservation = page.locator("#receipt-id").inner_text()
    user_token = fan.saved("user")["token"]
    bought = service.api("GET", f"/v1/reservations/{reservation}", user_token)
    assert bought["status"] == "confirmed" and len(bought["seat_ids"]) == 2
    assert service.stats(show)["sold"] == 2
    page.reload()
    expect(page.get_by_role("heading", name="You have tickets!")).to_be_visible()
    expect(page.locator("#receipt-id")).to_have_text(reservation)
    assert not fan.errors, fan.errors


LAYOUT_SHIFTS = """() => {
    window.shifts = [];
    new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.shifts.push(entry.value);
    }).observe({ type: "layout-shift" });
}"""


def test_a_refresh_while_waiting_keeps_the_place_and_counting_down_moves_nothing(service, fans):
    show = service.new_show(max_active=1, admit_per_second=50)
    ahead = [active_by_api(service, show), service.fan_by_api(show), service.fan_by_api(show)]
    fan = fans("ben", PHONE)
    page = fan.page
    page.goto("/")
    join_button(page).click()
    expect(page.locator("#position")).to_have_text("3")
    seq = fan.queue_claims(show)["seq"]
    fan.shot("waiting")

    page.reload()
    expect(page.locator("#position")).to_have_text("3")
    assert fan.queue_claims(show)["seq"] == seq, "the same place, not a new one"
    assert service.stats(show)["joined_total"] == 4, "the reload joined nobody new"
    fan.check_accessibility("waiting after a reload")
    fan.shot("after-reload")

    # Each leave admits the next: the place counts 3, 2, 1, then the seat map.
    page.evaluate(LAYOUT_SHIFTS)
    for position, leaving in zip(("2", "1"), ahead):
        service.api("DELETE", f"/v1/shows/{show}/queue", leaving)
        expect(page.locator("#position")).to_have_text(position)
    assert page.evaluate("window.shifts") == [], "the place changed without moving anything on the page"
    service.api("DELETE", f"/v1/shows/{show}/queue", ahead[2])
    expect(page.get_by_role("heading", name="Choose your seats")).to_be_visible()
    fan.shot("admitted")
    assert not fan.errors, fan.errors
