"""The sale goes on from Postgres: the page keeps working through the switch and says so."""

from playwright.sync_api import expect
from test_fan_journey import active_by_api, join_button, seat


def test_on_the_postgres_fallback_the_page_keeps_working_and_says_so(service, fans):
    show = service.new_show(max_active=1, admit_per_second=50)
    ahead = active_by_api(service, show)
    fan = fans("eve")
    page = fan.page
    page.goto("/")
    join_button(page).click()
    expect(page.locator("#position")).to_have_text("1")
    expect(page.locator("#backend-banner")).to_be_hidden()

    # The deployment moves to Postgres while the fan waits: the place survives the switch.
    service.backend("postgres")
    service.api("DELETE", f"/v1/shows/{show}/queue", ahead)
    expect(page.get_by_role("heading", name="Choose your seats")).to_be_visible(timeout=30000)
    banner = page.locator("#backend-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("backup system")

    seat(page, "A", 1).click()
    seat(page, "A", 2).click()
    page.get_by_role("button", name="Hold 2 seats").click()
    # Holds wait (503, retried by the page) until Redis' acknowledged holds reached Postgres.
    expect(page.locator("#held-list li")).to_have_count(2, timeout=30000)
    fan.check_accessibility("seat map on the fallback")
    fan.shot("holding-on-postgres")
    page.get_by_role("button", name="Buy 2 seats").click()
    expect(page.get_by_role("heading", name="You have tickets!")).to_be_visible(timeout=30000)
    expect(banner).to_be_visible()
    fan.shot("receipt-on-postgres")

    stats = service.stats(show)
    assert stats["backend"] == "postgres" and stats["sold"] == 2, stats
    assert not fan.errors, fan.errors
