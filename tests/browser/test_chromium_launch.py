"""benchmarks/chromium.launch: Chromium's idle omnibox popups are off, and Playwright's own disabled
features still are (Chromium keeps only the last --disable-features flag it is given)."""

from __future__ import annotations

import pytest

from benchmarks import chromium
from benchmarks.chromium import ARGS, DISABLE, IDLE_UI_FEATURES, command_line_flag, launch_args, merged_flag

PLAYWRIGHTS_OWN = "PaintHolding"  # one of the features Playwright turns off, on which its waits rely


def test_merged_flag_adds_ours_to_playwrights_once():
    assert merged_flag(None) == DISABLE + ",".join(IDLE_UI_FEATURES)
    assert merged_flag("--disable-features=A,B") == "--disable-features=A,B," + ",".join(IDLE_UI_FEATURES)
    assert merged_flag("--disable-features=A,WebUIOmniboxPopup") == "--disable-features=A,WebUIOmniboxPopup,WebUIOmniboxAimPopup"
    assert merged_flag("--disable-features=") == DISABLE + ",".join(IDLE_UI_FEATURES)


def test_the_flag_is_read_from_a_command_line():
    line = "/usr/lib/chromium/chromium --no-sandbox --disable-features=A,B --enable-features=C about:blank"
    assert command_line_flag(line) == "--disable-features=A,B"
    assert command_line_flag("/usr/lib/chromium/chromium --no-sandbox") is None
    # Chromium keeps the last one: Playwright's, after any a file in /etc/chromium.d puts first
    assert command_line_flag("chromium --disable-features=Local --x --disable-features=A,B") == "--disable-features=A,B"


def test_a_callers_own_disabled_features_are_merged_not_dropped():
    args = launch_args("--disable-features=A,B", ["--disable-quic", "--disable-features=C,A"])
    assert args == [*ARGS, "--disable-quic", DISABLE + ",".join(["A", "B", "C", *IDLE_UI_FEATURES])]
    assert launch_args(None) == [*ARGS, DISABLE + ",".join(IDLE_UI_FEATURES)]


class _Recorder:
    """Stands for Playwright: records what `launch` asks of it."""

    def __init__(self):
        self.chromium, self.calls = self, []

    def launch(self, **options):
        self.calls.append(options)


def test_playwrights_flag_is_left_alone_when_it_already_has_ours(monkeypatch):
    """Playwright drops every argument equal to one in ignore_default_args, the caller's too: ignoring its
    flag and passing the same text back would leave Chromium with no --disable-features at all."""
    for flag, ignored in (("--disable-features=A", ["--disable-features=A"]),
                          (DISABLE + ",".join(["A", *IDLE_UI_FEATURES]), None)):
        monkeypatch.setattr(chromium, "_playwright_flag", [flag])
        fake = _Recorder()
        chromium.launch(fake)
        (options,) = fake.calls
        assert options["ignore_default_args"] == ignored
        passed = [a for a in options["args"] if a.startswith(DISABLE)]
        assert passed == ([] if ignored is None else [merged_flag(flag)])


def test_the_launched_browser_has_one_flag_with_both_lists(browser):
    page = browser.new_page()
    try:
        page.goto("chrome://version")
        line = page.inner_text("#command_line")
    finally:
        page.close()
    flags = [a for a in line.split() if a.startswith(DISABLE)]
    assert len(flags) == 1, flags
    features = flags[0].removeprefix(DISABLE).split(",")
    assert PLAYWRIGHTS_OWN in features and set(IDLE_UI_FEATURES) <= set(features)


def test_no_omnibox_popup_is_built_beside_a_page(browser):
    """With the features on, every browser context got two chrome://omnibox-popup.top-chrome/ pages, about
    1.4 s of CPU to build in the context's first 1.5 s."""
    context = browser.new_context()
    try:
        context.new_page().goto("about:blank")
        session = browser.new_browser_cdp_session()
        urls = [t["url"] for t in session.send("Target.getTargets")["targetInfos"]]
        session.detach()
    finally:
        context.close()
    assert "about:blank" in urls
    assert not [u for u in urls if u.startswith("chrome://omnibox-popup")], urls


class _NoVersionPage(_Recorder):
    """Stands for Playwright with a Chromium whose chrome://version cannot be read."""

    def launch(self, **options):
        super().launch(**options)
        return self

    def new_page(self):
        return self

    def goto(self, url, **options):
        raise TimeoutError(f"{url} did not load")

    def close(self):
        self.closed = True


def test_an_unreadable_version_page_launches_as_playwright_would(monkeypatch):
    """Our flag alone would replace Playwright's list (PaintHolding back on, on which its waits rely):
    without that list the browser keeps Playwright's defaults, and the probe browser is closed."""
    monkeypatch.setattr(chromium, "_playwright_flag", [])
    fake = _NoVersionPage()
    with pytest.warns(RuntimeWarning, match="chrome://version"):
        chromium.launch(fake, ["--disable-quic", "--disable-features=C"])
    probe, launched = fake.calls
    assert fake.closed
    assert launched["args"] == [*ARGS, "--disable-quic", "--disable-features=C"]
    assert "ignore_default_args" not in launched
    assert chromium._playwright_flag == [chromium.UNREAD]  # read once per process, not at every launch
    chromium.launch(fake)
    assert len(fake.calls) == 3
