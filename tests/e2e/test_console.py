"""The operator's console: the queue, the deployment, and settings that take effect."""

from playwright.sync_api import expect
from test_fan_journey import active_by_api


def stat(page, scope, label):
    return page.locator(scope).locator("div.stat", has_text=label).locator("dd")


def test_the_console_shows_each_queue_and_the_deployment_and_changes_settings(service, fans):
    show = service.new_show(max_active=1, admit_per_second=50)
    active_by_api(service, show)
    service.fan_by_api(show)
    operator = fans("operator")
    page = operator.page
    page.goto("/admin")
    operator.check_accessibility("token form")
    page.get_by_label("Admin token").fill(service.admin)
    page.get_by_role("button", name="Open the console").click()

    stats = f"#show-{show}-stats"
    expect(stat(page, stats, "Waiting")).to_have_text("1")
    expect(stat(page, stats, "Active")).to_have_text("1")
    expect(stat(page, stats, "Joined")).to_have_text("2")
    expect(stat(page, stats, "Backend")).to_have_text("redis")
    expect(stat(page, "#deployment", "Serving from")).to_have_text("redis")
    expect(stat(page, "#deployment", "Breaker")).to_have_text("closed")
    operator.check_accessibility("console")
    operator.shot("console")

    form = page.get_by_role("form", name=f"Queue settings of show {show}")
    form.get_by_label("Admitted per second").fill("7")
    form.get_by_label("Most active at once").fill("2")
    form.get_by_role("button", name="Save settings").click()
    expect(form.get_by_role("status")).to_contain_text("Saved")
    config = service.api("GET", f"/v1/admin/shows/{show}/queue", service.admin)
    assert config["admit_per_second"] == 7 and config["max_active"] == 2, config
    expect(stat(page, stats, "Active")).to_have_text("2")
    expect(stat(page, stats, "Waiting")).to_have_text("0")

    page.reload()
    expect(stat(page, stats, "Active")).to_have_text("2")
    page.get_by_role("button", name="Forget the token").click()
    expect(page.get_by_label("Admin token")).to_be_visible()
    assert not operator.errors, operator.errors


def test_the_console_refuses_a_token_that_is_not_an_admins(service, fans):
    operator = fans("stranger")
    page = operator.page
    page.goto("/admin")
    page.get_by_label("Admin token").fill(service.api("POST", "/v1/tokens", body={})["token"])
    page.get_by_role("button", name="Open the console").click()
    expect(page.locator("#notice")).to_contain_text("not an admin token")
    expect(page.get_by_label("Admin token")).to_be_visible()
