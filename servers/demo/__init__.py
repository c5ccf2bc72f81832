"""The live demo (`tbench demo`): every target side by side in one page, driven by the browser.

`config` describes the panels (one per registered target), `app` serves the static page and
`/config.json`, `session` starts the targets and the page and stops them all.
"""
