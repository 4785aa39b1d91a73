"""The report dimensions: what a session (or, for ``page``, a view) is broken down by.

Written once here; rollups, reports, the payments export and the dashboard's labels all read it.
"""

# Fields of Session, in the order the dashboard shows them.
SESSION_DIMENSIONS = (
    "channel",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "entry_page",
    "exit_page",
    "country",
    "browser",
    "os",
    "device",
)
# Every dimension a report can break down or filter by: ``page`` is the page of a view.
DIMENSIONS = (*SESSION_DIMENSIONS[:6], "page", *SESSION_DIMENSIONS[6:])

# dimension → (panel title, column heading)
LABELS = {
    "channel": ("Channels", "Channel"),
    "referrer": ("Referrers", "Referrer"),
    "utm_source": ("Sources", "UTM source"),
    "utm_medium": ("Mediums", "UTM medium"),
    "utm_campaign": ("Campaigns", "UTM campaign"),
    "entry_page": ("Entry pages", "Entry page"),
    "page": ("Pages", "Page"),
    "exit_page": ("Exit pages", "Exit page"),
    "country": ("Countries", "Country"),
    "browser": ("Browsers", "Browser"),
    "os": ("Operating systems", "OS"),
    "device": ("Devices", "Device"),
}
