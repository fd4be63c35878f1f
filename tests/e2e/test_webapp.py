"""The web app (chalicelib/webapp) in headless Chromium against the embedded stack.

Debian's `chromium` package, driven by Playwright for Python through the system browser: no browser is ever
downloaded (`playwright install` is never run). Screenshots of each tab go to var/screenshots/.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from conftest import PROJECT_DIR, jpeg_bytes, read_alerts, store_needs_review, store_result, synthetic_photo

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
SCREENSHOTS = PROJECT_DIR / "var" / "screenshots"
VERDICT_LABELS = {"defective": "Defective", "defect_free": "Defect-free", "needs_review": "Needs review",
                  "rejected": "Rejected", "error": "Error"}
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed: apt-get install -y chromium")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{stack.api_url}/")
    # The key is asked for once per browser session (the embedded stack accepts any key).
    page.fill("#api-key", "local-e2e-key")
    page.fill("#reviewer", "E2E QA lead")
    page.click("#key-form button[type=submit]")
    yield page
    context.close()
    assert errors == [], errors  # no script errors, no Content-Security-Policy refusals


def wait_until(page, expression: str, seconds: float = 15) -> None:
    """Poll `expression` in the page until it is true. Not page.wait_for_function: it evaluates its predicate
    with eval inside the page, which the page's Content-Security-Policy (no unsafe-eval) refuses."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {seconds} s: {expression}"
        time.sleep(0.1)


def shoot(page, name: str) -> None:
    wait_until(page, "[...document.images].every(i => !i.src || i.complete)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def results(stack, product_id: str) -> dict:
    return requests.get(f"{stack.api_url}/results/{product_id}", headers={"x-api-key": "k"}, timeout=10).json()


def test_given_the_page_when_a_photo_is_uploaded_then_its_verdict_confidence_and_photo_show(page, stack, tmp_path):
    # GIVEN a photo on the operator's device
    photo = tmp_path / "part.jpg"
    photo.write_bytes(jpeg_bytes(synthetic_photo(np.random.default_rng(11), defective=True, size=240)))
    # WHEN it is uploaded from the Inspect tab
    page.fill("#inspect-product", "WEB-0001")
    page.set_input_files("#inspect-photo", str(photo))
    page.click("#inspect-button")
    # THEN the stored verdict shows, with its confidence and the stored photo
    page.wait_for_selector("#inspect-status:has-text('Inspected:')")
    stored = results(stack, "WEB-0001")["latest"]
    assert page.inner_text("#inspect-result .verdict.big").lower() == VERDICT_LABELS[stored["verdict"]].lower()
    assert f"{stored['confidence'] * 100:.1f} %" in page.inner_text("#inspect-result")
    wait_until(page, "document.querySelector('#inspect-result img').src.startsWith('http')")
    assert stored["inspection_id"] in page.inner_text("#inspect-result")
    # AND the model's heat map over the photo, captioned, from the result's stored overlay
    assert stored["heatmap_key"].startswith("heatmaps/WEB-0001/")
    wait_until(page, "document.querySelector('#inspect-result figure.heatmap img')?.naturalWidth > 0")
    assert page.inner_text("#inspect-result figure.heatmap figcaption").startswith("Heat map:")
    shoot(page, "inspect")


def test_given_a_needs_review_item_when_reviewed_defective_then_the_products_verdict_changes(
        page, stack, alert_queue):
    # GIVEN an inspection the model was unsure about
    record = store_needs_review(stack, "WEB-REVIEW-1")
    assert results(stack, "WEB-REVIEW-1")["latest"]["verdict"] == "needs_review"
    read_alerts(stack, alert_queue, wait_seconds=0.5)  # earlier tests' alerts
    # WHEN the Review tab shows it, with its photo
    page.click(".tabs button[data-tab=review]")
    card = page.locator(f"article.card[data-inspection='{record['inspection_id']}']")
    card.wait_for()
    wait_until(
        page, f"document.querySelector(\"article[data-inspection='{record['inspection_id']}'] img\").naturalWidth > 0")
    assert "58.0 %" in card.inner_text()
    shoot(page, "review")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    shoot(page, "review-phone")
    page.set_viewport_size({"width": 1280, "height": 860})
    # AND the operator marks it defective with a note
    card.locator("textarea").fill("Dark blemish top left, confirmed under the lamp")
    card.locator("button.defective").click()
    card.wait_for(state="detached")
    # THEN the product's verdict is the human one, the model's kept beside it
    latest = results(stack, "WEB-REVIEW-1")["latest"]
    assert (latest["verdict"], latest["model_verdict"], latest["reviewed_by"]) == ("defective", "needs_review", "E2E QA lead")
    # AND the Product tab shows it
    page.click(".tabs button[data-tab=product]")
    page.fill("#product-id", "WEB-REVIEW-1")
    page.click("#product-form button[type=submit]")
    page.wait_for_selector("#product-latest .verdict.big")
    assert page.inner_text("#product-latest .verdict.big").lower() == "defective"
    assert "E2E QA lead" in page.inner_text("#product-history")
    shoot(page, "product")
    # AND one defect alert went out
    subjects = [alert["Subject"] for alert in read_alerts(stack, alert_queue)]
    assert subjects.count("Defect confirmed by review: WEB-REVIEW-1") == 1, subjects


def count(page, selector: str) -> int:
    return int(page.inner_text(selector))


def test_given_inspections_arriving_when_the_line_tab_is_open_then_thumbnails_counts_and_chart_follow_them(page, stack):
    # GIVEN a defective and a defect-free part inspected just now
    defective = store_result(stack, "LINE-0001", "defective", seed=31)
    store_result(stack, "LINE-0002", "defect_free", seed=32)
    # WHEN the Line tab opens
    page.click(".tabs button[data-tab=line]")
    card = page.locator(f"figure.thumb[data-inspection='{defective['inspection_id']}']")
    card.wait_for()
    # THEN the newest inspections show as thumbnails coloured by verdict, with their photos
    assert "t-defective" in card.get_attribute("class") and "LINE-0001" in card.inner_text()
    wait_until(page, f"document.querySelector(\"figure[data-inspection='{defective['inspection_id']}'] img\").naturalWidth > 0")
    # AND the counts of the last hour and day agree with each other and with the API, defect rate included
    listed = {v: len(requests.get(f"{stack.api_url}/inspections", params={"verdict": v, "limit": 100},
                                  headers={"x-api-key": "k"}, timeout=10).json()["items"])
              for v in ("defective", "defect_free", "needs_review", "rejected", "error")}
    hour, day = count(page, "#line-hour-total"), count(page, "#line-day-total")
    assert 2 <= hour <= day == sum(listed.values()), (hour, day, listed)
    assert page.inner_text("#line-day-rate").endswith("% defective")
    # AND the chart's bars add up to the day's count, the last bar (this hour) holding the new ones
    bars = page.evaluate("[...document.querySelectorAll('#line-chart rect.bar')].map(r => [r.dataset.verdict, +r.dataset.hour, r.getAttribute('height')])")
    assert {verdict for verdict, hour_index, _ in bars if hour_index == 23} >= {"defective", "defect_free"}
    assert page.locator("#line-chart svg title").count() == len(bars) > 0
    shoot(page, "line")
    # WHEN another part is inspected while the tab stays open
    arriving = store_result(stack, "LINE-0003", "needs_review", seed=33)
    # THEN it appears first, without a reload, and the hour's count grows
    wait_until(page, f"document.querySelector('#line-latest figure')?.dataset.inspection === '{arriving['inspection_id']}'",
               seconds=25)
    assert count(page, "#line-hour-total") == hour + 1
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    shoot(page, "line-phone")
