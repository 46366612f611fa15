"""report.html in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`)
driven through Selenium. Marker `browser`; skips with the reason when either is missing.

`GAN_SCREENSHOT=/tmp/report.png python -m pytest -m browser` keeps the screenshot to look at."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from gan_cli.report import run_report

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium: pip install 'gan-cli[browser]'")
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("needs Chromium and its driver: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def column_texts(driver, index: int) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#runs tbody tr'), r => r.cells[arguments[0]].textContent.trim())",
        index)


def test_report_page_renders_and_sorts(browser, ring_sweep, tmp_path):
    from selenium.webdriver.common.by import By

    run_report(OmegaConf.create({"dir": str(ring_sweep), "out": str(tmp_path), "sort": None, "plots": True}))
    browser.get((tmp_path / "report.html").as_uri())

    # every image (curves and one sample grid per configuration) decoded to a real size
    images = browser.execute_script(
        "return Array.from(document.images, i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
    alts = [alt for alt, *_ in images]
    assert {"Scores during training", "Final scores", "Training curves"} <= set(alts)
    assert sorted(a for a in alts if a.startswith("samples: ")) == ["samples: loss=minimax", "samples: loss=ns"]
    assert all(complete and width > 0 and height > 0 for _, complete, width, height in images), images
    # nothing wider than the window at 1280 px but the table's own scroll box
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280

    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#runs th")]
    assert headers[:2] == ["loss", "modes ↑"]
    loss, modes = headers.index("loss"), headers.index("modes ↑")
    means = dict(zip(column_texts(browser, loss), (float(t.split(" ")[0]) for t in column_texts(browser, modes))))

    # clicking a header sorts the rows by it (read back from the DOM), a second click reverses
    header = browser.find_elements(By.CSS_SELECTOR, "#runs th")
    header[loss].click()
    assert column_texts(browser, loss) == ["minimax", "ns"]
    header[loss].click()
    assert column_texts(browser, loss) == ["ns", "minimax"]
    header[modes].click()
    assert column_texts(browser, loss) == sorted(means, key=lambda k: (means[k], k != "minimax"))
    assert header[modes].get_attribute("aria-sort") == "ascending"

    browser.set_window_size(1280, browser.execute_script("return document.body.scrollHeight") + 100)
    shot = Path(os.environ.get("GAN_SCREENSHOT") or tmp_path / "report.png")
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
