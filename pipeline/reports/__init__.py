"""The production report for the planner (issue #15): what came in, what is done, what is stuck
and why, per day and per delivery folder.

`model` reads the store, the review decisions and the last run's report into one dataclass;
`charts` draws its static SVG charts; `output` writes it as HTML (out/site/report.html, built by
the publish step after every run), CSV or JSON (`crossmedia report`). docs/reports.md.
"""
