"""Lists of visitor hashes (or row ids) in report queries: one array parameter on PostgreSQL, chunks on
SQLite."""

import re

from django.db import connection
from django.db.models import F, Lookup, Q

# Visitor hashes per IN list: SQLite caps bound parameters; PostgreSQL takes one list (one array
# parameter), since each chunk would be another pass over the range's sessions or goal visitors: a 10M-view
# site's 150,000 payers of a year took 3.4-3.9 s in chunks of 30,000 and 2.4 s in one list.
_IN_CHUNK = {"sqlite": 2000}
_IN_CHUNK_DEFAULT = 10_000_000


class _AnyOf(Lookup):
    """``lhs = ANY(%s)``: the values as one array parameter (PostgreSQL), instead of an IN list whose
    thousands of placeholders cost more to build and parse than the query takes to run."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        values = list(value)
        # Hashes are hex: then the array is written here, once, instead of psycopg quoting each element
        # (tens of thousands of regex searches per report at 10M views).
        if all(isinstance(v, str) for v in values) and _PLAIN_ARRAY.fullmatch(joined := ",".join(values)):
            return "%s::text[]", [f"{{{joined}}}"]
        return "%s", [values]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


_PLAIN_ARRAY = re.compile(r"[0-9A-Za-z]+(?:,[0-9A-Za-z]+)*")


def among(field: str, values: list) -> Q | Lookup:
    """A filter: ``field`` is one of ``values`` (at most one chunk of them)."""
    if connection.vendor == "postgresql":
        return _AnyOf(F(field), values)
    return Q(**{f"{field}__in": values})


def hash_chunks(items: list):
    size = _IN_CHUNK.get(connection.vendor, _IN_CHUNK_DEFAULT)
    for i in range(0, len(items), size):
        yield items[i : i + size]
