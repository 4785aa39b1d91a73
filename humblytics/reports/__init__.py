"""Reports over traffic and revenue together: the dashboard and the reports API.

This package stands above the three apps, like ``urls.py``: it may import tracking, revenue and
splittests; none of them imports it. Its modules:

- ``query``: the filtered base query (site, local date range, time zone, filters) and its parsing.
- ``traffic``: the traffic half of every widget, from rollups for settled days and raw rows for the rest.
- ``revenue``: the revenue half of every widget, from payments and the sessions they are attributed to.
- ``widgets``: summary, breakdown, timeseries and the dashboard's overview, each joining both halves.
- ``goals``: goals and custom events (the Goals panel, property breakdowns), from goal rollups and raw
  rows; ``funnels``: a funnel's steps done in order within one visit.
- ``views`` and ``api``: the dashboard and funnel pages; ``/api/v1/sites/<id>/summary|breakdown|timeseries``.
"""
