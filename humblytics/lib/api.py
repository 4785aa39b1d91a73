"""REST API plumbing that knows no app: the error shape, and the JSON parser."""

import json

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with a 400 naming the problem where DRF's would fail with a 500: a body nested
    deeper than Python's parser goes (RecursionError), and a lone surrogate escape (``"\\ud800"``),
    which no database can store as text."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        except UnicodeEncodeError:
            raise ParseError("JSON parse error - a string has a lone surrogate (\\ud800-\\udfff)") from None
        return data


def api_exception_handler(exc, context):
    """Every error answers ``{"error": "<what is wrong>"}`` (plus the field errors for bodies)."""
    # Imported here: rest_framework.views imports this module (via settings) while it loads.
    from rest_framework.views import exception_handler

    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and "detail" in data:
        response.data = {"error": str(data["detail"])}
    elif isinstance(data, dict):
        parts = []
        for field, errors in data.items():
            text = "; ".join(str(e) for e in errors) if isinstance(errors, list) else str(errors)
            parts.append(f"{field}: {text}")
        response.data = {"error": " ".join(parts), "fields": data}
    elif isinstance(data, list):
        response.data = {"error": " ".join(str(item) for item in data)}
    return response
