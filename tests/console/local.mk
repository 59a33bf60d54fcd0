# tests/console: the web console in a real browser (Debian's headless chromium driven by
# python3-selenium) against a real gateway serving the console from the source tree.
# Screenshots of the main views are left in console/screenshots/ of the build tree.
TESTS += console/test_console.py
EXTRA_DIST += console/test_console.py
MOSTLYCLEANFILES = console/screenshots/*.png
