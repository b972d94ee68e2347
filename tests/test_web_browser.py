"""The search page end to end: uvicorn on a free port, driven by Debian's headless chromium through selenium.

The browser and its driver come from apt (scripts/setup_env.sh installs `chromium` and `chromium-driver`);
their paths are given to selenium so that its selenium-manager never downloads anything. A missing
browser fails the test: CI installs it.
"""

from __future__ import annotations

import shutil
import socket
import threading

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from hybrid_search.web.app import create_app

WAIT_S = 20


@pytest.fixture
def server(es_settings, tiny_vector_index):
    """The app served by uvicorn in a thread, on a port the OS picked; yields its base url."""
    alias, data = tiny_vector_index
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(es_settings, alias, data), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    WebDriverWait(server, WAIT_S).until(lambda s: s.started)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(WAIT_S)
    sock.close()


def installed(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `apt-get install chromium chromium-driver` (scripts/setup_env.sh)")
    return path


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = installed("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages, CSP violations included
    driver = webdriver.Chrome(options=options, service=Service(executable_path=installed("chromedriver")))
    yield driver
    driver.quit()


def shown_results(driver) -> list[tuple[str, str]]:
    """(name, score text) of each result on the page."""
    return [
        (li.find_element(By.CLASS_NAME, "name").text, li.find_element(By.CLASS_NAME, "score").text)
        for li in driver.find_elements(By.CSS_SELECTOR, "#results li.result")
    ]


def test_type_a_query_switch_mode_and_save_a_screenshot(server, browser, tmp_path):
    wait = WebDriverWait(browser, WAIT_S)
    browser.get(server)
    box = wait.until(ec.element_to_be_clickable((By.ID, "q")))
    box.send_keys("read csv file", Keys.ENTER)

    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#summary[data-mode='hybrid'] ~ #results li")))
    hybrid = shown_results(browser)
    assert hybrid[0][0] == "read_csv_file"
    assert browser.find_elements(By.CSS_SELECTOR, "#results li.result .name mark")  # matched terms marked
    assert "NDCG" in browser.find_element(By.ID, "ndcg").text  # an annotated query of the tiny data
    assert browser.find_element(By.ID, "q").get_attribute("value") == "read csv file"

    Select(browser.find_element(By.ID, "mode")).select_by_value("baseline")  # submits the form
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#summary[data-mode='baseline'] ~ #results li")))
    baseline = shown_results(browser)
    assert baseline and baseline[0][0] == "read_csv_file"
    assert baseline != hybrid  # another ranking: BM25 scores instead of fused ones
    assert "mode=baseline" in browser.current_url

    # The page works under its Content-Security-Policy: nothing it needs was blocked, and the code is coloured.
    assert not [m for m in browser.get_log("browser") if "Content Security Policy" in m["message"]]
    keyword = browser.find_element(By.CSS_SELECTOR, "#results .code .k")
    assert keyword.value_of_css_property("color") not in ("rgba(31, 35, 40, 1)", "rgba(0, 0, 0, 1)")

    screenshot = tmp_path / "search.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
