"""Drives Debian's Chromium (headless, through chromedriver) against a live Doztra server for
the dashboard's browser tests (dashboard_suite.py).

Every wait is for a condition on the page, bounded by WAIT_SECONDS; nothing asserts on speed.
The browser's console is collected all along: an error there fails the scenario, except the
"Failed to load resource" lines Chromium prints for HTTP statuses the scenario expects
(a 402 from a limit check, a 401 from an expired token, ...).
"""
import base64
import os
import shutil
import tempfile

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT_SECONDS = 30
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1280,800",
]


class Browser:
    """One Chromium with a fresh profile and download folder; close() removes both."""

    def __init__(self, base_url, screenshot_dir=None):
        self.base = base_url.rstrip("/")
        self.screenshot_dir = screenshot_dir
        self.profile = tempfile.mkdtemp(prefix="doztra-chromium-")
        self.downloads = tempfile.mkdtemp(prefix="doztra-downloads-")
        self.console = []
        options = Options()
        options.binary_location = os.environ["CHROMIUM"]
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        options.add_experimental_option("prefs", {
            "download.default_directory": self.downloads,
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
            "safebrowsing.enabled": False,
        })
        service = Service(executable_path=os.environ["CHROMEDRIVER"])
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {
            "behavior": "allow", "downloadPath": self.downloads,
        })
        self.desktop()

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
            shutil.rmtree(self.downloads, ignore_errors=True)

    # --- viewport -------------------------------------------------------------------------

    def desktop(self):
        self.viewport = {**DESKTOP, "deviceScaleFactor": 1, "mobile": False}
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", self.viewport)
        self.settle()

    def phone(self):
        self.viewport = {**PHONE, "deviceScaleFactor": 1, "mobile": True}
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", self.viewport)
        self.settle()

    def settle(self):
        """Redraws the charts at the current size (Chart.js would do it on its next frame)."""
        self.driver.execute_script(
            "if (window.Chart) for (const chart of Object.values(Chart.instances)) chart.resize();")

    def has_horizontal_scroll(self):
        return self.driver.execute_script(
            "const e = document.documentElement;"
            "return e.scrollWidth > e.clientWidth || document.body.scrollWidth > e.clientWidth;")

    def screenshot(self, name):
        """The whole page (not only the viewport) as <screenshot_dir>/<name>.png."""
        if not self.screenshot_dir:
            return
        os.makedirs(self.screenshot_dir, exist_ok=True)
        # A viewport as tall as the page, so every chart is drawn at the size it is shown.
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        viewport = self.viewport
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**viewport, "height": max(height, viewport["height"])})
        self.settle()
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", viewport)
        self.settle()
        with open(os.path.join(self.screenshot_dir, f"{name}.png"), "wb") as file:
            file.write(base64.b64decode(shot["data"]))

    # --- finding and waiting --------------------------------------------------------------

    def open(self, path):
        self.driver.get(self.base + path)

    def until(self, condition, what):
        """Waits until condition(driver) is truthy; fails naming `what` otherwise."""
        try:
            # A re-rendered part of the page leaves stale references behind: look again.
            return WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.1,
                                 ignored_exceptions=[StaleElementReferenceException]).until(condition)
        except TimeoutException:
            raise AssertionError(
                f"waited {WAIT_SECONDS}s for {what}; page at {self.driver.current_url}:\n"
                f"{self.text('main')[:2000]}") from None

    def find(self, css):
        return self.until(lambda d: first_visible(d, css), f"a visible {css}")

    def all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def gone(self, css, what=None):
        self.until(lambda d: not d.find_elements(By.CSS_SELECTOR, css), what or f"{css} to go away")

    def text(self, css):
        elements = self.driver.find_elements(By.CSS_SELECTOR, css)
        return elements[0].text if elements else ""

    def attribute(self, css, name):
        return self.find(css).get_attribute(name)

    def wait_text(self, css, expected):
        self.until(lambda d: expected in (first_text(d, css) or ""), f"{css} to show {expected!r}")

    def choose(self, css, value):
        Select(self.find(css)).select_by_value(value)

    def type_into(self, css, value):
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def set_date(self, css, iso_date):
        """Date inputs take typed text in the locale's order; setting the value is exact."""
        self.driver.execute_script("arguments[0].value = arguments[1];", self.find(css), iso_date)

    def active_element_id(self):
        return self.driver.execute_script("return document.activeElement && document.activeElement.id")

    def path(self):
        return self.driver.execute_script("return window.location.pathname")

    # --- the console ----------------------------------------------------------------------

    def collect_console(self):
        self.console.extend(self.driver.get_log("browser"))

    def console_errors(self, expected_statuses=()):
        """SEVERE console entries, less the network lines of the expected HTTP statuses."""
        self.collect_console()
        problems = []
        for entry in self.console:
            if entry.get("level") != "SEVERE":
                continue
            message = entry.get("message", "")
            if entry.get("source") == "network" and any(
                    f"status of {status} " in message for status in expected_statuses):
                continue
            problems.append(message)
        return problems

    def assert_clean_console(self, expected_statuses=()):
        problems = self.console_errors(expected_statuses)
        assert not problems, "console errors:\n" + "\n".join(problems)


def first_visible(driver, css):
    for element in driver.find_elements(By.CSS_SELECTOR, css):
        if element.is_displayed():
            return element
    return None


def first_text(driver, css):
    elements = driver.find_elements(By.CSS_SELECTOR, css)
    return elements[0].text if elements else None
