"""The dashboard's browser scenarios, run by tests/tests/dashboard.rs against a live server:
`python dashboard_suite.py SCENARIO` with DOZTRA_URL, CHROMIUM, CHROMEDRIVER, DASHBOARD_DATA
(JSON prepared by the Rust test: accounts, tokens, expected figures) and optionally
SCREENSHOT_DIR. Exits non-zero with the reason when the page does not do what a person expects.
"""
import datetime
import json
import os
import sys
import traceback

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from dashboard_browser import Browser

USAGE_LOADED = (
    "return !!document.querySelector('#usage-body:not([aria-busy]) [data-meter=\"tokens\"]')"
    " && !!document.querySelector('.history-results:not([aria-busy])')"
    " && !document.querySelector('.history-results .state-loading');")


def api(browser, method, path, token=None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, browser.base + path, headers=headers, json=body, timeout=30)


def api_login(browser, data):
    response = api(browser, "POST", "/api/auth/login", body={"email": data["email"], "password": data["password"]})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def wait_usage(browser):
    browser.until(lambda d: d.execute_script(USAGE_LOADED), "the usage page to load")


def sign_in(browser, email, password):
    browser.find("#email")
    browser.type_into("#email", email)
    browser.type_into("#password", password)
    browser.find(".auth-form button[type=submit]").click()


def meter(browser, key):
    element = browser.find(f'[data-meter="{key}"]')
    return {
        "used": int(element.get_attribute("data-used")),
        "limit": element.get_attribute("data-limit"),
        "state": element.get_attribute("data-state"),
        "status": element.find_element(By.CSS_SELECTOR, ".meter-status").text,
        "marks": [m.get_attribute("data-threshold") for m in element.find_elements(By.CSS_SELECTOR, ".meter-mark")],
        "reset": element.find_element(By.CSS_SELECTOR, ".meter-reset").text,
    }


def wait_meter(browser, key, used):
    browser.until(
        lambda d: d.execute_script(
            f"const m = document.querySelector('#usage-body:not([aria-busy]) [data-meter=\"{key}\"]');"
            f"return m && m.dataset.used === '{used}';"),
        f"the {key} meter to show {used}")


def phone_check(browser, name):
    """At 375 px the page must not scroll sideways; writes the phone screenshot."""
    browser.phone()
    browser.until(lambda d: not browser.has_horizontal_scroll(), f"{name} to fit a 375 px screen")
    browser.screenshot(f"{name}-phone")
    browser.desktop()


def today():
    return datetime.datetime.now(datetime.timezone.utc).date()


# --- scenarios ----------------------------------------------------------------------------


def user_journey(browser, data):
    """Keyboard sign-in, the meters moving after tracks, charts, plan, upgrade 503, sign-out."""
    browser.open("/app")
    browser.until(lambda d: browser.path() == "/app/signin", "/app to lead to sign-in")
    browser.find("#email")
    assert browser.active_element_id() == "email", "the email field has the focus at first"
    browser.screenshot("signin-desktop")
    phone_check(browser, "signin")

    # The keyboard alone: type, Tab, Enter; a wrong password keeps the focus in the password.
    keys = browser.driver.switch_to.active_element
    keys.send_keys(data["email"], Keys.TAB)
    assert browser.active_element_id() == "password", "Tab moves from email to password"
    browser.driver.switch_to.active_element.send_keys("not-the-password", Keys.ENTER)
    browser.wait_text("#signin-error", "Wrong email or password.")
    assert browser.active_element_id() == "password", "after a failure the focus is back on the password"
    browser.driver.switch_to.active_element.send_keys(data["password"], Keys.TAB)
    focused = browser.driver.switch_to.active_element
    assert focused.tag_name == "button" and focused.get_attribute("type") == "submit", "Tab reaches Sign in"
    focused.send_keys(Keys.ENTER)
    wait_usage(browser)
    assert browser.path() == "/app/usage"
    assert browser.text("h1") == "My usage"

    tokens = meter(browser, "tokens")
    assert tokens["used"] == data["tokens"], tokens
    assert tokens["limit"] == "100000", tokens
    assert tokens["marks"] == ["80", "95", "100"], tokens
    assert tokens["reset"].startswith("Resets "), tokens
    assert meter(browser, "chat_messages")["used"] == data["chats"]
    for chart in (".chart-daily canvas", "#by-model canvas", "#by-type canvas"):
        assert browser.find(chart).size["width"] > 0, f"{chart} is drawn"
    assert "gpt-3.5-turbo" in browser.text("#by-model .legend")
    browser.find('.plan-name[data-plan="free"]')
    browser.find('.model-allowed[data-model="gpt-3.5-turbo"]')
    browser.find('.model-locked[data-model="gpt-4"]')

    # Usage recorded through the API appears after Refresh.
    for body in data["more_tracks"]:
        response = api(browser, "POST", "/api/tokens/me/track", data["access"], body)
        assert response.status_code == 200, response.text
    browser.find("#refresh").click()
    wait_meter(browser, "tokens", data["tokens_after"])
    wait_usage(browser)
    assert meter(browser, "chat_messages")["used"] == data["chats"] + 1
    assert meter(browser, "prompts_generated")["used"] == 1
    browser.wait_text(".history-table tbody tr:first-child .request-id", data["more_tracks"][-1]["request_id"])

    # No billing on this server: the upgrade says so instead of failing silently.
    browser.find('[data-upgrade="basic"]').click()
    browser.wait_text("#upgrade-message", "Upgrades are not available on this server")
    assert "status-503" in browser.attribute("#upgrade-message", "class")

    browser.screenshot("usage-desktop")
    phone_check(browser, "usage")

    browser.find("#sign-out").click()
    browser.wait_text("#signin-notice", "You have signed out.")
    assert browser.path() == "/app/signin"
    browser.assert_clean_console(expected_statuses=(401, 503))


def history(browser, data):
    """Pagination and every filter of the history table, including a range the API refuses."""
    browser.open("/app/")
    sign_in(browser, data["email"], data["password"])
    wait_usage(browser)
    total = data["total"]
    browser.wait_text(".history-count", f"{total} in total")
    pages = -(-total // 10)
    assert len(browser.all(".history-table tbody tr")) == 10
    browser.wait_text(".pager-status", f"Page 1 of {pages}")
    assert browser.find('#history [data-page="previous"]').get_attribute("disabled") is not None
    for page in range(2, pages + 1):
        browser.find('#history [data-page="next"]').click()
        browser.wait_text(".pager-status", f"Page {page} of {pages}")
    assert len(browser.all(".history-table tbody tr")) == total - 10 * (pages - 1)
    assert browser.find('#history [data-page="next"]').get_attribute("disabled") is not None
    browser.find('#history [data-page="previous"]').click()
    browser.wait_text(".pager-status", f"Page {pages - 1} of {pages}")

    def apply(**fields):
        for name in ("request_type", "model", "limit"):
            browser.choose(f"#field-{name}", fields.get(name, "10" if name == "limit" else ""))
        for name in ("start_date", "end_date"):
            browser.set_date(f"#field-{name}", fields.get(name, ""))
        browser.find('#history .filters button[type="submit"]').click()

    apply(request_type="plagiarism")
    browser.wait_text(".history-count", f"{data['plagiarism']} in total")
    types = {row.text for row in browser.all(".history-table tbody td:nth-child(2)")}
    assert types == {"Plagiarism check"}, types

    apply(model="gpt-4")
    browser.wait_text(".history-count", f"{data['gpt4']} in total")
    models = {row.text for row in browser.all(".history-table tbody td:nth-child(3)")}
    assert models == {"gpt-4"}, models

    day = today()
    apply(start_date=day.isoformat(), end_date=day.isoformat(), limit="50")
    browser.wait_text(".history-count", f"{total} in total")
    browser.wait_text(".pager-status", "Page 1 of 1")
    assert len(browser.all(".history-table tbody tr")) == total

    tomorrow = (day + datetime.timedelta(days=1)).isoformat()
    apply(start_date=tomorrow)
    browser.wait_text(".history-results .state-empty", "No requests match these filters")

    apply(start_date=tomorrow, end_date=day.isoformat())
    browser.find(".history-problem .state-error")
    assert "Check the values" in browser.text(".history-problem .state-error")

    browser.find('#history .filters button[type="reset"]').click()
    browser.wait_text(".history-count", f"{total} in total")
    browser.wait_text(".pager-status", f"Page 1 of {pages}")
    assert not browser.all(".history-problem .state-error"), "clearing the filters clears the error"
    browser.assert_clean_console(expected_statuses=(422,))


def admin(browser, data):
    """Grouping by day, user, model and type; the CSV download; top users; the user list."""
    browser.open("/app/")
    sign_in(browser, data["email"], data["password"])
    wait_usage(browser)
    browser.find("#nav-admin").click()
    browser.until(lambda d: browser.path() == "/app/admin", "the admin page")

    def report(group):
        browser.choose("#field-group_by", group)
        browser.find('form[aria-label="Report range"] button[type="submit"]').click()
        browser.find(f'#admin-report[data-group="{group}"]:not([aria-busy]) .report-table')
        return [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, "td")]
                for row in browser.all(".report-table tbody tr")]

    rows = report("day")
    assert rows == [[today().isoformat(), f"{data['total_tokens']:,}", str(data["requests"]), "100.0 %"]], rows
    assert browser.text('[data-stat="total_tokens"] .stat-value') == f"{data['total_tokens']:,}"
    assert browser.text('[data-stat="active_users"] .stat-value') == str(len(data["users"]))
    browser.find(".report canvas")

    rows = report("model")
    assert {row[0]: row[3] for row in rows} == {m: f"{t:,}" for m, t in data["models"].items()}, rows
    rows = report("request_type")
    assert {row[0] for row in rows} == set(data["types"]), rows
    rows = report("user")
    assert [row[0].split("\n")[-1] for row in rows] == [u["email"] for u in data["users"]], rows
    top = [li.get_attribute("data-user") for li in browser.all("#top-users li")]
    assert top == [u["email"] for u in data["users"]][:5], top

    # The CSV the browser saves is the API's CSV of the same range and grouping.
    browser.find("#download-csv").click()
    browser.wait_text("#csv-status", "Downloaded")
    name = browser.attribute("#csv-status", "data-file")
    path = os.path.join(browser.downloads, name)
    browser.until(lambda d: os.path.exists(path), f"{name} in the download folder")
    start, end = browser.attribute("#range-start", "value"), browser.attribute("#range-end", "value")
    expected = api(browser, "GET", f"/api/tokens/admin/usage?start_date={start}&end_date={end}&group_by=user&format=csv",
                   data["access"]).text
    with open(path, encoding="utf-8", newline="") as file:
        saved = file.read()
    assert saved == expected, f"saved:\n{saved}\nexpected:\n{expected}"
    assert all(u["email"] in saved for u in data["users"])

    # The user list: plan and status of every account, newest first, searchable.
    browser.find("#users .users-table")
    rows = {row.find_element(By.CSS_SELECTOR, "td .who .muted").text: row.text for row in browser.all("#users tbody tr")}
    assert len(rows) == data["accounts"], rows
    assert "Disabled" in rows[data["disabled"]], rows[data["disabled"]]
    assert "Basic" in rows[data["basic"]], rows[data["basic"]]
    browser.type_into("#user-search", data["disabled"])
    browser.find('#users form button[type="submit"]').click()
    browser.until(lambda d: len(browser.all("#users tbody tr")) == 1, "the search to narrow the list")
    browser.type_into("#user-search", "")
    browser.find('#users form button[type="submit"]').click()
    browser.until(lambda d: len(browser.all("#users tbody tr")) == data["accounts"], "the full list again")

    browser.screenshot("admin-desktop")
    phone_check(browser, "admin")
    browser.assert_clean_console()


def denied(browser, data):
    """A user who opens /app/admin signs in, lands there, and is told it is for admins only;
    their own page, with no usage yet, shows its empty states."""
    browser.open("/app/admin")
    browser.until(lambda d: browser.path() == "/app/signin", "sign-in first")
    sign_in(browser, data["email"], data["password"])
    browser.find("#admin-denied")
    assert browser.path() == "/app/admin"
    assert "Administrators only" in browser.text("#admin-denied")
    assert not browser.all("#nav-admin:not([hidden])"), "no admin link for a user"
    assert not browser.all(".report-table"), "no report for a user"
    response = api(browser, "GET", "/api/tokens/admin/usage", data["access"])
    assert response.status_code == 403 and response.json()["code"] == "admin_required", response.text

    # Back to their own page, which has nothing to show yet: empty states, not blank boxes.
    browser.find('#admin-denied a[href="/app/usage"]').click()
    wait_usage(browser)
    assert meter(browser, "tokens")["used"] == 0
    browser.wait_text(".chart-card .state-empty", "No usage yet this period")
    browser.wait_text("#by-model .state-empty", "Nothing to show yet")
    browser.wait_text(".history-results .state-empty", "No requests recorded yet")
    browser.assert_clean_console()


def limit_reached(browser, data):
    """At the plagiarism limit the page shows the 402 the next check would get."""
    browser.open("/app/")
    sign_in(browser, data["email"], data["password"])
    wait_usage(browser)
    item = browser.find('#limit-banner li[data-refused="plagiarism"]')
    assert item.get_attribute("data-code") == "plagiarism_check_limit_exceeded"
    assert "Plagiarism check limit reached: 5 of 5 used this period." in item.text, item.text
    assert not browser.all('#limit-banner li[data-refused="chat"]')
    plagiarism = meter(browser, "plagiarism_checks")
    assert plagiarism["state"] == "reached" and plagiarism["status"] == "Limit reached", plagiarism
    assert meter(browser, "chat_messages")["state"] == "ok"
    browser.screenshot("limit-reached-desktop")
    browser.assert_clean_console(expected_statuses=(402,))


def session_expiry(browser, data):
    """An expired access token is refreshed unseen; a revoked session returns to sign-in."""
    browser.open("/app/")
    sign_in(browser, data["email"], data["password"])
    wait_usage(browser)
    # A token issued after the page's: once the API refuses it, the page's has expired too.
    probe = api_login(browser, data)
    browser.until(lambda d: api(browser, "GET", "/api/users/me", probe).status_code == 401,
                  "the access tokens to expire")
    browser.find("#refresh").click()
    wait_usage(browser)
    browser.until(lambda d: browser.text(".updated") != "", "a refreshed page")
    assert browser.path() == "/app/usage", "an expired access token does not sign out"
    assert not browser.all("#email")

    response = api(browser, "POST", "/api/auth/logout-all", api_login(browser, data))
    assert response.status_code == 200, response.text
    browser.find("#refresh").click()
    browser.wait_text("#signin-notice", "Your session has expired. Please sign in again.")
    assert browser.path() == "/app/signin"
    sign_in(browser, data["email"], data["password"])
    wait_usage(browser)
    assert browser.path() == "/app/usage", "signing in again returns to the page"
    browser.assert_clean_console(expected_statuses=(401,))


def checkout(browser, data):
    """With billing configured, Upgrade leads to the Checkout page the API returns."""
    browser.open("/app/")
    sign_in(browser, data["email"], data["password"])
    wait_usage(browser)
    browser.find('[data-upgrade="basic"]').click()
    browser.until(lambda d: d.current_url == data["checkout_url"], "the Checkout page")
    assert "Checkout" in browser.driver.find_element(By.TAG_NAME, "h1").text
    browser.assert_clean_console()


SCENARIOS = {f.__name__: f for f in (user_journey, history, admin, denied, limit_reached, session_expiry, checkout)}


def main():
    name = sys.argv[1]
    data = json.loads(os.environ.get("DASHBOARD_DATA", "{}"))
    shots = os.environ.get("SCREENSHOT_DIR") or None
    browser = Browser(os.environ["DOZTRA_URL"], shots)
    try:
        SCENARIOS[name](browser, data)
        if shots and os.path.exists(os.path.join(shots, f"failed-{name}.png")):
            os.remove(os.path.join(shots, f"failed-{name}.png"))
        print(f"{name}: ok")
    except BaseException:
        traceback.print_exc()
        try:
            print("console:", json.dumps(browser.console + browser.driver.get_log("browser"), indent=1))
            if shots:
                browser.screenshot(f"failed-{name}")
        except Exception:  # the browser itself may be gone
            pass
        sys.exit(1)
    finally:
        browser.close()


if __name__ == "__main__":
    main()
