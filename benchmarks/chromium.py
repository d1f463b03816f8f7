"""Debian's Chromium, launched by Playwright for the benchmarks, the screenshots and the browser tests.

Chromium's headless mode (since 132 the full browser with an invisible window) builds two omnibox popups
of its own for every browser context, as web pages of its UI (chrome://omnibox-popup.top-chrome/ and its
AI-mode twin, in a renderer of their own), and on this machine building them cost about 1.4 s of CPU in
the first 1.5 s of each fresh context's first page, whatever the page (measured with Chromium 156:
1.0-1.1 s in that renderer and 0.25-0.3 s in the browser process, then 0.01-0.03 s per 1.5 s; 0.04-0.09 s
in the first 1.5 s with the two features below turned off). The benchmarks and the tests open a fresh
context for every visit, so on 2 cores shared with the app every visit looked like a visit from a busy
laptop (the engine, seeing a core taken, ran each pass on one thread: model/speed.py ThreadBudget), and
every browser test was slowed. So both features are turned off.

Playwright passes its own `--disable-features=...` and Chromium keeps only the last one given, so ours
is Playwright's list with the two added, and Playwright's own flag is left out (`ignore_default_args`).
Playwright's list is read once per process from chrome://version of a first launch (it changes with
Playwright's version). If that page cannot be read (a Chromium whose version page changed), the browser
is launched as Playwright would launch it, popups on, with a warning: slower, never wrong."""

from __future__ import annotations

import warnings
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
IDLE_UI_FEATURES = ("WebUIOmniboxPopup", "WebUIOmniboxAimPopup")
DISABLE = "--disable-features="

UNREAD = object()  # chrome://version could not be read: Playwright's flag is not known
PROBE_TIMEOUT_MS = 10_000  # the version page shows in well under a second; Playwright's default wait is 30 s
_playwright_flag: list = []  # [Playwright's --disable-features flag, None (it gives none) or UNREAD], once read


def merged_flag(playwright_flag: str | None, features=IDLE_UI_FEATURES) -> str:
    """Playwright's --disable-features flag with `features` added (none twice)."""
    have = playwright_flag.removeprefix(DISABLE).split(",") if playwright_flag else []
    merged: list[str] = []
    for f in [*have, *features]:
        if f and f not in merged:
            merged.append(f)
    return DISABLE + ",".join(merged)


def command_line_flag(command_line: str) -> str | None:
    """The --disable-features flag Chromium keeps from a command line as chrome://version shows it
    (space-separated): the last one (Playwright's comes after any /etc/chromium.d adds)."""
    return next((a for a in reversed(command_line.split()) if a.startswith(DISABLE)), None)


def launch_args(playwright_flag: str | None, extra_args: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The arguments of `launch`: ours, the caller's, and one --disable-features flag holding Playwright's
    features, the caller's own (a --disable-features among `extra_args` would otherwise be dropped) and
    the idle popups'."""
    theirs = [f for a in extra_args if a.startswith(DISABLE) for f in a.removeprefix(DISABLE).split(",")]
    rest = [a for a in extra_args if not a.startswith(DISABLE)]
    return [*ARGS, *rest, merged_flag(playwright_flag, (*theirs, *IDLE_UI_FEATURES))]


def playwright_flag(playwright):
    """The --disable-features flag Playwright gives Chromium, from a first launch's chrome://version: the
    flag, None when it gives none, UNREAD when the page could not be read (said once, as a warning)."""
    if not _playwright_flag:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.goto("chrome://version", timeout=PROBE_TIMEOUT_MS)
            _playwright_flag.append(command_line_flag(page.inner_text("#command_line", timeout=PROBE_TIMEOUT_MS)))
        except Exception as e:  # Playwright's Error or TimeoutError: whatever the page did, launch anyway
            warnings.warn(f"could not read Playwright's --disable-features from chrome://version ({e}); "
                          "Chromium keeps its idle omnibox popups (about 1.4 s of CPU per fresh context)",
                          RuntimeWarning, stacklevel=2)
            _playwright_flag.append(UNREAD)
        finally:
            browser.close()
    return _playwright_flag[0]


def launch(playwright, extra_args: list[str] | tuple[str, ...] = ()):
    """A headless Chromium from Debian's package (never a downloaded one), its idle omnibox popups off."""
    flag = playwright_flag(playwright)
    if flag is UNREAD:  # ours alone would replace Playwright's list (PaintHolding and the rest back on)
        return playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*ARGS, *extra_args])
    args = launch_args(flag, extra_args)
    if args[-1] == flag:  # Playwright's own list has them all: leave it (ignoring it would drop ours too, same text)
        args, flag = args[:-1], None
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=args,
                                      ignore_default_args=[flag] if flag else None)
