"""Debian's Chromium, launched by Playwright for the benchmarks, the screenshots and the browser tests.

Chromium's headless mode (since 132 the full browser with an invisible window) builds two omnibox popups
of its own for every window, as web pages of its UI (chrome://omnibox-popup.top-chrome/ and its AI-mode
twin, in a renderer of their own), and on this machine they kept drawing while nothing was shown: about
one core of CPU for as long as a page is open, whatever the page (measured with Chromium 156: 0.9-1.1 s
of CPU in 1.5 s with about:blank open; 0.02-0.05 s with the two features below turned off). A learner's
browser does not spend a core so; here, on 2 cores shared with the app, it made every visit look like a
visit from a busy laptop (the engine, seeing a core taken, ran each pass on one thread:
model/speed.py ThreadBudget), and slowed every browser test. So both features are turned off.

Playwright passes its own `--disable-features=...` and Chromium keeps only the last one given, so ours
is Playwright's list with the two added, and Playwright's own flag is left out (`ignore_default_args`).
Playwright's list is read once per process from chrome://version of a first launch (it changes with
Playwright's version)."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
IDLE_UI_FEATURES = ("WebUIOmniboxPopup", "WebUIOmniboxAimPopup")
DISABLE = "--disable-features="

_playwright_flag: list[str | None] = []  # [Playwright's --disable-features flag, or None], once read


def merged_flag(playwright_flag: str | None, features=IDLE_UI_FEATURES) -> str:
    """Playwright's --disable-features flag with `features` added (those it already has not twice)."""
    have = playwright_flag.removeprefix(DISABLE).split(",") if playwright_flag else []
    have = [f for f in have if f]
    return DISABLE + ",".join(have + [f for f in features if f not in have])


def command_line_flag(command_line: str) -> str | None:
    """The --disable-features flag of a command line as chrome://version shows it (space-separated)."""
    return next((a for a in command_line.split() if a.startswith(DISABLE)), None)


def playwright_flag(playwright) -> str | None:
    """The --disable-features flag Playwright gives Chromium, from a first launch's chrome://version."""
    if not _playwright_flag:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.goto("chrome://version")
            _playwright_flag.append(command_line_flag(page.inner_text("#command_line")))
        finally:
            browser.close()
    return _playwright_flag[0]


def launch(playwright, extra_args: list[str] | tuple[str, ...] = ()):
    """A headless Chromium from Debian's package (never a downloaded one), its idle omnibox popups off."""
    flag = playwright_flag(playwright)
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*ARGS, *extra_args, merged_flag(flag)],
                                      ignore_default_args=[flag] if flag else None)
