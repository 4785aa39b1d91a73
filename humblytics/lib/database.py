"""Start-up check of the database: a wrong ``DATABASE_URL`` stops a web worker at once with a clear message;
a database that is merely down (or still starting) does not, because the ingest spool keeps page views
until it is back."""

import logging
import re

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections

logger = logging.getLogger(__name__)

# What the server (or the resolver) says when the address itself is wrong; retrying cannot help.
_CONFIGURATION_ERRORS = re.compile(
    r"password authentication failed|authentication failed|no pg_hba\.conf entry|"
    r"(database|role) \"[^\"]*\" does not exist|failed to resolve host|could not translate host name|"
    r"Name or service not known|nodename nor servname|invalid (integer value|connection option|URI)",
    re.IGNORECASE,
)


def configuration_problem(exc: BaseException) -> str | None:
    """The reason when ``exc`` says the database address or credentials are wrong, else None."""
    for part in (exc, exc.__cause__):
        message = str(part or "").strip()
        if _CONFIGURATION_ERRORS.search(message):
            return message.splitlines()[0]
    return None


def check_database(alias: str = "default") -> bool:
    """Connect once. Raise ``ImproperlyConfigured`` for a configuration error; False (and a warning) when
    the database is only unreachable; True when it answers."""
    connection = connections[alias]
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        connection.close()
        problem = configuration_problem(exc)
        if problem is not None:
            raise ImproperlyConfigured(
                f"DATABASE_URL is wrong: {problem}. Fix DATABASE_URL (user, password, host, database name)."
            ) from None
        logger.warning("database unreachable at start-up (%s); starting anyway, views are spooled", exc)
        return False
    finally:
        # Workers are forked or spawned after this: each opens its own connection when it needs one.
        connection.close()
    return True
