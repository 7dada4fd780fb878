"""The interactive report as a person uses it: the page opened from a file in headless Chromium (Debian's chromium
and chromium-driver, driven by selenium; nothing is downloaded), its sliders moved with the keyboard and by setting
their values, the totals it displays read back and compared with ``mnetcost.cost`` to the integer (and with
torchvision's own counts), one layer's bar data and hover text compared with the library's row, the console free of
errors and no network request made. A table with hostile names shows them as text.

Skipped without the browser, unless MNETCOST_REQUIRE_BROWSER is set (CI sets it: there they may not skip).
``MNETCOST_SCREENSHOTS=DIR`` also saves screenshots at a few settings (how docs/report.png was made)."""

import csv
import os
import re
import shutil
import time
from pathlib import Path

import pytest

import mnetcost
from mnetcost.render import human

pytestmark = pytest.mark.browser
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HOSTILE = "</script><script>alert(1)</script><!--"


def _missing() -> str:
    try:
        import bokeh  # noqa: F401
        import selenium  # noqa: F401
    except ImportError as e:
        return f"needs bokeh and selenium ({e})"
    for path in (CHROMIUM, DRIVER):
        if not (os.path.exists(path) or shutil.which(Path(path).name)):
            return f"needs {path} (apt-get install chromium chromium-driver)"
    return ""


@pytest.fixture(scope="module")
def browser():
    why = _missing()
    if why:
        if os.environ.get("MNETCOST_REQUIRE_BROWSER"):
            pytest.fail(f"MNETCOST_REQUIRE_BROWSER is set but the browser test {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800", "--disable-extensions"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER if os.path.exists(DRIVER) else shutil.which("chromedriver")),
                              options=options)
    yield driver
    driver.quit()


def _open(driver, path):
    driver.get(path.as_uri())
    for _ in range(300):
        if driver.execute_script("return document.body.dataset.ready") == "1":
            return
        time.sleep(0.05)
    raise AssertionError(f"the page did not get ready: {driver.find_element('id', 'status').text!r}")


def _position(driver, expected):
    for _ in range(200):
        if driver.execute_script("return document.body.dataset.position") == expected:
            return
        time.sleep(0.02)
    raise AssertionError(f"the page shows {driver.execute_script('return document.body.dataset.position')}, "
                         f"expected {expected}")


def _shown(driver) -> dict:
    """The totals as the page displays them (the exact column, thousands separators removed)."""
    def number(key):
        text = driver.find_element("id", f"{key}-exact").text
        assert re.fullmatch(r"\d{1,3}(,\d{3})*( B)?", text), text
        return int(text.replace(",", "").replace(" B", ""))

    return {k: number(k) for k in ("macs", "params", "activations", "peak")}


def _check_totals(driver, model, alpha, resolution, convention):
    _position(driver, f"{alpha:g},{resolution},{convention}")
    r = mnetcost.cost(model, alpha=alpha, resolution=resolution, convention=convention)
    peak = mnetcost.memory(r).peak_bytes
    assert _shown(driver) == {"macs": r.macs, "params": r.params, "activations": r.activations, "peak": peak}
    assert driver.find_element("id", "macs-human").text == human(r.macs)
    assert driver.find_element("id", "params-human").text == human(r.params)
    line = driver.find_element("id", "config-line").text
    assert f"α {alpha:g}, {resolution} px" in line and f"convention {convention}" in line
    return r


def _set(driver, control, value):
    """Set a slider's value as a script would and send the input event the page listens to."""
    driver.execute_script("const el = document.getElementById(arguments[0]); el.value = arguments[1];"
                          "el.dispatchEvent(new Event('input', {bubbles: true}));", control, str(value))


def _keys(driver, control, *keys):
    """Move a slider with the keyboard, as a person (or a screen reader user) does."""
    el = driver.find_element("id", control)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus();", el)
    el.send_keys(*keys)


def _no_errors_no_requests(driver, page):
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    import json

    urls = {json.loads(e["message"])["message"].get("params", {}).get("request", {}).get("url")
            for e in driver.get_log("performance")
            if json.loads(e["message"])["message"]["method"] == "Network.requestWillBeSent"}
    fetched = {u for u in urls if u and not u.startswith("data:")}  # data: URLs are inline (bokeh's toolbar icons)
    assert fetched <= {page.as_uri()}, fetched


def _hover(driver, figure, index) -> str:
    """Move the mouse over bar ``index`` of a per-layer figure and read the tooltip bokeh shows."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    x, y = driver.execute_script("""
        const doc = Bokeh.documents[0], view = Bokeh.index.find_one(doc.get_model_by_name(arguments[0]));
        view.el.scrollIntoView({block: 'center'});
        const src = doc.get_model_by_name('layers'), i = arguments[1], box = view.el.getBoundingClientRect();
        return [box.left + view.frame.x_scale.compute(src.data.x[i]),
                box.top + view.frame.y_scale.compute(src.data.macs[i] * 0.5)];""", figure, index)
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.perform()
    for _ in range(100):
        tips = driver.execute_script("""
            const out = [];
            (function walk(root) { for (const el of root.querySelectorAll('*')) { if (el.shadowRoot) walk(el.shadowRoot);
              if (/tooltip/i.test(String(el.className)) && el.offsetParent !== null && el.innerText) out.push(el.innerText); }
            })(document);
            return out;""")
        if tips:
            return max(tips, key=len)
        time.sleep(0.05)
    raise AssertionError("no tooltip appeared")


def _screenshot(driver, name):
    folder = os.environ.get("MNETCOST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def test_v2_sliders_move_every_total_to_the_librarys_values(browser, tmp_path):
    page = tmp_path / "v2.html"
    mnetcost.report("v2").save(page)
    _open(browser, page)
    _check_totals(browser, "v2", 1.0, 224, "paper")
    _screenshot(browser, "v2-1280-start")
    _keys(browser, "alpha", "\ue011")  # Home: the slider's first position
    _check_totals(browser, "v2", 0.25, 224, "paper")
    _keys(browser, "alpha", *["\ue014"] * 10)  # ten steps right, 0.05 each
    _check_totals(browser, "v2", 0.75, 224, "paper")
    _keys(browser, "resolution", *["\ue012"] * 4)  # four steps left, 16 px each
    _check_totals(browser, "v2", 0.75, 160, "paper")
    _set(browser, "alpha", 1.4)
    _set(browser, "resolution", 96)
    _check_totals(browser, "v2", 1.4, 96, "paper")
    _set(browser, "alpha", 0.35)
    _set(browser, "resolution", 336)
    _check_totals(browser, "v2", 0.35, 336, "paper")
    _screenshot(browser, "v2-1280-0.35-336")
    _no_errors_no_requests(browser, page)


def test_the_convention_selector_gives_torchvisions_own_counts(browser, tmp_path):
    from selenium.webdriver.support.ui import Select

    page = tmp_path / "v2.html"
    mnetcost.report("v2").save(page)
    _open(browser, page)
    Select(browser.find_element("id", "convention")).select_by_visible_text("torchvision")
    rows = [r for r in csv.DictReader(open(Path(__file__).parent / "data" / "torchvision_totals.csv"))
            if r["model"] == "mobilenet_v2" and r["num_classes"] == "1000"
            and (float(r["width_mult"]), int(r["resolution"])) in {(0.5, 160), (1.0, 224), (0.75, 128)}]
    assert len(rows) == 3
    for r in rows:
        _set(browser, "alpha", float(r["width_mult"]))
        _set(browser, "resolution", int(r["resolution"]))
        _check_totals(browser, "v2", float(r["width_mult"]), int(r["resolution"]), "torchvision")
        shown = _shown(browser)
        assert (shown["macs"], shown["params"]) == (int(r["macs"]), int(r["params"]))  # torchvision's own
    _no_errors_no_requests(browser, page)


def test_a_layers_bar_and_hover_text_are_the_librarys_row(browser, tmp_path):
    page = tmp_path / "v2.html"
    mnetcost.report("v2", device="pixel6-cpu-int8").save(page)
    _open(browser, page)
    _set(browser, "alpha", 0.5)
    _set(browser, "resolution", 128)
    _position(browser, "0.5,128,paper")
    r = mnetcost.cost("v2", alpha=0.5, resolution=128)
    data = browser.execute_script("const d = Bokeh.documents[0].get_model_by_name('layers').data;"
                                  "return {name: d.name, macs: Array.from(d.macs), params: Array.from(d.params),"
                                  "activations: Array.from(d.activations)};")
    for key in ("name", "macs", "params", "activations"):
        assert data[key] == [v if key == "name" else int(v) for v in r.columns[key]], key
    i = list(r.columns["name"]).index("bneck2.1.dw")  # a depthwise layer
    row = r.layers.iloc[i]
    tip = _hover(browser, "layer-macs", i)
    shape = lambda h, w, c: f"{h}×{w}×{c}"  # noqa: E731
    for text in (f"layer:\t{row['name']}\n", "op:\tdepthwise conv", f"block:\t{row['block']}\n", shape(row.h_in, row.w_in, row.c_in),
                 shape(row.h_out, row.w_out, row.c_out), f"{row.macs:,}"):
        assert str(text) in tip, (text, tip)
    _screenshot(browser, "v2-1280-hover")
    roof = mnetcost.roofline("v2", alpha=0.5, resolution=128, device="pixel6-cpu-int8")
    shown = browser.find_element("id", "latency-exact").text
    assert shown == f"{round(roof.latency_s * 1e6):,} µs"
    _no_errors_no_requests(browser, page)


def test_laptop_width_and_a_head_table(browser, tmp_path):
    page = tmp_path / "lraspp.html"
    mnetcost.report("lraspp-v3-large", convention="torchvision", resolution=520).save(page)
    browser.set_window_size(1024, 768)
    try:
        _open(browser, page)
        _check_totals(browser, "lraspp-v3-large", 1.0, 520, "torchvision")
        _set(browser, "resolution", 760)
        _check_totals(browser, "lraspp-v3-large", 1.0, 760, "torchvision")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 1024, f"the page is {width} px wide at a 1024 px window"
        _screenshot(browser, "lraspp-1024")
        _no_errors_no_requests(browser, page)
    finally:
        browser.set_window_size(1280, 800)


def test_a_hybrid(browser, tmp_path):
    page = tmp_path / "v4.html"
    mnetcost.report("v4-hybrid-medium").save(page)
    _open(browser, page)
    _check_totals(browser, "v4-hybrid-medium", 1.0, 256, "paper")
    _set(browser, "alpha", 0.5)
    _check_totals(browser, "v4-hybrid-medium", 0.5, 256, "paper")
    _no_errors_no_requests(browser, page)


def test_hostile_names_show_as_text(browser, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException

    text = (Path(__file__).parents[1] / "docs" / "example.csv").read_text()
    text = text.replace("# name: tiny", f"# name: {HOSTILE}").replace("# title: ", f"# title: {HOSTILE} ")
    table = tmp_path / "evil.csv"
    table.write_text(text.replace("\nstem,", '\n"st</script><script>alert(2)</script>",'))
    page = tmp_path / "evil.html"
    mnetcost.report(str(table)).save(page)
    _open(browser, page)
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text
    assert HOSTILE in browser.find_element("tag name", "h1").text
    assert browser.execute_script("return document.querySelectorAll('script').length") == 6
    _check_totals(browser, str(table), 1.0, 32, "paper")
    tip = _hover(browser, "layer-macs", 0)
    assert "st</script><script>alert(2)</script>" in tip
    _no_errors_no_requests(browser, page)


def test_the_jupyter_view_works_inside_its_iframe(browser, tmp_path):
    """What a notebook shows (``_repr_html_``: the page in an iframe's srcdoc) gets ready and moves too."""
    shown = mnetcost.report("v3-small", conventions=["paper"])._repr_html_()
    outer = tmp_path / "notebook-output.html"
    outer.write_text(f"<!DOCTYPE html><html><body><p>a notebook cell's output:</p>{shown}</body></html>",
                     encoding="utf-8")
    browser.get(outer.as_uri())
    browser.switch_to.frame(browser.find_element("tag name", "iframe"))
    try:
        for _ in range(300):
            if browser.execute_script("return document.body && document.body.dataset.ready") == "1":
                break
            time.sleep(0.05)
        _check_totals(browser, "v3-small", 1.0, 224, "paper")
        _set(browser, "alpha", 0.75)
        _check_totals(browser, "v3-small", 0.75, 224, "paper")
        assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        browser.switch_to.default_content()
